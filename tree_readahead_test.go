package keeper

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestReadAheadAppliesTheSame: a tree whose loads take nodes read ahead,
// some of them read before commits that changed them and some too long
// before, ends with the same store, key for key, as a tree that read every
// node itself. The entries work over a few paths, so that most groups
// change nodes read ahead for the groups after them.
func TestReadAheadAppliesTheSame(t *testing.T) {
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	plain, ahead := newHarness(t), newHarness(t)
	for _, h := range []*harness{plain, ahead} {
		h.must(CreateOp("/a", nil, Persistent))
		h.must(CreateOp("/q", nil, Persistent))
	}
	ahead.tr.readAhead = true
	ar := ahead.tr.newAheadReader()
	defer ar.close()

	path := func() string { return fmt.Sprintf("/a/p%d", rng.IntN(12)) }
	op := func() Op {
		switch rng.IntN(5) {
		case 0:
			return CreateOp(path(), []byte("c"), Persistent)
		case 1:
			return DeleteOp(path(), AnyVersion)
		case 2:
			return CreateOp("/q/s", nil, PersistentSequential)
		default:
			return SetOp(path(), fmt.Appendf(nil, "v%d", rng.IntN(1000)), AnyVersion)
		}
	}
	var groups [][]committed
	next := plain.tr.applied() + 1
	for range 200 {
		g := make([]committed, 1+rng.IntN(80))
		for i := range g {
			r := request{Time: int64(next), Ops: []Op{op()}}
			if rng.IntN(6) == 0 {
				r.Multi, r.Ops = true, []Op{op(), op()}
			}
			g[i] = committed{Index: next, Kind: entryOp, Data: appendRequest(nil, &r)}
			next++
		}
		groups = append(groups, g)
	}
	// The nodes read ahead reach the tree as a replay's reader hands them
	// over: read at one commit, offered some commits later, just before
	// their group applies. Meanwhile the groups between may have changed
	// them, or the read may have become too old.
	offers := map[int][][]aheadNode{}
	for k, g := range groups {
		if d := rng.IntN(aheadLag + 3); k+d < len(groups) {
			nodes, err := ar.read(groups[k+d], nil)
			if err != nil {
				t.Fatal(err)
			}
			offers[k+d] = append(offers[k+d], nodes)
		}
		for _, nodes := range offers[k] {
			ahead.tr.offerAhead(nodes)
		}
		want, err := plain.tr.apply(g)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ahead.tr.apply(g)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if fmt.Sprint(want[i]) != fmt.Sprint(got[i]) {
				t.Fatalf("seed %d: group %d entry %d: result %v, reading every node %v", seed, k, i, got[i], want[i])
			}
		}
	}
	if plain.tr.digest() != ahead.tr.digest() {
		t.Fatalf("seed %d: digest %x, reading every node %x", seed, ahead.tr.digest(), plain.tr.digest())
	}
	var want, got [][2][]byte
	scanStore(t, plain.st, func(k, v []byte) { want = append(want, [2][]byte{bytes.Clone(k), bytes.Clone(v)}) })
	scanStore(t, ahead.st, func(k, v []byte) { got = append(got, [2][]byte{bytes.Clone(k), bytes.Clone(v)}) })
	if len(want) != len(got) {
		t.Fatalf("seed %d: %d keys, reading every node %d", seed, len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(want[i][0], got[i][0]) || !bytes.Equal(want[i][1], got[i][1]) {
			t.Fatalf("seed %d: key %q = %x, reading every node %q = %x", seed, got[i][0], got[i][1], want[i][0], want[i][1])
		}
	}
}
