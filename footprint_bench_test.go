package keeper

import (
	"context"
	"testing"
)

// BenchmarkFootprint is the tree scan behind Node.Footprint (and so behind
// zkserver's srvr, stat, mntr, conf and dirs): one pass over every znode,
// the ephemeral index and the session table of a Pebble snapshot.
func BenchmarkFootprint(b *testing.B) {
	for _, n := range benchSizes() {
		h := benchTree(b, n)
		b.Run(benchName(n), func(b *testing.B) {
			for b.Loop() {
				snap := h.tr.newSnapshot()
				var fp Footprint
				err := countImage(context.Background(), snap, &fp)
				snap.Close()
				if err != nil {
					b.Fatal(err)
				}
				if fp.Znodes < int64(n) {
					b.Fatalf("counted %d znodes of %d", fp.Znodes, n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/znode")
		})
	}
}
