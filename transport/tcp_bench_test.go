package transport

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkTCPSend measures Send→deliver over mutual TLS on loopback: one
// op is one frame sent by member 1 and delivered at member 2, with at most
// 1024 frames or 16 MiB in flight (so none is dropped). Allocations per op count
// both ends (the receiver allocates each delivered frame, which deliver
// then owns). Run with -benchmem.
func BenchmarkTCPSend(b *testing.B) {
	for _, bc := range []struct {
		name string
		typ  uint64
		size int
	}{
		{"control-64B", typHeartbeat, 64},
		{"data-1KiB", typApp, 1 << 10},
		{"data-64KiB", typApp, 64 << 10},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := newPKI(b, testCluster)
			nodes := benchNetwork(b, p)
			var got atomic.Int64
			nodes[2].tcp.Attach(func(uint64, []byte) { got.Add(1) })
			frame := testFrame(testCluster, bc.typ, 1, bc.size)
			// In flight: at most 1024 frames and 16 MiB, well inside the
			// queue bounds.
			window := int64(min(1024, (16<<20)/len(frame)))
			dropped := func() uint64 {
				s := nodes[1].tcp.Stats()
				return s.Control.Dropped + s.Data.Dropped
			}
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				for int64(i)-got.Load() > window {
					runtime.Gosched()
				}
				nodes[1].tcp.Send(2, frame)
			}
			for got.Load() < int64(b.N) {
				if d := dropped(); d != 0 {
					b.Fatalf("%d frames dropped", d)
				}
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
		})
	}
}

// benchNetwork is network for benchmarks: two members, both lanes up.
func benchNetwork(b *testing.B, p *pki) map[uint64]*node {
	b.Helper()
	nodes := networkTB(b, p, []uint64{1, 2}, nil)
	waitUp(b, nodes)
	return nodes
}
