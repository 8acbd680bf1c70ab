package wire

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

func TestLogMetaRoundTrip(t *testing.T) {
	for _, c := range []struct {
		cluster, id uint64
		peers       []uint64
	}{
		{0x1122334455667788, 2, []uint64{3, 1, 2}},
		{7, 4, nil},
		{^uint64(0), ^uint64(0), []uint64{^uint64(0)}},
	} {
		b := EncodeLogMeta(c.cluster, c.id, c.peers)
		cluster, id, peers, err := DecodeLogMeta(b)
		if err != nil || cluster != c.cluster || id != c.id || !slices.Equal(peers, slices.Sorted(slices.Values(c.peers))) {
			t.Fatalf("round trip of %+v: %x %d %v %v", c, cluster, id, peers, err)
		}
	}
	peers := []uint64{3, 1}
	EncodeLogMeta(1, 1, peers)
	if peers[0] != 3 {
		t.Fatal("EncodeLogMeta sorted the caller's peers")
	}
	for _, n := range []int{0, 8, 15, 17, 23} {
		if _, _, _, err := DecodeLogMeta(make([]byte, n)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("metadata of %d bytes: %v", n, err)
		}
	}
}

// FuzzLogMeta: decoding never panics, refuses with ErrCorrupt, and what it
// accepts encodes back to the same bytes when the peers were stored sorted
// (as EncodeLogMeta stores them).
func FuzzLogMeta(f *testing.F) {
	f.Add(EncodeLogMeta(0x1122334455667788, 2, []uint64{3, 1, 2}))
	f.Add(EncodeLogMeta(7, 4, nil))
	f.Add(make([]byte, 20))
	f.Fuzz(func(t *testing.T, b []byte) {
		cluster, id, peers, err := DecodeLogMeta(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not match ErrCorrupt", err)
			}
			return
		}
		again := EncodeLogMeta(cluster, id, peers)
		c2, id2, peers2, err := DecodeLogMeta(again)
		if err != nil || c2 != cluster || id2 != id || !slices.Equal(peers2, slices.Sorted(slices.Values(peers))) {
			t.Fatalf("re-encoded %x decodes to %x %d %v %v", again, c2, id2, peers2, err)
		}
		if slices.IsSorted(peers) && !bytes.Equal(again, b) {
			t.Fatalf("%x re-encodes to %x", b, again)
		}
	})
}
