package keeper

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

var flagTree1M = flag.Bool("tree1m", false, "build a 1M-znode tree for the read benchmarks (default 100k; env KEEPER_TREE1M=1 too)")

// BenchmarkApplyCreate applies creates of 100-byte znodes, each its own entry,
// in groups of 1, 64 and 1024 entries; it reports creates/s.
func BenchmarkApplyCreate(b *testing.B) {
	for _, group := range []int{1, 64, 1024} {
		b.Run(fmt.Sprintf("group=%d", group), func(b *testing.B) {
			h := newHarness(b)
			h.must(CreateOp("/b", nil, Persistent))
			data := make([]byte, 100)
			ents := make([]committed, b.N)
			first := h.tr.applied() + 1
			for i := range ents {
				r := request{Time: int64(i), Ops: []Op{CreateOp(fmt.Sprintf("/b/n%09d", i), data, Persistent)}}
				ents[i] = committed{Index: first + uint64(i), Kind: entryOp, Data: appendRequest(nil, &r)}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < len(ents); i += group {
				res, err := h.tr.apply(ents[i:min(i+group, len(ents))])
				if err != nil {
					b.Fatal(err)
				}
				if res[0].Err != nil {
					b.Fatal(res[0].Err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
		})
	}
}

// bigTree builds /big/dNNN/nNNNNN: 100k znodes (1M with -tree1m), 1000 per
// directory, and reports the bytes per znode on disk after a flush.
func bigTree(b *testing.B) (h *harness, dirs int, bytesPerZnode float64) {
	b.Helper()
	total := 100_000
	if *flagTree1M || os.Getenv("KEEPER_TREE1M") != "" {
		total = 1_000_000
	}
	h = newHarness(b)
	h.must(CreateOp("/big", nil, Persistent))
	dirs = total / 1000
	data := make([]byte, 100)
	var ents []committed
	push := func(op Op) {
		r := request{Time: 1, Ops: []Op{op}}
		ents = append(ents, committed{Index: h.tr.applied() + 1 + uint64(len(ents)), Kind: entryOp, Data: appendRequest(nil, &r)})
		if len(ents) == 1024 {
			flushEnts(b, h, ents)
			ents = ents[:0]
		}
	}
	for d := range dirs {
		push(CreateOp(fmt.Sprintf("/big/d%03d", d), nil, Persistent))
		for n := range 1000 {
			push(CreateOp(fmt.Sprintf("/big/d%03d/n%05d", d, n), data, Persistent))
		}
	}
	flushEnts(b, h, ents)
	if err := h.st.Flush(); err != nil {
		b.Fatal(err)
	}
	return h, dirs, float64(h.st.DiskBytes()) / float64(total+dirs)
}

func flushEnts(b *testing.B, h *harness, ents []committed) {
	if len(ents) == 0 {
		return
	}
	if _, err := h.tr.apply(ents); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkGet reads random znodes of the big tree (one point lookup each).
// It also reports the tree's bytes per znode on disk, after a flush.
func BenchmarkGet(b *testing.B) {
	h, dirs, perZnode := bigTree(b)
	paths := make([]string, 4096)
	for i := range paths {
		paths[i] = fmt.Sprintf("/big/d%03d/n%05d", (i*7919)%dirs, (i*104729)%1000)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, _, err := h.tr.get(paths[i%len(paths)], nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(perZnode, "disk-bytes/znode")
}

// BenchmarkChildren lists a 1000-child directory of the big tree.
func BenchmarkChildren(b *testing.B) {
	h, dirs, _ := bigTree(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		names, _, err := h.tr.children(fmt.Sprintf("/big/d%03d", i%dirs), nil)
		if err != nil || len(names) != 1000 {
			b.Fatal(len(names), err)
		}
	}
}
