package stream

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/zstd"
)

// ReaderOptions configures a Reader.
type ReaderOptions struct {
	// Key is the KeySize-byte host key the stream was written with, or empty for
	// a plaintext stream. An encrypted stream read without the right key fails
	// with ErrWrongKey; a plaintext stream read with a key fails with
	// ErrNotEncrypted.
	Key []byte
}

// Reader reads one stream. NewReader reads and checks the header; Next returns
// the records in order and io.EOF once the footer and the trailer check out.
// A Reader reads exactly the stream's bytes from the underlying io.Reader and
// never past its end.
type Reader struct {
	src    io.Reader
	h      Header
	f      Footer
	dec    *zstd.Decoder // nil for an uncompressed stream
	sealer *sealer       // nil for a plaintext stream

	stored []byte // the chunk body as read, reused
	raw    []byte // the decompressed chunk, reused
	cur    []byte // records of the current chunk
	pos    int    // next record in cur

	seq     uint64
	n       int64
	crc     uint32 // CRC32C of every byte read so far
	records uint64
	counts  [256]uint64
	pre     [chunkPrefixSize]byte
	scratch [12]byte // header CRC and chunk sequence number

	err error // sticky: io.EOF after a verified end, or the first failure
}

var errReaderClosed = errors.New("keeper: stream reader closed")

// NewReader reads and checks the header of the stream in r.
func NewReader(r io.Reader, o ReaderOptions) (*Reader, error) {
	if len(o.Key) != 0 && len(o.Key) != KeySize {
		return nil, fmt.Errorf("keeper: ReaderOptions.Key is %d bytes; want %d", len(o.Key), KeySize)
	}
	sr := &Reader{src: r}
	hdr := make([]byte, headerFixedSize, headerFixedSize+saltSize+keyCheckSize+crcSize)
	n, err := io.ReadFull(r, hdr[:len(magic)])
	sr.account(hdr[:n])
	switch {
	case string(hdr[:n]) != magic[:n]:
		return nil, fmt.Errorf("%w: bad magic", ErrNotStream)
	case n == 0 && err != nil && err != io.EOF:
		// The source failed before giving a byte: its error, not the
		// stream's.
		return nil, fmt.Errorf("keeper: read stream header: %w", err)
	case n == 0:
		return nil, fmt.Errorf("%w: empty input", ErrNotStream)
	case err != nil:
		return nil, sr.readErr(err, "header")
	}
	if err := sr.readFull(hdr[len(magic):], "header"); err != nil {
		return nil, err
	}
	if v := binary.LittleEndian.Uint16(hdr[8:]); v > Version {
		return nil, fmt.Errorf("%w: format version %d, this reader knows up to %d", ErrVersion, v, Version)
	} else if v == 0 {
		return nil, fmt.Errorf("%w: format version 0", ErrCorrupt)
	}
	flags := hdr[10]
	extraLen := int(binary.LittleEndian.Uint16(hdr[44:]))
	tail := extraLen + crcSize
	if flags&headerFlagEncrypted != 0 {
		tail += saltSize + keyCheckSize
	}
	hdr = append(hdr, make([]byte, tail)...)
	if err := sr.readFull(hdr[headerFixedSize:], "header"); err != nil {
		return nil, err
	}
	body := hdr[:len(hdr)-crcSize]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(hdr[len(body):]) {
		return nil, fmt.Errorf("%w: header checksum mismatch", ErrCorrupt)
	}
	copy(sr.scratch[:4], hdr[len(body):])
	if flags&^headerFlagsKnown != 0 {
		return nil, fmt.Errorf("%w: unknown header flags %#x", ErrVersion, flags&^headerFlagsKnown)
	}
	sr.h = Header{
		Kind:      hdr[11],
		ClusterID: binary.LittleEndian.Uint64(hdr[12:]),
		Member:    binary.LittleEndian.Uint64(hdr[20:]),
		Zxid:      binary.LittleEndian.Uint64(hdr[28:]),
		Time:      int64(binary.LittleEndian.Uint64(hdr[36:])),
	}
	if extraLen > 0 {
		sr.h.Extra = bytes.Clone(hdr[headerFixedSize : headerFixedSize+extraLen])
	}

	encrypted := flags&headerFlagEncrypted != 0
	switch {
	case encrypted && len(o.Key) == 0:
		return nil, fmt.Errorf("%w: the stream is encrypted and no key was given", ErrWrongKey)
	case !encrypted && len(o.Key) != 0:
		return nil, ErrNotEncrypted
	case encrypted:
		salt := hdr[headerFixedSize+extraLen:][:saltSize]
		stored := hdr[headerFixedSize+extraLen+saltSize:][:keyCheckSize]
		chunkKey, check, err := deriveKeys(o.Key, salt)
		if err != nil {
			return nil, err
		}
		if !checkKeyMatches(check, stored) {
			return nil, ErrWrongKey
		}
		if sr.sealer, err = newSealer(chunkKey, hdr); err != nil {
			return nil, err
		}
	}
	if flags&headerFlagCompressed != 0 {
		dec, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxMemory(maxRawChunk),
			zstd.WithDecoderMaxWindow(maxRawChunk),
			zstd.WithDecodeAllCapLimit(true),
		)
		if err != nil {
			return nil, fmt.Errorf("keeper: stream decompressor: %w", err)
		}
		sr.dec = dec
	}
	return sr, nil
}

// Header returns the stream's header.
func (r *Reader) Header() Header { return r.h }

// Footer returns the stream's footer. It is valid once Next has returned io.EOF.
func (r *Reader) Footer() Footer { return r.f }

// Bytes returns the number of bytes read from the underlying io.Reader so far.
func (r *Reader) Bytes() int64 { return r.n }

// Close releases the Reader's decompressor. It does not close the underlying
// io.Reader. Next returns an error after Close unless it had already returned
// io.EOF or another error. Close is safe to call more than once.
func (r *Reader) Close() error {
	r.release()
	if r.err == nil {
		r.err = errReaderClosed
	}
	return nil
}

func (r *Reader) release() {
	if r.dec != nil {
		r.dec.Close()
		r.dec = nil
	}
}

// Next returns the next record. The payload is valid until the next call to
// Next and must not be modified. Record kinds are not interpreted: a kind this
// version of keeper does not know is returned like any other. Next returns
// io.EOF only after the footer's counts and the whole-stream checksum have been
// verified; any other error means the stream must not be trusted, and it is
// returned again by every later call.
func (r *Reader) Next() (kind uint8, payload []byte, err error) {
	for r.pos >= len(r.cur) {
		if r.err != nil {
			return 0, nil, r.err
		}
		if err := r.readChunk(); err != nil {
			r.err = err
			r.cur, r.pos = nil, 0
			r.release()
			return 0, nil, err
		}
	}
	rest := r.cur[r.pos:]
	kind = rest[0]
	size, k := binary.Uvarint(rest[1:])
	if k <= 0 || size > uint64(len(rest)-1-k) {
		r.err = fmt.Errorf("%w: chunk %d: bad record length", ErrCorrupt, r.seq-1)
		r.cur, r.pos = nil, 0
		r.release()
		return 0, nil, r.err
	}
	start := 1 + k
	payload = rest[start : start+int(size) : start+int(size)]
	r.pos += start + int(size)
	r.records++
	r.counts[kind]++
	return kind, payload, nil
}

// readChunk reads chunk r.seq and makes its records current, or, for the last
// chunk, checks the footer and the trailer and returns io.EOF.
func (r *Reader) readChunk() error {
	seq := r.seq
	if err := r.readFull(r.pre[:], "chunk"); err != nil {
		return err
	}
	binary.LittleEndian.PutUint64(r.scratch[4:], seq)
	pcrc := crc32.Update(crc32.Checksum(r.scratch[:], castagnoli), castagnoli, r.pre[:9])
	if pcrc != binary.LittleEndian.Uint32(r.pre[9:]) {
		return fmt.Errorf("%w: chunk %d: prefix checksum mismatch (chunk missing, reordered or damaged)", ErrCorrupt, seq)
	}
	storedLen := int64(binary.LittleEndian.Uint32(r.pre[0:]))
	rawLen := int64(binary.LittleEndian.Uint32(r.pre[4:]))
	flags := r.pre[8]
	overhead := int64(0)
	if r.sealer != nil {
		overhead = tagSize
	}
	last := flags&chunkFlagLast != 0
	compressed := flags&chunkFlagCompressed != 0
	switch {
	case flags&^chunkFlagsKnown != 0:
		return fmt.Errorf("%w: chunk %d: unknown flags %#x", ErrCorrupt, seq, flags)
	case compressed && (r.dec == nil || last):
		return fmt.Errorf("%w: chunk %d: unexpected compression flag", ErrCorrupt, seq)
	case last && (rawLen < footerFixedSize || rawLen > maxFooterSize):
		return fmt.Errorf("%w: footer of %d bytes", ErrCorrupt, rawLen)
	case !last && (rawLen == 0 || rawLen > maxRawChunk):
		return fmt.Errorf("%w: chunk %d: content of %d bytes", ErrCorrupt, seq, rawLen)
	case !compressed && storedLen != rawLen+overhead,
		compressed && (storedLen <= overhead || storedLen >= rawLen+overhead):
		return fmt.Errorf("%w: chunk %d: stored length %d does not fit content length %d", ErrCorrupt, seq, storedLen, rawLen)
	}
	var err error
	if r.stored, err = r.readGrow(r.stored, int(storedLen)+crcSize); err != nil {
		return err
	}
	body := r.stored[:storedLen]
	if crc32.Update(pcrc, castagnoli, body) != binary.LittleEndian.Uint32(r.stored[storedLen:]) {
		return fmt.Errorf("%w: chunk %d: checksum mismatch", ErrCorrupt, seq)
	}
	if r.sealer != nil {
		if body, err = r.sealer.open(seq, r.pre[4:9], body); err != nil {
			return fmt.Errorf("%w: chunk %d: authentication failed", ErrCorrupt, seq)
		}
	}
	if compressed {
		if int64(cap(r.raw)) < rawLen {
			r.raw = make([]byte, 0, rawLen)
		}
		out, err := r.dec.DecodeAll(body, r.raw[:0:rawLen])
		if err != nil {
			return fmt.Errorf("%w: chunk %d: %w", ErrCorrupt, seq, err)
		}
		if int64(len(out)) != rawLen {
			return fmt.Errorf("%w: chunk %d: decompressed to %d bytes, want %d", ErrCorrupt, seq, len(out), rawLen)
		}
		body = out
	}
	r.seq++
	if !last {
		r.cur, r.pos = body, 0
		return nil
	}
	if err := r.checkFooter(body); err != nil {
		return err
	}
	want := r.crc
	var trailer [crcSize]byte
	if err := r.readFull(trailer[:], "trailer"); err != nil {
		return err
	}
	if binary.LittleEndian.Uint32(trailer[:]) != want {
		return fmt.Errorf("%w: whole-stream checksum mismatch", ErrCorrupt)
	}
	return io.EOF
}

// checkFooter decodes the footer and checks it against the records read.
func (r *Reader) checkFooter(b []byte) error {
	f := Footer{
		Records: binary.LittleEndian.Uint64(b[0:]),
		Digest:  binary.LittleEndian.Uint64(b[8:]),
	}
	kinds := int(binary.LittleEndian.Uint16(b[16:]))
	if len(b) != footerFixedSize+kinds*9 {
		return fmt.Errorf("%w: footer length %d does not fit %d kinds", ErrCorrupt, len(b), kinds)
	}
	if f.Records != r.records {
		return fmt.Errorf("%w: footer says %d records, stream holds %d", ErrCorrupt, f.Records, r.records)
	}
	f.Counts = make([]KindCount, 0, kinds)
	var sum uint64
	for i, p := 0, b[footerFixedSize:]; i < kinds; i, p = i+1, p[9:] {
		c := KindCount{Kind: p[0], Records: binary.LittleEndian.Uint64(p[1:])}
		if i > 0 && c.Kind <= f.Counts[i-1].Kind {
			return fmt.Errorf("%w: footer kinds out of order", ErrCorrupt)
		}
		if c.Records != r.counts[c.Kind] {
			return fmt.Errorf("%w: footer says %d records of kind %d, stream holds %d", ErrCorrupt, c.Records, c.Kind, r.counts[c.Kind])
		}
		sum += c.Records
		f.Counts = append(f.Counts, c)
	}
	if sum != r.records {
		return fmt.Errorf("%w: footer kind counts do not add up", ErrCorrupt)
	}
	r.f = f
	return nil
}

// account adds bytes read to the byte count and the whole-stream CRC.
func (r *Reader) account(p []byte) {
	r.n += int64(len(p))
	r.crc = crc32.Update(r.crc, castagnoli, p)
}

// readFull fills p from the stream; what names the part being read.
func (r *Reader) readFull(p []byte, what string) error {
	n, err := io.ReadFull(r.src, p)
	r.account(p[:n])
	if err != nil {
		return r.readErr(err, what)
	}
	return nil
}

// readGrow reads n bytes into buf, reallocated if too small. It grows the
// buffer as bytes arrive, so a damaged length on a short stream costs memory in
// proportion to the bytes actually there, not to the length claimed.
func (r *Reader) readGrow(buf []byte, n int) ([]byte, error) {
	if cap(buf) >= n {
		buf = buf[:n]
		return buf, r.readFull(buf, "chunk")
	}
	const step = 1 << 20
	buf = buf[:0]
	for len(buf) < n {
		next := min(n, max(2*len(buf), len(buf)+step))
		if cap(buf) < next {
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			buf = grown
		}
		have := len(buf)
		buf = buf[:next]
		if err := r.readFull(buf[have:], "chunk"); err != nil {
			return buf, err
		}
	}
	return buf, nil
}

func (r *Reader) readErr(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: ends in the %s at byte %d", ErrTruncated, what, r.n)
	}
	return fmt.Errorf("keeper: reading stream: %w", err)
}

// Verify reads the whole stream in r and checks every checksum, the footer's
// counts and, for an encrypted stream, every chunk's authentication tag. It
// returns the header and footer of a sound stream. ctx is checked between
// chunks.
func Verify(ctx context.Context, r io.Reader, o ReaderOptions) (Header, Footer, error) {
	sr, err := NewReader(r, o)
	if err != nil {
		return Header{}, Footer{}, err
	}
	defer sr.Close()
	checked := ^uint64(0)
	for {
		if sr.seq != checked {
			if err := ctx.Err(); err != nil {
				return sr.h, Footer{}, err
			}
			checked = sr.seq
		}
		_, _, err := sr.Next()
		if err == io.EOF {
			return sr.h, sr.f, nil
		}
		if err != nil {
			return sr.h, Footer{}, err
		}
	}
}
