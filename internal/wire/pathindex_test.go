package wire

import (
	"bytes"
	"errors"
	"slices"
	"testing"
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

func TestPathIndexDamage(t *testing.T) {
	enc, want := testPathIndex()
	var key uint64
	for k := range want {
		key = k
		break
	}
	for i := range enc {
		bad := bytes.Clone(enc)
		bad[i] ^= 0x10
		_, hits, err := ReadPathIndex(bytes.NewReader(bad), key)
		if err == nil && !slices.Equal(hits[0], want[key]) {
			t.Fatalf("byte %d flipped: wrong hits %v without an error", i, hits)
		}
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFormatTooNew) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	for n := range len(enc) {
		if _, _, err := ReadPathIndex(bytes.NewReader(enc[:n]), key); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut at %d: %v", n, err)
		}
	}
}

// FuzzPathIndex: reading never panics, refuses with ErrCorrupt or
// ErrFormatTooNew, and the hits it returns ascend within the range.
func FuzzPathIndex(f *testing.F) {
	enc, want := testPathIndex()
	for key := range want {
		f.Add(enc, key)
		break
	}
	f.Add(enc, uint64(3))
	f.Add(NewPathIndexBuilder(1, 1).Encode(), uint64(0))
	f.Add([]byte("KIDX\x01\x07"), uint64(0))
	f.Fuzz(func(t *testing.T, b []byte, key uint64) {
		h, hits, err := ReadPathIndex(bytes.NewReader(b), key, ^key)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFormatTooNew) {
				t.Fatalf("error %v matches neither ErrCorrupt nor ErrFormatTooNew", err)
			}
			return
		}
		if len(hits) != 2 {
			t.Fatalf("%d hit lists for 2 keys", len(hits))
		}
		for _, hs := range hits {
			for i, hit := range hs {
				if hit.Zxid < h.First || hit.Zxid > h.Last || hit.Flags == 0 || (i > 0 && hit.Zxid <= hs[i-1].Zxid) {
					t.Fatalf("hit %d %+v in %+v", i, hit, h)
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
