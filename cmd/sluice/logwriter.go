package main

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// logWriter batches the proxy's log lines: they reach the underlying
// writer when 32 KiB are pending or every interval, whichever comes first,
// instead of one write system call per request (what nginx's
// `access_log ... buffer=` does). Close writes what is left. It is safe for
// concurrent use; each Write is one whole slog record, kept contiguous.
type logWriter struct {
	mu   sync.Mutex
	w    *bufio.Writer // guarded by mu
	stop chan struct{}
	done chan struct{}
}

// newLogWriter starts the flushing goroutine; Close stops it.
func newLogWriter(w io.Writer, every time.Duration) *logWriter {
	l := &logWriter{w: bufio.NewWriterSize(w, 32<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go l.loop(every)
	return l
}

// Write implements io.Writer.
func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Flush writes the pending lines now.
func (l *logWriter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Flush()
}

func (l *logWriter) loop(every time.Duration) {
	defer close(l.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = l.Flush()
		case <-l.stop:
			_ = l.Flush()
			return
		}
	}
}

// Close stops the flushing goroutine and writes what is pending.
func (l *logWriter) Close() error {
	close(l.stop)
	<-l.done
	return nil
}
