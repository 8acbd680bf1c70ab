package keeper

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestDeterminism applies the same entries to fresh stores in different group
// sizes: digests and every stored key and value (read back in key order) must
// be identical (DESIGN.md invariant 1).
func TestDeterminism(t *testing.T) {
	const seed = 42
	rng := rand.New(rand.NewPCG(seed, 1))
	var ents []committed
	for i := range 3000 {
		e := committed{Index: uint64(i + 1), Kind: entryOp}
		switch rng.IntN(50) {
		case 0:
			e.Kind = entryNoop
		case 1:
			e.Kind, e.Data = entryConf, []byte{byte(i), byte(i >> 8)}
		default:
			req := randomRequest(rng, int64(i))
			e.Data = appendRequest(nil, &req)
		}
		ents = append(ents, e)
	}
	var dumps [][]byte
	var digests []uint64
	for _, groups := range []func() int{
		func() int { return 1 },
		func() int { return 64 },
		func() int { return 1 + rng.IntN(300) },
	} {
		h := newHarness(t)
		for i := 0; i < len(ents); {
			n := min(groups(), len(ents)-i)
			if _, err := h.tr.apply(ents[i : i+n]); err != nil {
				t.Fatal(err)
			}
			i += n
		}
		if h.tr.applied() != uint64(len(ents)) {
			t.Fatalf("applied %d", h.tr.applied())
		}
		digests = append(digests, h.tr.digest())
		dumps = append(dumps, dumpStore(t, h))
	}
	if len(dumps[0]) < 1000 {
		t.Fatalf("the entries built almost nothing (%d bytes): the test proves little", len(dumps[0]))
	}
	for i := 1; i < len(dumps); i++ {
		if digests[i] != digests[0] {
			t.Errorf("run %d digest %x, run 0 %x", i, digests[i], digests[0])
		}
		if !bytes.Equal(dumps[i], dumps[0]) {
			t.Errorf("run %d store contents differ from run 0 (%d vs %d bytes)", i, len(dumps[i]), len(dumps[0]))
		}
	}
}

// dumpStore returns every key and value of the store, in key order.
func dumpStore(t testing.TB, h *harness) []byte {
	t.Helper()
	var out []byte
	scanStore(t, h.st, func(k, v []byte) { out = appendBytes(appendBytes(out, k), v) })
	return out
}
