package keeper_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkWriteMetrics measures acknowledged 100-byte creates at 16
// concurrent callers spread over a 3-member in-process cluster with fsync
// on, with no collector registered (off) and with every member's collector
// registered on a registry gathered every 10 ms while the writes run
// (registered; a scrape is usually every 15 s), and reports creates/s.
// The write path should cost the same in both: compare the two in one run,
// several times over.
//
//	go test -run '^$' -bench BenchmarkWriteMetrics -benchtime 3000x -count 6 .
func BenchmarkWriteMetrics(b *testing.B) {
	for _, mode := range []string{"off", "registered"} {
		b.Run(mode, func(b *testing.B) {
			c := keepertest.NewCluster(b, 3)
			ctx := context.Background()
			if _, err := c.Leader().Create(ctx, "/b", nil, keeper.Persistent); err != nil {
				b.Fatal(err)
			}
			nodes := c.Nodes()
			stop := make(chan struct{})
			var scraper sync.WaitGroup
			var gathers atomic.Int64
			if mode == "registered" {
				reg := prometheus.NewRegistry()
				for _, n := range nodes {
					reg.MustRegister(n.Collector())
				}
				scraper.Add(1)
				go func() {
					defer scraper.Done()
					t := time.NewTicker(10 * time.Millisecond)
					defer t.Stop()
					for {
						select {
						case <-stop:
							return
						case <-t.C:
							if _, err := reg.Gather(); err != nil {
								b.Error(err)
								return
							}
							gathers.Add(1)
						}
					}
				}()
			}
			data := make([]byte, 100)
			var next, failed atomic.Int64
			var wg sync.WaitGroup
			const callers = 16
			b.ResetTimer()
			start := time.Now()
			for w := 0; w < callers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					n := nodes[w%len(nodes)]
					for next.Add(1) <= int64(b.N) {
						if _, err := n.Create(ctx, "/b/k-", data, keeper.PersistentSequential); err != nil {
							failed.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			close(stop)
			scraper.Wait()
			if f := failed.Load(); f > 0 {
				b.Fatalf("%d of %d creates failed", f, b.N)
			}
			b.ReportMetric(float64(b.N)/el.Seconds(), "creates/s")
			if mode == "registered" {
				b.ReportMetric(float64(gathers.Load())/el.Seconds(), "gathers/s")
			}
		})
	}
}
