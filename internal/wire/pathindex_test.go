package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func testPathIndex() ([]byte, map[uint64][]IndexHit) {
	b := NewPathIndexBuilder(100, 400)
	want := map[uint64][]IndexHit{}
	for z := uint64(100); z <= 400; z++ {
		key := z % 37 * 0x9e3779b97f4a7c15
		flags := uint8(1 << (z % 5))
		b.Add(key, z, flags)
		if z%3 == 0 {
			b.Add(key, z, 0x40) // or'ed into the same hit
			flags |= 0x40
		}
		want[key] = append(want[key], IndexHit{Zxid: z, Flags: flags})
	}
	return b.Encode(), want
}

func TestPathIndexRoundTrip(t *testing.T) {
	enc, want := testPathIndex()
	for key, hits := range want {
		h, all, err := ReadPathIndex(bytes.NewReader(enc), key, 12345)
		if err != nil || len(all) != 2 || !slices.Equal(all[0], hits) || all[1] != nil {
			t.Fatalf("key %x: %v %v, want %v", key, all, err, hits)
		}
		got := all[0]
		if !slices.Equal(got, hits) {
			t.Fatalf("key %x: %v %v, want %v", key, got, err, hits)
		}
		if h.First != 100 || h.Last != 400 || h.Keys != len(want) {
			t.Fatalf("head %+v", h)
		}
	}
	// Keys not in the index: none, and most rejected by the filter alone
	// (the reader then stops before the body).
	rejected := 0
	for key := uint64(1); key <= 1000; key++ {
		r := bytes.NewReader(enc)
		_, got, err := ReadPathIndex(r, key)
		if err != nil || len(got) != 1 || got[0] != nil {
			t.Fatalf("absent key %d: %v %v", key, got, err)
		}
		if r.Len() > 0 {
			rejected++
		}
	}
	if rejected < 900 {
		t.Fatalf("the bloom filter rejected %d of 1000 absent keys", rejected)
	}
	// An empty index is valid.
	empty := NewPathIndexBuilder(5, 5).Encode()
	if _, got, err := ReadPathIndex(bytes.NewReader(empty), 1); err != nil || got[0] != nil {
		t.Fatalf("empty index: %v %v", got, err)
	}
}

// TestPathIndexDamage: an index with any one byte changed, or cut short,
// is refused with ErrCorrupt (or ErrFormatTooNew, for the version byte)
// or gives exactly the hits it held, read through a reader that seeks and
// one that cannot; never a hit missed or made up. The indexes are of
// both versions; the large one's bytes are sampled.
func TestPathIndexDamage(t *testing.T) {
	small, smallWant := testPathIndex()
	seed := testSeed(t)
	large, largeWant := largePathIndex(seed, 700)
	for _, c := range []struct {
		name string
		enc  []byte
		want map[uint64][]IndexHit
		step int
	}{
		{"v1", readGolden(t, "pathindex-v1.kidx"), smallWant, 1},
		{"v2", small, smallWant, 1},
		{"v2-blocks", large, largeWant, 13},
	} {
		keys := pathIndexProbeKeys(c.enc, c.want)
		for _, read := range pathIndexReaders {
			check := func(what string, b []byte) {
				t.Helper()
				_, hits, err := ReadPathIndex(read.r(b), keys...)
				if err != nil {
					if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFormatTooNew) {
						t.Fatalf("%s %s, %s: %v (seed %d)", c.name, read.name, what, err, seed)
					}
					return
				}
				for i, key := range keys {
					if !slices.Equal(hits[i], c.want[key]) {
						t.Fatalf("%s %s, %s: key %x: %v without an error, want %v (seed %d)", c.name, read.name, what, key, hits[i], c.want[key], seed)
					}
				}
			}
			for i := 0; i < len(c.enc); i += c.step {
				bad := bytes.Clone(c.enc)
				bad[i] ^= 0x10
				check(fmt.Sprintf("byte %d flipped", i), bad)
				bad[i] ^= 0x11 // another bit
				check(fmt.Sprintf("byte %d flipped", i), bad)
			}
			for n := 0; n < len(c.enc); n += c.step {
				if _, _, err := ReadPathIndex(read.r(c.enc[:n]), keys...); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("%s %s, cut at %d: %v (seed %d)", c.name, read.name, n, err, seed)
				}
			}
		}
	}
}

// FuzzPathIndex: reading never panics, refuses with ErrCorrupt or
// ErrFormatTooNew, and the hits it returns ascend within the range; read
// through a reader that seeks and one that cannot, an index both accept
// gives the same hits.
func FuzzPathIndex(f *testing.F) {
	enc, want := testPathIndex()
	for key := range want {
		f.Add(enc, key)
		break
	}
	f.Add(enc, uint64(3))
	large, largeWant := largePathIndex(1, 300)
	keys := pathIndexProbeKeys(large, largeWant)
	f.Add(large, keys[0])
	f.Add(large, keys[len(keys)-1])
	v1 := readGolden(f, "pathindex-v1.kidx")
	for key := range want {
		f.Add(v1, key)
		break
	}
	f.Add(NewPathIndexBuilder(1, 1).Encode(), uint64(0))
	f.Add([]byte("KIDX\x01\x07"), uint64(0))
	f.Add([]byte("KIDX\x02\x07"), uint64(0))
	f.Fuzz(func(t *testing.T, b []byte, key uint64) {
		var got [2][][]IndexHit
		for i, read := range pathIndexReaders {
			h, hits, err := ReadPathIndex(read.r(b), key, ^key)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFormatTooNew) {
					t.Fatalf("%s: error %v matches neither ErrCorrupt nor ErrFormatTooNew", read.name, err)
				}
				continue
			}
			if len(hits) != 2 {
				t.Fatalf("%s: %d hit lists for 2 keys", read.name, len(hits))
			}
			for _, hs := range hits {
				for i, hit := range hs {
					if hit.Zxid < h.First || hit.Zxid > h.Last || hit.Flags == 0 || (i > 0 && hit.Zxid <= hs[i-1].Zxid) {
						t.Fatalf("%s: hit %d %+v in %+v", read.name, i, hit, h)
					}
				}
			}
			got[i] = hits
		}
		if got[0] != nil && got[1] != nil {
			for k := range got[0] {
				if !slices.Equal(got[0][k], got[1][k]) {
					t.Fatalf("key %d: %v seeking, %v reading on", k, got[0][k], got[1][k])
				}
			}
		}
	})
}

// Append joins the indexes of consecutive segments into one whose hits
// read back as each segment's did, and refuses a segment that does not
// follow.
func TestPathIndexAppend(t *testing.T) {
	a := NewPathIndexBuilder(10, 19)
	a.Add(1, 12, 1)
	a.Add(2, 15, 4)
	b := NewPathIndexBuilder(20, 29)
	b.Add(1, 21, 4)
	b.Add(3, 29, 2)
	if a.Append(NewPathIndexBuilder(31, 40)) {
		t.Fatal("appended a segment that leaves a hole")
	}
	if !a.Append(b) || a.Hits() != 4 {
		t.Fatalf("append: hits %d, want 4", a.Hits())
	}
	if first, last := a.Range(); first != 10 || last != 29 {
		t.Fatalf("range %d..%d, want 10..29", first, last)
	}
	head, hits, err := ReadPathIndex(bytes.NewReader(a.Encode()), 1, 2, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	if head.First != 10 || head.Last != 29 {
		t.Errorf("head %+v", head)
	}
	want := [][]IndexHit{{{12, 1}, {21, 4}}, {{15, 4}}, {{29, 2}}, nil}
	for i := range want {
		if !slices.Equal(hits[i], want[i]) {
			t.Errorf("key %d: %v, want %v", i+1, hits[i], want[i])
		}
	}
}

// The objects of version 1 that archives hold read as they did: a
// version 1 object (written by the version 1 encoder) gives each key's
// hits, through a reader that seeks and one that cannot.
func TestPathIndexVersion1(t *testing.T) {
	enc := readGolden(t, "pathindex-v1.kidx")
	if enc[4] != 1 {
		t.Fatalf("pathindex-v1.kidx is of version %d", enc[4])
	}
	_, want := testPathIndex()
	for _, read := range pathIndexReaders {
		for key, hits := range want {
			h, got, err := ReadPathIndex(read.r(enc), key, key+1)
			if err != nil || !slices.Equal(got[0], hits) || got[1] != nil {
				t.Fatalf("%s: key %x: %v %v, want %v", read.name, key, got, err, hits)
			}
			if h.First != 100 || h.Last != 400 || h.Keys != len(want) {
				t.Fatalf("%s: head %+v", read.name, h)
			}
		}
	}
}

// The encoder writes version 2 byte for byte as pathindex-v2.kidx holds
// it, and a version byte above the newest is ErrFormatTooNew.
func TestPathIndexVersion2(t *testing.T) {
	enc, _ := testPathIndex()
	if !bytes.Equal(enc, readGolden(t, "pathindex-v2.kidx")) {
		t.Fatal("the encoder's bytes differ from testdata/pathindex-v2.kidx: a changed format needs a new version")
	}
	if enc[4] != PathIndexVersion || PathIndexVersion != 2 {
		t.Fatalf("version %d, PathIndexVersion %d", enc[4], PathIndexVersion)
	}
	newer := bytes.Clone(enc)
	newer[4] = PathIndexVersion + 1
	if _, _, err := ReadPathIndex(bytes.NewReader(newer), 1); !errors.Is(err, ErrFormatTooNew) {
		t.Fatalf("version %d: %v", newer[4], err)
	}
}

// An index of many rows blocks gives every key's hits, and none for keys
// it lacks (those the bloom filter lets through among them), asked one
// at a time or together, through a reader that seeks and one that
// cannot.
func TestPathIndexBlocks(t *testing.T) {
	seed := testSeed(t)
	enc, want := largePathIndex(seed, 10*pathIndexBlockRows+17)
	for _, read := range pathIndexReaders {
		for key, hits := range want {
			h, got, err := ReadPathIndex(read.r(enc), key)
			if err != nil || !slices.Equal(got[0], hits) {
				t.Fatalf("%s: key %x: %v %v, want %v (seed %d)", read.name, key, got, err, hits, seed)
			}
			if h.Keys != len(want) {
				t.Fatalf("%s: head %+v, want %d keys (seed %d)", read.name, h, len(want), seed)
			}
		}
		keys := pathIndexProbeKeys(enc, want)
		rand.New(rand.NewPCG(seed, 1)).Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		_, got, err := ReadPathIndex(read.r(enc), keys...)
		if err != nil {
			t.Fatalf("%s: %v (seed %d)", read.name, err, seed)
		}
		for i, key := range keys {
			if !slices.Equal(got[i], want[key]) {
				t.Fatalf("%s: key %x: %v, want %v (seed %d)", read.name, key, got[i], want[key], seed)
			}
		}
	}
}

// A lookup in an index of 200,000 keys, through a reader that seeks,
// reads a few kilobytes, whether the key is there or not.
func TestPathIndexReadsLittle(t *testing.T) {
	seed := testSeed(t)
	enc, want := largePathIndex(seed, 200_000)
	most := int64(0)
	for _, key := range pathIndexProbeKeys(enc, want) {
		r := &countingReader{r: bytes.NewReader(enc)}
		_, got, err := ReadPathIndex(r, key)
		if err != nil || !slices.Equal(got[0], want[key]) {
			t.Fatalf("key %x: %v %v, want %v (seed %d)", key, got, err, want[key], seed)
		}
		if r.n >= 64<<10 {
			t.Fatalf("key %x: read %d bytes of a %d-byte index (seed %d)", key, r.n, len(enc), seed)
		}
		most = max(most, r.n)
	}
	t.Logf("a lookup read at most %d bytes of a %d-byte index", most, len(enc))
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r *bytes.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) Seek(off int64, whence int) (int64, error) { return c.r.Seek(off, whence) }

// pathIndexReaders read an index's bytes through a reader that seeks and
// through one that cannot.
var pathIndexReaders = []struct {
	name string
	r    func([]byte) io.Reader
}{
	{"seeking", func(b []byte) io.Reader { return bytes.NewReader(b) }},
	{"streaming", func(b []byte) io.Reader { return struct{ io.Reader }{bytes.NewReader(b)} }},
}

// largePathIndex returns an index of n random keys over 2n entries, each
// key with one or more hits, and the hits per key.
func largePathIndex(seed uint64, n int) ([]byte, map[uint64][]IndexHit) {
	rng := rand.New(rand.NewPCG(seed, 0))
	const first = 1000
	last := uint64(first + 2*n)
	b := NewPathIndexBuilder(first, last)
	want := map[uint64][]IndexHit{}
	keys := make([]uint64, 0, n)
	for z := uint64(first); z <= last; z++ {
		var key uint64
		if len(keys) < n && (len(keys) == 0 || rng.IntN(4) != 0 || last-z < uint64(n-len(keys))*2) {
			key = rng.Uint64()
			keys = append(keys, key)
		} else {
			key = keys[rng.IntN(len(keys))]
		}
		flags := uint8(1 + rng.IntN(255))
		b.Add(key, z, flags)
		want[key] = append(want[key], IndexHit{Zxid: z, Flags: flags})
	}
	return b.Encode(), want
}

// pathIndexProbeKeys returns keys to ask an index for: the first and last
// of each rows block (so also the first and last rows of the body), and
// keys it lacks, some of which its bloom filter lets through.
func pathIndexProbeKeys(enc []byte, want map[uint64][]IndexHit) []uint64 {
	keys := make([]uint64, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var probe []uint64
	for i, k := range keys {
		if i%pathIndexBlockRows == 0 || i%pathIndexBlockRows == pathIndexBlockRows-1 || i == len(keys)-1 {
			probe = append(probe, k)
		}
	}
	probe = append(probe, 0, ^uint64(0))
	// Absent keys the filter lets through, found by reading the filter
	// with the index's own parameters.
	blocks := uint64(bloomBlocks(len(keys)))
	bloomAt := 0
	if len(enc) > 4 && enc[4] == 1 {
		bloomAt = pathIndexHeadSize1 + int(blocks)*4 + 4
	} else {
		bloomAt = pathIndexHeadSize + int(blocks)*4 + (len(keys)+pathIndexBlockRows-1)/pathIndexBlockRows*pathIndexFenceSize + 4
	}
	found := 0
	for c := uint64(1); c < 1<<20 && found < 3; c++ {
		key := c * 0x9e3779b97f4a7c15
		if _, ok := want[key]; ok {
			continue
		}
		in := true
		for i := range uint64(pathIndexProbes) {
			block, bit := bloomBit(key, i, blocks)
			in = in && enc[bloomAt+int(block)*bloomBlockSize+int(bit/8)]&(1<<(bit%8)) != 0
		}
		if in {
			probe = append(probe, key)
			found++
		}
	}
	return probe
}

func readGolden(tb testing.TB, name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// testSeed returns a seed for a test's randomness, logged.
func testSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	return seed
}
