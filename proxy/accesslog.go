package proxy

import (
	"io"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// accessLine writes access-log records as JSON lines straight to a writer,
// in the layout slog's JSONHandler gives them ({"time":…,"level":…,
// "msg":"request",…}), without slog's per-record
// and per-attribute work: the access log is one record per request, the
// proxy's largest cost after the network. The keys are the proxy's own
// and the values are already redacted.
type accessLine struct {
	w io.Writer // safe for concurrent use: one Write per record
}

// lineBufs recycles the lines' buffers.
var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// write writes one record for e, which took d and ended at end.
func (a accessLine) write(end time.Time, e *entry, method, url string, d time.Duration) {
	bp := lineBufs.Get().(*[]byte)
	b := (*bp)[:0]
	b = append(b, `{"time":"`...)
	b = end.AppendFormat(b, time.RFC3339Nano)
	if e.reason != "" {
		b = append(b, `","level":"WARN","msg":"request","mode":`...)
	} else {
		b = append(b, `","level":"INFO","msg":"request","mode":`...)
	}
	b = appendJSONString(b, e.mode)
	b = append(b, `,"consumer":`...)
	b = appendJSONString(b, e.consumer)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, method)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(d.Microseconds())/1000, 'f', -1, 64)
	if e.upstream != "" {
		b = append(b, `,"upstream":`...)
		b = appendJSONString(b, e.upstream)
	}
	if url != "" {
		b = append(b, `,"url":`...)
		b = appendJSONString(b, url)
	}
	if e.reason != "" {
		b = append(b, `,"reason":`...)
		b = appendJSONString(b, e.reason)
	}
	if e.bytes > 0 {
		b = append(b, `,"bytes":`...)
		b = strconv.AppendInt(b, e.bytes, 10)
	}
	b = append(b, "}\n"...)
	_, _ = a.w.Write(b)
	*bp = b
	if cap(b) <= 64<<10 {
		lineBufs.Put(bp)
	}
}

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, '<', '>' and '&' too (as encoding/json and
// slog do), invalid UTF-8 replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			if r == utf8.RuneError {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
