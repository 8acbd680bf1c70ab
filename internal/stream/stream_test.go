package stream

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// testKey is the host key of the encrypted test streams and fuzz seeds.
var testKey = func() []byte {
	k := make([]byte, KeySize)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}()

type config struct {
	name string
	opts WriterOptions
}

func configs(chunk int) []config {
	return []config{
		{"plain", WriterOptions{ChunkSize: chunk, NoCompression: true}},
		{"zstd", WriterOptions{ChunkSize: chunk}},
		{"aes", WriterOptions{ChunkSize: chunk, NoCompression: true, Key: testKey}},
		{"zstd+aes", WriterOptions{ChunkSize: chunk, Key: testKey}},
	}
}

func readerOpts(o WriterOptions) ReaderOptions { return ReaderOptions{Key: o.Key} }

type record struct {
	kind    uint8
	payload []byte
}

var testHeader = Header{ClusterID: 0xC1, Member: 3, Zxid: 12345, Time: 1_700_000_000_000, Kind: KindBackup, Extra: []byte("opts")}

// payload returns n bytes that compress somewhat, like znode data.
func payload(rng *rand.Rand, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		if i%4 == 0 {
			p[i] = byte(rng.IntN(256))
		} else {
			p[i] = "/app/config/"[i%12]
		}
	}
	return p
}

func writeStream(t testing.TB, o WriterOptions, recs []record, digest uint64) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, testHeader, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.WriteRecord(r.kind, r.payload); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(Footer{Digest: digest}); err != nil {
		t.Fatal(err)
	}
	if w.Bytes() != int64(buf.Len()) {
		t.Fatalf("Bytes() = %d, wrote %d", w.Bytes(), buf.Len())
	}
	return buf.Bytes()
}

// readAll reads every record of a stream with Next.
func readAll(data []byte, o ReaderOptions) (Header, Footer, []record, error) {
	r, err := NewReader(bytes.NewReader(data), o)
	if err != nil {
		return Header{}, Footer{}, nil, err
	}
	defer r.Close()
	var recs []record
	for {
		k, p, err := r.Next()
		if err == io.EOF {
			return r.Header(), r.Footer(), recs, nil
		}
		if err != nil {
			return r.Header(), Footer{}, recs, err
		}
		recs = append(recs, record{k, bytes.Clone(p)})
	}
}

func smallRecords(seed uint64) []record {
	rng := rand.New(rand.NewPCG(seed, 1))
	var recs []record
	for i := range 12 {
		recs = append(recs, record{uint8(1 + i%3), payload(rng, rng.IntN(40))})
	}
	return recs
}

func TestRoundTrip(t *testing.T) {
	const chunk = 4096
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	sizes := []int{0, 1, 2, 100, 127, 128, chunk - 3, chunk - 1, chunk, chunk + 1, 3*chunk + 7, 200_000, 0, 1}
	var recs []record
	for i, n := range sizes {
		recs = append(recs, record{uint8(i % 4), payload(rng, n)})
	}
	for range 500 {
		recs = append(recs, record{uint8(rng.IntN(256)), payload(rng, rng.IntN(300))}) // unknown kinds included
	}
	for _, c := range configs(chunk) {
		t.Run(c.name, func(t *testing.T) {
			data := writeStream(t, c.opts, recs, 0xD16E57)
			h, f, got, err := readAll(data, readerOpts(c.opts))
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			if h.ClusterID != testHeader.ClusterID || h.Member != testHeader.Member || h.Zxid != testHeader.Zxid ||
				h.Time != testHeader.Time || h.Kind != testHeader.Kind || !bytes.Equal(h.Extra, testHeader.Extra) {
				t.Fatalf("header %+v, want %+v", h, testHeader)
			}
			if len(got) != len(recs) {
				t.Fatalf("seed %d: %d records, want %d", seed, len(got), len(recs))
			}
			var counts [256]uint64
			for i := range recs {
				counts[recs[i].kind]++
				if got[i].kind != recs[i].kind || !bytes.Equal(got[i].payload, recs[i].payload) {
					t.Fatalf("seed %d: record %d differs", seed, i)
				}
			}
			if f.Digest != 0xD16E57 || f.Records != uint64(len(recs)) {
				t.Fatalf("footer %+v", f)
			}
			for k, n := range counts {
				if f.Count(uint8(k)) != n {
					t.Fatalf("footer count of kind %d = %d, want %d", k, f.Count(uint8(k)), n)
				}
			}
			r, err := NewReader(bytes.NewReader(data), readerOpts(c.opts))
			if err != nil {
				t.Fatal(err)
			}
			for err == nil {
				_, _, err = r.Next()
			}
			if err != io.EOF || r.Bytes() != int64(len(data)) {
				t.Fatalf("Reader: %v after %d of %d bytes", err, r.Bytes(), len(data))
			}
			vh, vf, err := Verify(context.Background(), bytes.NewReader(data), readerOpts(c.opts))
			if err != nil || vh.Zxid != h.Zxid || vf.Records != f.Records {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestEmptyStreamAndDefaults(t *testing.T) {
	data := writeStream(t, WriterOptions{}, nil, 7)
	_, f, recs, err := readAll(data, ReaderOptions{})
	if err != nil || len(recs) != 0 || f.Records != 0 || f.Digest != 7 || len(f.Counts) != 0 {
		t.Fatalf("empty stream: %v %+v %d", err, f, len(recs))
	}
	big := payload(rand.New(rand.NewPCG(1, 1)), 3*DefaultChunkSize/2)
	data = writeStream(t, WriterOptions{}, []record{{1, []byte("a")}, {2, big}, {1, nil}}, 0)
	_, _, recs, err = readAll(data, ReaderOptions{})
	if err != nil || len(recs) != 3 || !bytes.Equal(recs[1].payload, big) {
		t.Fatalf("record above DefaultChunkSize: %v", err)
	}
}

func TestWriterRefuses(t *testing.T) {
	if _, err := NewWriter(io.Discard, Header{}, WriterOptions{ChunkSize: MaxChunkSize + 1}); err == nil {
		t.Error("ChunkSize above MaxChunkSize accepted")
	}
	if _, err := NewWriter(io.Discard, Header{}, WriterOptions{ChunkSize: -1}); err == nil {
		t.Error("negative ChunkSize accepted")
	}
	if _, err := NewWriter(io.Discard, Header{}, WriterOptions{Key: make([]byte, 16)}); err == nil {
		t.Error("16-byte key accepted")
	}
	if _, err := NewWriter(io.Discard, Header{Extra: make([]byte, MaxExtraSize+1)}, WriterOptions{}); err == nil {
		t.Error("oversized Extra accepted")
	}
	w, err := NewWriter(io.Discard, Header{}, WriterOptions{NoCompression: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRecord(1, make([]byte, MaxRecordSize+1)); err == nil {
		t.Error("record above MaxRecordSize accepted")
	}
	if err := w.Close(Footer{}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRecord(1, nil); err == nil {
		t.Error("WriteRecord after Close accepted")
	}
	if err := w.Close(Footer{}); err == nil {
		t.Error("second Close accepted")
	}
}

var errBoom = errors.New("disk full")

// failWriter fails after budget bytes and must never be closed by the Writer.
type failWriter struct {
	t      *testing.T
	budget int
}

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.budget {
		n := f.budget
		f.budget = 0
		return n, errBoom
	}
	f.budget -= len(p)
	return len(p), nil
}

func (f *failWriter) Close() error {
	f.t.Error("Writer closed the underlying io.Writer")
	return nil
}

func TestWriterPropagatesWriteError(t *testing.T) {
	if _, err := NewWriter(&failWriter{t: t, budget: 10}, testHeader, WriterOptions{}); !errors.Is(err, errBoom) {
		t.Fatalf("NewWriter: %v, want %v", err, errBoom)
	}
	fw := &failWriter{t: t, budget: 200}
	w, err := NewWriter(fw, testHeader, WriterOptions{ChunkSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	for i := 0; i < 100 && werr == nil; i++ {
		werr = w.WriteRecord(1, []byte("some payload bytes"))
	}
	if !errors.Is(werr, errBoom) {
		t.Fatalf("WriteRecord: %v, want %v", werr, errBoom)
	}
	if err := w.Close(Footer{}); !errors.Is(err, errBoom) {
		t.Fatalf("Close: %v, want %v", err, errBoom)
	}
	// A failure in Close itself.
	w, err = NewWriter(&failWriter{t: t, budget: 60}, testHeader, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRecord(1, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(Footer{}); !errors.Is(err, errBoom) {
		t.Fatalf("Close: %v, want %v", err, errBoom)
	}
}

// TestTruncatedEveryOffset cuts a multi-chunk stream at every byte offset.
func TestTruncatedEveryOffset(t *testing.T) {
	for _, c := range configs(64) {
		t.Run(c.name, func(t *testing.T) {
			data := writeStream(t, c.opts, smallRecords(1), 1)
			for off := range len(data) {
				_, _, _, err := readAll(data[:off], readerOpts(c.opts))
				want := ErrTruncated
				if off == 0 {
					want = ErrNotStream
				}
				if !errors.Is(err, want) || !errors.Is(err, ErrCorrupt) {
					t.Fatalf("cut at %d of %d: %v, want %v", off, len(data), err, want)
				}
				if _, _, err := Verify(context.Background(), bytes.NewReader(data[:off]), readerOpts(c.opts)); !errors.Is(err, want) {
					t.Fatalf("Verify cut at %d: %v", off, err)
				}
			}
		})
	}
}

// TestBitFlipEveryBit flips each bit of a small multi-chunk stream in turn.
func TestBitFlipEveryBit(t *testing.T) {
	for _, c := range configs(64) {
		t.Run(c.name, func(t *testing.T) {
			data := writeStream(t, c.opts, smallRecords(2), 2)
			bad := bytes.Clone(data)
			for bit := range 8 * len(data) {
				bad[bit/8] ^= 1 << (bit % 8)
				_, _, err := Verify(context.Background(), bytes.NewReader(bad), readerOpts(c.opts))
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("bit %d (byte %d of %d) flipped: %v", bit, bit/8, len(data), err)
				}
				bad[bit/8] ^= 1 << (bit % 8)
			}
		})
	}
}

// splitChunks returns the header, each chunk as stored, and the trailer.
func splitChunks(t *testing.T, data []byte) (hdr []byte, chunks [][]byte, trailer []byte) {
	t.Helper()
	n := headerFixedSize + int(binary.LittleEndian.Uint16(data[44:])) + crcSize
	if data[10]&headerFlagEncrypted != 0 {
		n += saltSize + keyCheckSize
	}
	hdr, rest := data[:n], data[n:]
	for len(rest) > crcSize {
		size := chunkPrefixSize + int(binary.LittleEndian.Uint32(rest)) + crcSize
		chunks = append(chunks, rest[:size])
		rest = rest[size:]
	}
	return hdr, chunks, rest
}

func join(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestChunksReorderedDuplicatedDropped(t *testing.T) {
	for _, c := range configs(64) {
		t.Run(c.name, func(t *testing.T) {
			data := writeStream(t, c.opts, smallRecords(3), 3)
			hdr, ch, tr := splitChunks(t, data)
			if len(ch) < 4 {
				t.Fatalf("only %d chunks", len(ch))
			}
			if !bytes.Equal(join(append(append([][]byte{hdr}, ch...), tr)...), data) {
				t.Fatal("splitChunks lost bytes")
			}
			last := len(ch) - 1
			cases := map[string][][]byte{
				"swap 1 and 2":       {hdr, ch[0], ch[2], ch[1], join(ch[3:]...), tr},
				"duplicate 1":        {hdr, ch[0], ch[1], ch[1], join(ch[2:]...), tr},
				"drop 1":             {hdr, ch[0], join(ch[2:]...), tr},
				"drop last data":     {hdr, join(ch[:last-1]...), ch[last], tr},
				"cut before footer":  {hdr, join(ch[:last]...)},
				"footer twice":       {hdr, join(ch...), ch[last], tr},
				"footer first":       {hdr, ch[last], tr},
				"other stream's hdr": {otherHeader(t, c.opts), join(ch...), tr},
			}
			for name, parts := range cases {
				_, _, err := Verify(context.Background(), bytes.NewReader(join(parts...)), readerOpts(c.opts))
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("%s: %v, want ErrCorrupt", name, err)
				}
			}
		})
	}
}

// otherHeader returns the header of another stream at a later zxid.
func otherHeader(t *testing.T, o WriterOptions) []byte {
	var buf bytes.Buffer
	h := testHeader
	h.Zxid++
	w, err := NewWriter(&buf, h, o)
	if err != nil {
		t.Fatal(err)
	}
	w.Close(Footer{})
	hdr, _, _ := splitChunks(t, buf.Bytes())
	return hdr
}

func TestKeys(t *testing.T) {
	recs := smallRecords(4)
	enc := writeStream(t, WriterOptions{Key: testKey}, recs, 0)
	plain := writeStream(t, WriterOptions{}, recs, 0)
	other := bytes.Clone(testKey)
	other[0] ^= 1
	check := func(name string, data []byte, o ReaderOptions, want error) {
		t.Helper()
		_, err := NewReader(bytes.NewReader(data), o)
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
		if want != nil && errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v matches ErrCorrupt", name, err)
		}
	}
	check("wrong key", enc, ReaderOptions{Key: other}, ErrWrongKey)
	check("no key", enc, ReaderOptions{}, ErrWrongKey)
	check("key for plaintext", plain, ReaderOptions{Key: testKey}, ErrNotEncrypted)
	if _, err := NewReader(bytes.NewReader(enc), ReaderOptions{Key: testKey[:31]}); err == nil {
		t.Error("31-byte key accepted")
	}
	// The same records under the same key give different bytes: the salt is
	// per stream.
	if bytes.Equal(enc, writeStream(t, WriterOptions{Key: testKey}, recs, 0)) {
		t.Error("two encrypted streams are identical")
	}
}

// rewriteHeader edits a plaintext stream's header and fixes its checksum.
func rewriteHeader(data []byte, edit func(h []byte)) []byte {
	data = bytes.Clone(data)
	n := headerFixedSize + int(binary.LittleEndian.Uint16(data[44:]))
	edit(data[:n])
	binary.LittleEndian.PutUint32(data[n:], crc32.Checksum(data[:n], castagnoli))
	return data
}

func TestVersionAndFlags(t *testing.T) {
	data := writeStream(t, WriterOptions{}, smallRecords(5), 0)
	future := rewriteHeader(data, func(h []byte) { binary.LittleEndian.PutUint16(h[8:], Version+1) })
	if _, err := NewReader(bytes.NewReader(future), ReaderOptions{}); !errors.Is(err, ErrVersion) {
		t.Errorf("future version: %v", err)
	}
	// A future header may be longer; the version must be refused before any
	// length in it is trusted.
	if _, err := NewReader(bytes.NewReader(future[:12]), ReaderOptions{}); !errors.Is(err, ErrTruncated) {
		t.Errorf("short header: %v", err)
	}
	unknown := rewriteHeader(data, func(h []byte) { h[10] |= 0x80 })
	if _, err := NewReader(bytes.NewReader(unknown), ReaderOptions{}); !errors.Is(err, ErrVersion) {
		t.Errorf("unknown header flag: %v", err)
	}
	zero := rewriteHeader(data, func(h []byte) { binary.LittleEndian.PutUint16(h[8:], 0) })
	if _, err := NewReader(bytes.NewReader(zero), ReaderOptions{}); !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrVersion) {
		t.Errorf("version 0: %v", err)
	}
}

func TestForeignInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(rng.IntN(256))
	}
	inputs := map[string][]byte{
		"empty":  nil,
		"gzip":   {0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 0xff},
		"zip":    []byte("PK\x03\x04\x14\x00\x00\x00"),
		"zstd":   {0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x00},
		"text":   []byte("KEEPER backup\n"),
		"random": random,
		"1 byte": {0x42},
	}
	for name, in := range inputs {
		_, _, err := Verify(context.Background(), bytes.NewReader(in), ReaderOptions{})
		if !errors.Is(err, ErrNotStream) || !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrNotStream", name, err)
		}
	}
}

// TestHugeLengthRefused forges chunk prefixes with valid checksums and lengths
// far beyond the caps; they must be refused before anything is allocated.
func TestHugeLengthRefused(t *testing.T) {
	data := writeStream(t, WriterOptions{NoCompression: true}, smallRecords(6), 0)
	hdr, _, _ := splitChunks(t, data)
	for _, lens := range [][2]uint32{{0xFFFFFFFF, 0xFFFFFFFF}, {maxRawChunk + 1, maxRawChunk + 1}, {1 << 31, 10}} {
		var pre [chunkPrefixSize]byte
		binary.LittleEndian.PutUint32(pre[0:], lens[0])
		binary.LittleEndian.PutUint32(pre[4:], lens[1])
		binary.LittleEndian.PutUint32(pre[9:], forgePrefixCRC(hdr, pre[:9]))
		in := join(hdr, pre[:])
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, err := Verify(context.Background(), bytes.NewReader(in), ReaderOptions{})
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTruncated) {
			t.Errorf("lengths %v: %v, want ErrCorrupt before reading", lens, err)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
			t.Errorf("lengths %v: allocated %d bytes", lens, grew)
		}
	}
	// A truthful-looking length on a short stream costs memory in proportion to
	// the bytes that are there.
	var pre [chunkPrefixSize]byte
	binary.LittleEndian.PutUint32(pre[0:], 60<<20)
	binary.LittleEndian.PutUint32(pre[4:], 60<<20)
	binary.LittleEndian.PutUint32(pre[9:], forgePrefixCRC(hdr, pre[:9]))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := Verify(context.Background(), bytes.NewReader(join(hdr, pre[:], make([]byte, 100))), ReaderOptions{})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTruncated) {
		t.Errorf("60 MiB claim on a short stream: %v", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Errorf("60 MiB claim on a short stream allocated %d bytes", grew)
	}
}

// forgePrefixCRC returns the prefix checksum of chunk 0 after hdr.
func forgePrefixCRC(hdr, prefix []byte) uint32 {
	bind := make([]byte, 12)
	copy(bind, hdr[len(hdr)-crcSize:])
	return crc32.Update(crc32.Checksum(bind, castagnoli), castagnoli, prefix)
}

func TestVerifyContext(t *testing.T) {
	data := writeStream(t, WriterOptions{ChunkSize: 64}, smallRecords(7), 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Verify(ctx, bytes.NewReader(data), ReaderOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled Verify: %v", err)
	}
}

func TestReaderStopsAtEnd(t *testing.T) {
	data := writeStream(t, WriterOptions{}, smallRecords(8), 0)
	src := bytes.NewReader(join(data, []byte("next thing")))
	if _, _, err := Verify(context.Background(), src, ReaderOptions{}); err != nil {
		t.Fatal(err)
	}
	if rest, _ := io.ReadAll(src); string(rest) != "next thing" {
		t.Fatalf("Reader consumed past the end: %q left", rest)
	}
}

func TestNoGoroutinesLeft(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, c := range configs(1024) {
		for range 20 {
			data := writeStream(t, c.opts, smallRecords(9), 0)
			if _, _, _, err := readAll(data, readerOpts(c.opts)); err != nil {
				t.Fatal(err)
			}
			// A Reader abandoned mid-stream and then closed.
			r, err := NewReader(bytes.NewReader(data), readerOpts(c.opts))
			if err != nil {
				t.Fatal(err)
			}
			r.Next()
			r.Close()
		}
	}
	time.Sleep(10 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before {
		t.Fatalf("%d goroutines before, %d after", before, after)
	}
}

func TestAllocsPerRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts are slow to measure under -short")
	}
	rec := payload(rand.New(rand.NewPCG(1, 1)), 100)
	for _, c := range configs(64 << 10) {
		t.Run(c.name, func(t *testing.T) {
			w, err := NewWriter(io.Discard, testHeader, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			for range 5000 { // warm up buffers
				w.WriteRecord(1, rec)
			}
			if a := testing.AllocsPerRun(5000, func() { w.WriteRecord(1, rec) }); a > 0.05 {
				t.Errorf("WriteRecord: %.3f allocs per record", a)
			}
			w.Close(Footer{})

			var recs []record
			for range 20000 {
				recs = append(recs, record{1, rec})
			}
			r, err := NewReader(bytes.NewReader(writeStream(t, c.opts, recs, 0)), readerOpts(c.opts))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for range 2000 {
				r.Next()
			}
			if a := testing.AllocsPerRun(10000, func() { r.Next() }); a > 0.05 {
				t.Errorf("Next: %.3f allocs per record", a)
			}
		})
	}
}
