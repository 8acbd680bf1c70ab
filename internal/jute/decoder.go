package jute

import (
	"encoding/binary"
	"fmt"
)

// Decoder reads jute's binary encoding from the bytes of one packet, as
// ZooKeeper's BinaryInputArchive reads it. The first error sticks: every
// later read returns a zero value and Err keeps returning that error, so a
// record is read whole and the caller checks once.
//
// Every error matches ErrMalformed. Lengths are checked against the bytes
// left before anything is allocated, so a declared length costs memory only
// for bytes really present. Where ZooKeeper reads leniently the Decoder does
// too: a boolean byte other than 0 reads as true (DataInput.readBoolean),
// and bytes after a record are left for the caller (End refuses them).
//
// Buffers and strings are copied out of the packet: a decoded record stays
// valid after the packet's buffer is reused. The zero Decoder reads an empty
// packet; Reset gives it another.
type Decoder struct {
	b   []byte
	off int
	err error
}

// NewDecoder returns a Decoder over b.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// Reset makes d read b from its start, with no error.
func (d *Decoder) Reset(b []byte) { *d = Decoder{b: b} }

// Err returns the first error met, or nil.
func (d *Decoder) Err() error { return d.err }

// Offset returns how many bytes d has consumed.
func (d *Decoder) Offset() int { return d.off }

// Remaining returns how many bytes are left unread.
func (d *Decoder) Remaining() int { return len(d.b) - d.off }

// End returns Err, or, when bytes are left unread, an error matching
// ErrMalformed (which then sticks): for callers that require a record to end
// the packet. ZooKeeper itself ignores bytes after a request record.
func (d *Decoder) End() error {
	if d.err == nil && d.Remaining() > 0 {
		d.Failf("%d bytes after the record", d.Remaining())
	}
	return d.err
}

// Failf records an error matching ErrMalformed, with the offset and the
// formatted detail, unless an error is already recorded. Records use it for
// values the encoding allows but the record does not.
func (d *Decoder) Failf(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: at offset %d: %s", ErrMalformed, d.off, fmt.Sprintf(format, args...))
	}
}

// take consumes n bytes, or records an error and returns nil.
func (d *Decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n > d.Remaining() {
		d.Failf("%s needs %d bytes, %d left", what, n, d.Remaining())
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

// Int32 reads jute's int.
func (d *Decoder) Int32() int32 {
	p := d.take(4, "int")
	if p == nil {
		return 0
	}
	return int32(binary.BigEndian.Uint32(p))
}

// Int64 reads jute's long.
func (d *Decoder) Int64() int64 {
	p := d.take(8, "long")
	if p == nil {
		return 0
	}
	return int64(binary.BigEndian.Uint64(p))
}

// Bool reads jute's boolean: any byte but 0 is true, as Java's
// DataInput.readBoolean reads it.
func (d *Decoder) Bool() bool {
	p := d.take(1, "boolean")
	return p != nil && p[0] != 0
}

// length reads a buffer or string length: −1 (null) reports null; another
// negative length, or one past the bytes left, is an error.
func (d *Decoder) length(what string) (n int, null bool) {
	v := d.Int32()
	switch {
	case d.err != nil:
		return 0, false
	case v == -1:
		return 0, true
	case v < 0:
		d.Failf("%s length %d", what, v)
		return 0, false
	case int(v) > d.Remaining():
		d.Failf("%s length %d, %d bytes left", what, v, d.Remaining())
		return 0, false
	}
	return int(v), false
}

// Buffer reads jute's buffer into a new slice: nil for null (−1), a non-nil
// empty slice for length 0.
func (d *Decoder) Buffer() []byte {
	n, null := d.length("buffer")
	if null || d.err != nil {
		return nil
	}
	b := make([]byte, n)
	copy(b, d.take(n, "buffer"))
	return b
}

// UString reads jute's ustring. Null reads as the empty string; the bytes
// are kept as they are, valid UTF-8 or not.
func (d *Decoder) UString() string {
	n, null := d.length("ustring")
	if null || d.err != nil {
		return ""
	}
	return string(d.take(n, "ustring"))
}

// VectorLen reads a vector's count, for items of at least minItem bytes
// each. Null (−1) and empty both return 0. A count below −1, or one whose
// items could not fit in the bytes left, is an error: nothing is allocated
// for items that are not there. ZooKeeper reads a count below −1 as an empty
// vector; no client writes one, and d refuses it.
func (d *Decoder) VectorLen(minItem int) int {
	v := d.Int32()
	switch {
	case d.err != nil || v == -1:
		return 0
	case v < 0:
		d.Failf("vector count %d", v)
		return 0
	case int64(v)*int64(max(minItem, 1)) > int64(d.Remaining()):
		d.Failf("vector count %d of items of %d bytes or more, %d bytes left", v, minItem, d.Remaining())
		return 0
	}
	return int(v)
}

// decodeVector reads a vector whose items take at least minItem bytes each
// with item; null and empty read as nil.
func decodeVector[T any](d *Decoder, minItem int, item func(*Decoder) T) []T {
	n := d.VectorLen(minItem)
	if n == 0 {
		return nil
	}
	v := make([]T, n)
	for i := range v {
		v[i] = item(d)
	}
	if d.err != nil {
		return nil
	}
	return v
}

// decodeStrings reads a vector<ustring>.
func decodeStrings(d *Decoder) []string {
	return decodeVector(d, 4, (*Decoder).UString)
}
