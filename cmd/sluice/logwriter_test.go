package main

import (
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// lockedBuilder is a strings.Builder safe for the flusher's goroutine.
type lockedBuilder struct {
	mu     sync.Mutex
	b      strings.Builder
	writes int
}

func (w *lockedBuilder) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	return w.b.Write(p)
}

func (w *lockedBuilder) String() (string, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String(), w.writes
}

func TestLogWriterBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out lockedBuilder
		lw := newLogWriter(&out, 100*time.Millisecond)
		for range 3 {
			lw.Write([]byte(`{"msg":"request"}` + "\n"))
		}
		if s, _ := out.String(); s != "" {
			t.Fatalf("written before the interval: %q", s)
		}
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		s, writes := out.String()
		if strings.Count(s, "\n") != 3 || writes != 1 {
			t.Fatalf("after one interval: %d lines in %d writes, want 3 in 1:\n%s", strings.Count(s, "\n"), writes, s)
		}
		lw.Write([]byte("last\n"))
		lw.Close()
		if s, _ := out.String(); !strings.HasSuffix(s, "last\n") {
			t.Fatalf("Close did not write the pending line: %q", s)
		}
	})
}

func TestLogWriterLargeLineWhole(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out lockedBuilder
		lw := newLogWriter(&out, time.Hour)
		line := strings.Repeat("x", 40<<10) + "\n" // larger than the buffer
		lw.Write([]byte("a\n"))
		lw.Write([]byte(line))
		lw.Close()
		if s, _ := out.String(); s != "a\n"+line {
			t.Fatalf("got %d bytes, want %d in order", len(s), len(line)+2)
		}
	})
}
