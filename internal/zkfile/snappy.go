package zkfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"

	"github.com/klauspost/compress/snappy"
)

// snappy-java's stream format, which ZooKeeper's SnapStream writes for
// zookeeper.snapshot.compression.method=snappy: a 16-byte header (the magic
// 0x82 "SNAPPY" 0x00, then version and lowest compatible version, int32
// each), then blocks, each an int32 length and that many bytes of one snappy
// block. A second header may follow a block (streams concatenated).
var snappyMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const (
	snappyHeaderSize = 16
	// snappyBlockSize is the uncompressed size of the blocks the writer cuts,
	// snappy-java's default.
	snappyBlockSize = 32 << 10
	// snappyMaxBlock bounds a block's stored and decoded length.
	snappyMaxBlock = 64 << 20
)

// snappyReader decompresses a snappy-java stream.
type snappyReader struct {
	r       io.Reader
	started bool
	block   []byte // compressed block, reused
	out     []byte // decoded block
	pos     int    // read position in out
	err     error
}

func newSnappyReader(r io.Reader) *snappyReader { return &snappyReader{r: r} }

func (s *snappyReader) Read(p []byte) (int, error) {
	for s.pos == len(s.out) {
		if s.err != nil {
			return 0, s.err
		}
		s.err = s.next()
	}
	n := copy(p, s.out[s.pos:])
	s.pos += n
	return n, nil
}

// header reads the rest of a header whose first four bytes are first.
func (s *snappyReader) header(first []byte) error {
	var h [snappyHeaderSize]byte
	copy(h[:], first)
	if _, err := io.ReadFull(s.r, h[len(first):]); err != nil {
		return corruptf("snappy header cut short")
	}
	if !bytes.Equal(h[:8], snappyMagic) {
		return corruptf("not a snappy-java stream")
	}
	if v := int32(binary.BigEndian.Uint32(h[8:12])); v < 1 {
		return unsupportedf("snappy-java stream version %d", v)
	}
	return nil
}

// next decodes the next block into out; io.EOF at the end of the stream.
func (s *snappyReader) next() error {
	s.out, s.pos = s.out[:0], 0
	if !s.started {
		s.started = true
		if err := s.header(nil); err != nil {
			return err
		}
	}
	var l [4]byte
	n, err := io.ReadFull(s.r, l[:])
	if n == 0 && errors.Is(err, io.EOF) {
		return io.EOF
	}
	if err != nil {
		return corruptf("snappy block length cut short")
	}
	if bytes.Equal(l[:], snappyMagic[:4]) {
		if err := s.header(l[:]); err != nil {
			return err
		}
		return nil
	}
	size := int(int32(binary.BigEndian.Uint32(l[:])))
	if size <= 0 || size > snappyMaxBlock {
		return corruptf("snappy block length %d out of range", size)
	}
	j := juteReader{r: s.r}
	s.block = j.bytes(s.block[:0], size)
	if j.err != nil {
		return corruptf("snappy block cut short")
	}
	dl, err := snappy.DecodedLen(s.block)
	if err != nil || dl > snappyMaxBlock {
		return corruptf("snappy block: bad length")
	}
	if cap(s.out) < dl {
		s.out = make([]byte, dl)
	}
	s.out, err = snappy.DecodeStrict(s.out[:dl], s.block)
	if err != nil {
		return corruptf("snappy block: %v", err)
	}
	return nil
}

// snappyWriter compresses into a snappy-java stream. Close writes the last
// block; it does not close the underlying writer.
type snappyWriter struct {
	w   io.Writer
	buf []byte
	enc []byte
	err error
}

func newSnappyWriter(w io.Writer) *snappyWriter {
	s := &snappyWriter{w: w, buf: make([]byte, 0, snappyBlockSize)}
	h := append([]byte{}, snappyMagic...)
	h = binary.BigEndian.AppendUint32(h, 1)
	h = binary.BigEndian.AppendUint32(h, 1)
	_, s.err = w.Write(h)
	return s
}

func (s *snappyWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && s.err == nil {
		k := copy(s.buf[len(s.buf):cap(s.buf)], p)
		s.buf = s.buf[:len(s.buf)+k]
		p = p[k:]
		if len(s.buf) == cap(s.buf) {
			s.flush()
		}
	}
	if s.err != nil {
		return 0, s.err
	}
	return n, nil
}

func (s *snappyWriter) flush() {
	if len(s.buf) == 0 || s.err != nil {
		return
	}
	s.enc = snappy.Encode(s.enc[:cap(s.enc)], s.buf)
	var l [4]byte
	binary.BigEndian.PutUint32(l[:], uint32(len(s.enc)))
	if _, s.err = s.w.Write(l[:]); s.err == nil {
		_, s.err = s.w.Write(s.enc)
	}
	s.buf = s.buf[:0]
}

// Close writes what is buffered.
func (s *snappyWriter) Close() error {
	s.flush()
	return s.err
}
