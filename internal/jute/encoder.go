package jute

import "encoding/binary"

// Encoder appends jute's binary encoding to a byte slice, as ZooKeeper's
// BinaryOutputArchive writes it: int and long big-endian, boolean one byte
// (0 or 1), buffer and ustring an int32 length (−1 for null) then the bytes,
// vector an int32 count then the items. Encoding never fails.
//
// The zero Encoder is ready to use and starts from an empty slice.
type Encoder struct {
	buf []byte
}

// NewEncoder returns an Encoder that appends to dst.
func NewEncoder(dst []byte) *Encoder { return &Encoder{buf: dst} }

// Reset makes e append to dst from now on.
func (e *Encoder) Reset(dst []byte) { e.buf = dst }

// Bytes returns the slice e appended to: what it was given and everything
// encoded since.
func (e *Encoder) Bytes() []byte { return e.buf }

// Len returns len(e.Bytes()).
func (e *Encoder) Len() int { return len(e.buf) }

// Int32 appends jute's int.
func (e *Encoder) Int32(v int32) { e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(v)) }

// Int64 appends jute's long.
func (e *Encoder) Int64(v int64) { e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(v)) }

// Bool appends jute's boolean: 1 for true, 0 for false.
func (e *Encoder) Bool(v bool) {
	var b byte
	if v {
		b = 1
	}
	e.buf = append(e.buf, b)
}

// Buffer appends jute's buffer. A nil b is written as null (length −1), as
// Java writes a null byte array; a non-nil empty b as length 0.
func (e *Encoder) Buffer(b []byte) {
	if b == nil {
		e.Int32(-1)
		return
	}
	e.Int32(int32(len(b)))
	e.buf = append(e.buf, b...)
}

// UString appends jute's ustring: the length, then the bytes as they are
// (ZooKeeper's strings are UTF-8; e does not check). The empty string is
// written with length 0: a Go string is never null.
func (e *Encoder) UString(s string) {
	e.Int32(int32(len(s)))
	e.buf = append(e.buf, s...)
}

// VectorLen appends a vector's count; the caller then appends n items. No
// record of the client protocol gives a null vector a meaning of its own,
// so e never writes −1 for one.
func (e *Encoder) VectorLen(n int) { e.Int32(int32(n)) }

// StartPacket appends a placeholder for a packet's 4-byte length prefix and
// returns where it starts, for EndPacket.
func (e *Encoder) StartPacket() int {
	start := len(e.buf)
	e.buf = append(e.buf, 0, 0, 0, 0)
	return start
}

// EndPacket fills the length prefix StartPacket appended at start with the
// number of bytes appended after it.
func (e *Encoder) EndPacket(start int) {
	binary.BigEndian.PutUint32(e.buf[start:], uint32(len(e.buf)-start-4))
}

// encodeStrings appends a vector<ustring>.
func encodeStrings(e *Encoder, v []string) {
	e.VectorLen(len(v))
	for _, s := range v {
		e.UString(s)
	}
}
