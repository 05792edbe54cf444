package httpcache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// ErrCorrupt is returned by ParseEntry for bytes that are not an entry
// written by Entry.MarshalBinary.
var ErrCorrupt = errors.New("httpcache: corrupt entry")

// entryMagic starts every serialized entry; the last byte is the format
// version.
const entryMagic = "shc\x01"

// MarshalBinary serializes e for a Store: status, protocol, times,
// header, trailer, body and, for a Vary marker, the names it varies on.
// ParseEntry reverses it. It never fails.
func (e *Entry) MarshalBinary() ([]byte, error) {
	n := len(entryMagic) + 64 + len(e.statusText) + len(e.proto) + len(e.body) + int(headerSize(e.header)+headerSize(e.trailer))
	for _, m := range e.marker {
		n += len(m) + 2
	}
	b := make([]byte, 0, n)
	b = append(b, entryMagic...)
	b = binary.AppendUvarint(b, uint64(e.status))
	b = appendString(b, e.statusText)
	b = appendString(b, e.proto)
	b = binary.AppendUvarint(b, uint64(e.protoMajor))
	b = binary.AppendUvarint(b, uint64(e.protoMinor))
	b = binary.AppendVarint(b, e.stored.UnixNano())
	b = binary.AppendVarint(b, e.expires.UnixNano())
	b = binary.AppendVarint(b, int64(e.initialAge))
	b = appendHeader(b, e.header)
	b = appendHeader(b, e.trailer)
	if e.marker == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.AppendUvarint(b, uint64(len(e.marker)))
		for _, m := range e.marker {
			b = appendString(b, m)
		}
	}
	b = appendString(b, string(e.body)) // the compiler does not copy here
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendHeader(b []byte, h http.Header) []byte {
	if h == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.AppendUvarint(b, uint64(len(h)))
	for k, vs := range h {
		b = appendString(b, k)
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = appendString(b, v)
		}
	}
	return b
}

// ParseEntry returns the entry serialized in b by Entry.MarshalBinary. It
// reports an error matching ErrCorrupt for anything else, and never
// panics. The entry does not share memory with b.
func ParseEntry(b []byte) (*Entry, error) {
	d := decoder{b: b}
	if len(b) < len(entryMagic) || string(b[:len(entryMagic)]) != entryMagic {
		return nil, fmt.Errorf("%w: unknown format", ErrCorrupt)
	}
	d.b = b[len(entryMagic):]
	e := &Entry{}
	e.status = int(d.uint(999))
	e.statusText = d.string()
	e.proto = d.string()
	e.protoMajor = int(d.uint(99))
	e.protoMinor = int(d.uint(99))
	e.stored = time.Unix(0, d.int())
	e.expires = time.Unix(0, d.int())
	e.initialAge = time.Duration(d.int())
	e.header = d.header()
	e.trailer = d.header()
	switch d.byte() {
	case 0:
	case 1:
		n := d.count()
		e.marker = make([]string, 0, n)
		for range n {
			e.marker = append(e.marker, d.string())
		}
	default:
		d.fail("bad marker flag")
	}
	if body := d.string(); body != "" {
		e.body = []byte(body)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, d.err
	}
	if e.header == nil {
		e.header = http.Header{}
	}
	e.size = entryOverhead + int64(len(e.body)) + headerSize(e.header) + headerSize(e.trailer)
	e.setFlags()
	return e, nil
}

// decoder reads what MarshalBinary wrote; after the first error every
// read returns a zero value.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// count reads a length or a number of items: at most the bytes left,
// since each takes at least one.
func (d *decoder) count() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > uint64(len(d.b)-n) {
		d.fail("bad length")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// uint reads an unsigned varint no larger than limit.
func (d *decoder) uint(limit uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > limit {
		d.fail("bad number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.count()
	if d.err != nil {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) header() http.Header {
	switch d.byte() {
	case 0:
		return nil
	case 1:
	default:
		d.fail("bad header flag")
		return nil
	}
	n := d.count()
	h := make(http.Header, min(n, 64))
	for range n {
		k := d.string()
		m := d.count()
		vs := make([]string, 0, min(m, 64))
		for range m {
			vs = append(vs, d.string())
		}
		if d.err != nil {
			return nil
		}
		h[k] = vs
	}
	return h
}
