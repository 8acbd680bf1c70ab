package stream

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/bits"
	"slices"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
)

// WriterOptions configures a Writer. The zero value writes 1 MiB chunks,
// compressed with zstd, in plaintext.
type WriterOptions struct {
	// ChunkSize is the uncompressed size at which the Writer cuts a chunk. A
	// compressing Writer holds about three chunks in memory, a Reader two. Zero means
	// DefaultChunkSize; at most MaxChunkSize.
	ChunkSize int
	// NoCompression turns zstd compression off. By default every chunk is
	// compressed, and stored as is when compression does not make it smaller.
	NoCompression bool
	// Key, when not empty, is the KeySize-byte host key. The stream is then
	// encrypted and authenticated with AES-256-GCM under a key derived from Key
	// and a random per-stream salt. Empty means plaintext.
	Key []byte
}

// Writer writes one stream. Records given to WriteRecord are packed into chunks,
// and each full chunk is written to the underlying io.Writer with one Write call.
// Close writes the final chunk, the footer and the trailer.
type Writer struct {
	w         io.Writer
	chunkSize int
	enc       *zstd.Encoder // nil when not compressing
	sealer    *sealer       // nil when not encrypting

	raw []byte // records not yet written
	out []byte // the chunk being written, reused

	seq     uint64
	n       atomic.Int64
	crc     uint32 // CRC32C of every byte written so far
	records uint64
	counts  [256]uint64
	scratch [12]byte // header CRC and chunk sequence number

	err    error // sticky: the first write error (the worker's, once it runs)
	closed bool

	// When compressing, a worker goroutine compresses, seals and writes each
	// full chunk while the caller packs the next one: the two cores a backup
	// has are both busy. The Writer owns the worker; Close and Abort stop it.
	// Chunks stay in order; at most two raw chunks exist at a time.
	jobs    chan chunkJob // nil when not pipelined
	free    chan []byte   // raw buffers the worker is done with
	done    chan struct{} // closed when the worker has stopped
	failed  atomic.Bool   // set by the worker after w.err is set
	running bool          // the worker is started and not yet stopped
}

// chunkJob is one chunk handed to the worker.
type chunkJob struct {
	flags uint8
	raw   []byte
}

var errWriterClosed = errors.New("keeper: stream writer closed")

// NewWriter writes the header of a new stream to w and returns a Writer for its
// records. It fails if an option is out of range or w fails.
func NewWriter(w io.Writer, h Header, o WriterOptions) (*Writer, error) {
	if o.ChunkSize < 0 || o.ChunkSize > MaxChunkSize {
		return nil, fmt.Errorf("keeper: WriterOptions.ChunkSize %d out of range [0, %d]", o.ChunkSize, MaxChunkSize)
	}
	if len(o.Key) != 0 && len(o.Key) != KeySize {
		return nil, fmt.Errorf("keeper: WriterOptions.Key is %d bytes; want %d", len(o.Key), KeySize)
	}
	if len(h.Extra) > MaxExtraSize {
		return nil, fmt.Errorf("keeper: Header.Extra is %d bytes; at most %d", len(h.Extra), MaxExtraSize)
	}
	sw := &Writer{w: w, chunkSize: o.ChunkSize}
	if sw.chunkSize == 0 {
		sw.chunkSize = DefaultChunkSize
	}

	var flags uint8
	if !o.NoCompression {
		flags |= headerFlagCompressed
	}
	if len(o.Key) != 0 {
		flags |= headerFlagEncrypted
	}
	hdr := make([]byte, headerFixedSize, headerFixedSize+len(h.Extra)+saltSize+keyCheckSize+crcSize)
	copy(hdr, magic)
	binary.LittleEndian.PutUint16(hdr[8:], Version)
	hdr[10] = flags
	hdr[11] = h.Kind
	binary.LittleEndian.PutUint64(hdr[12:], h.ClusterID)
	binary.LittleEndian.PutUint64(hdr[20:], h.Member)
	binary.LittleEndian.PutUint64(hdr[28:], h.Zxid)
	binary.LittleEndian.PutUint64(hdr[36:], uint64(h.Time))
	binary.LittleEndian.PutUint16(hdr[44:], uint16(len(h.Extra)))
	hdr = append(hdr, h.Extra...)
	var chunkKey []byte
	if len(o.Key) != 0 {
		salt := make([]byte, saltSize)
		rand.Read(salt) // never fails; see crypto/rand.Read
		var check []byte
		var err error
		chunkKey, check, err = deriveKeys(o.Key, salt)
		if err != nil {
			return nil, err
		}
		hdr = append(hdr, salt...)
		hdr = append(hdr, check...)
	}
	hdr = binary.LittleEndian.AppendUint32(hdr, crc32.Checksum(hdr, castagnoli))
	copy(sw.scratch[:4], hdr[len(hdr)-crcSize:])

	if chunkKey != nil {
		s, err := newSealer(chunkKey, hdr)
		if err != nil {
			return nil, err
		}
		sw.sealer = s
	}
	if !o.NoCompression {
		enc, err := zstd.NewWriter(nil,
			zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderCRC(false), // every chunk carries its own CRC32C
			zstd.WithWindowSize(windowFor(sw.chunkSize)),
		)
		if err != nil {
			return nil, fmt.Errorf("keeper: stream compressor: %w", err)
		}
		sw.enc = enc
	}
	if err := sw.write(hdr); err != nil {
		sw.release()
		return nil, err
	}
	if sw.enc != nil {
		sw.jobs = make(chan chunkJob)
		sw.free = make(chan []byte, 1)
		sw.free <- nil
		sw.done = make(chan struct{})
		sw.running = true
		go sw.work()
	}
	return sw, nil
}

// work writes the chunks handed to it, in order, until jobs is closed.
// After a failure it only hands buffers back.
func (w *Writer) work() {
	defer close(w.done)
	for j := range w.jobs {
		if !w.failed.Load() {
			if err := w.writeChunk(j.flags, j.raw); err != nil {
				w.failed.Store(true)
			}
		}
		w.free <- j.raw[:0]
	}
}

// flush writes w.raw as a chunk with flags (through the worker when there
// is one) and leaves w.raw empty.
func (w *Writer) flush(flags uint8) error {
	if !w.running {
		err := w.writeChunk(flags, w.raw)
		w.raw = w.raw[:0]
		return err
	}
	if w.failed.Load() {
		return w.err
	}
	w.jobs <- chunkJob{flags: flags, raw: w.raw}
	w.raw = <-w.free
	return nil
}

// stop ends the worker, waiting until it wrote what it was given, and
// reports its error.
func (w *Writer) stop() error {
	if !w.running {
		return w.err
	}
	w.running = false
	close(w.jobs)
	<-w.done
	return w.err
}

// windowFor returns the zstd window for chunks of size n: the power of two at or
// above n, within [zstd.MinWindowSize, 8 MiB]. A chunk is one zstd frame, so a
// larger window would only cost memory.
func windowFor(n int) int {
	w := 1 << bits.Len(uint(n-1))
	return min(max(w, zstd.MinWindowSize), 8<<20)
}

// WriteRecord appends a record of the given kind. The payload is copied; the
// caller may reuse it on return. A payload may be empty and at most
// MaxRecordSize bytes. Once the underlying io.Writer fails, WriteRecord returns
// that error, wrapped, on every call.
func (w *Writer) WriteRecord(kind uint8, payload []byte) error {
	if w.failed.Load() || (!w.running && w.err != nil) {
		return w.err
	}
	if w.closed {
		return errWriterClosed
	}
	if len(payload) > MaxRecordSize {
		return fmt.Errorf("keeper: stream record of %d bytes exceeds MaxRecordSize (%d)", len(payload), MaxRecordSize)
	}
	need := 1 + uvarintLen(uint64(len(payload))) + len(payload)
	if len(w.raw) > 0 && len(w.raw)+need > w.chunkSize {
		if err := w.flush(0); err != nil {
			return err
		}
	}
	w.raw = append(w.raw, kind)
	w.raw = binary.AppendUvarint(w.raw, uint64(len(payload)))
	w.raw = append(w.raw, payload...)
	w.records++
	w.counts[kind]++
	if len(w.raw) >= w.chunkSize {
		if err := w.flush(0); err != nil {
			return err
		}
	}
	return nil
}

// Close writes the pending records, the footer and the trailer. Records and
// Counts are computed by the Writer; those fields of f are ignored, and only
// f.Digest is written. Close does not close the underlying io.Writer. It
// returns the underlying io.Writer's error, wrapped, if any write failed.
func (w *Writer) Close(f Footer) error {
	if w.closed {
		if w.err != nil {
			return w.err
		}
		return errWriterClosed
	}
	w.closed = true
	defer w.release()
	if w.failed.Load() || (!w.running && w.err != nil) {
		w.stop()
		return w.err
	}
	if len(w.raw) > 0 {
		if err := w.flush(0); err != nil {
			w.stop()
			return err
		}
	}
	// The footer is written by this goroutine once the worker is done.
	if err := w.stop(); err != nil {
		return err
	}
	foot := binary.LittleEndian.AppendUint64(w.raw[:0], w.records)
	foot = binary.LittleEndian.AppendUint64(foot, f.Digest)
	foot = binary.LittleEndian.AppendUint16(foot, 0) // kinds present, filled below
	kinds := 0
	for k, c := range w.counts {
		if c != 0 {
			foot = append(foot, uint8(k))
			foot = binary.LittleEndian.AppendUint64(foot, c)
			kinds++
		}
	}
	binary.LittleEndian.PutUint16(foot[16:], uint16(kinds))
	w.raw = foot
	if err := w.writeChunk(chunkFlagLast, foot); err != nil {
		return err
	}
	var trailer [crcSize]byte
	binary.LittleEndian.PutUint32(trailer[:], w.crc)
	return w.write(trailer[:])
}

// Abort ends the Writer without writing the footer, so what was written is a
// truncated stream that every Reader refuses. It releases the compressor and
// is a no-op after Close or Abort.
func (w *Writer) Abort() {
	if w.closed {
		return
	}
	w.closed = true
	w.stop()
	w.release()
}

// Bytes returns the number of bytes written to the underlying io.Writer so far.
func (w *Writer) Bytes() int64 { return w.n.Load() }

// release frees the compressor. The zstd encoder runs no goroutines with
// concurrency 1, but Close is its documented end of life.
func (w *Writer) release() {
	if w.enc != nil {
		w.enc.Close()
		w.enc = nil
	}
}

// writeChunk encodes raw as chunk w.seq with the given flags and writes it.
func (w *Writer) writeChunk(flags uint8, raw []byte) error {
	out := slices.Grow(w.out[:0], chunkPrefixSize+len(raw)+len(raw)/64+64+tagSize+crcSize)
	out = out[:chunkPrefixSize]
	if w.enc != nil && flags&chunkFlagLast == 0 {
		out = w.enc.EncodeAll(raw, out)
		if len(out)-chunkPrefixSize < len(raw) {
			flags |= chunkFlagCompressed
		} else {
			out = append(out[:chunkPrefixSize], raw...)
		}
	} else {
		out = append(out, raw...)
	}
	binary.LittleEndian.PutUint32(out[4:], uint32(len(raw)))
	out[8] = flags
	if w.sealer != nil {
		out = slices.Grow(out, tagSize+crcSize)
		body := w.sealer.seal(w.seq, out[4:9], out[chunkPrefixSize:])
		out = out[:chunkPrefixSize+len(body)]
	}
	binary.LittleEndian.PutUint32(out[0:], uint32(len(out)-chunkPrefixSize))
	binary.LittleEndian.PutUint64(w.scratch[4:], w.seq)
	pcrc := crc32.Update(crc32.Checksum(w.scratch[:], castagnoli), castagnoli, out[:9])
	binary.LittleEndian.PutUint32(out[9:], pcrc)
	out = binary.LittleEndian.AppendUint32(out, crc32.Update(pcrc, castagnoli, out[chunkPrefixSize:]))
	w.out = out
	w.seq++
	return w.write(out)
}

// write writes p to the underlying io.Writer, keeping the byte count and the
// whole-stream CRC; the first failure sticks.
func (w *Writer) write(p []byte) error {
	n, err := w.w.Write(p)
	if n > 0 {
		w.n.Add(int64(n))
		w.crc = crc32.Update(w.crc, castagnoli, p[:n])
	}
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = fmt.Errorf("keeper: writing stream: %w", err)
		return w.err
	}
	return nil
}

func uvarintLen(x uint64) int {
	return (bits.Len64(x|1) + 6) / 7
}
