package keeper

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkPropose measures writes through the raft loop on a 3-member
// in-process cluster with real WAL fsyncs and the test state machine, at 1,
// 16 and 64 concurrent callers, all proposing through the leader.
//
//	go test -run '^$' -bench BenchmarkPropose -benchtime 3s .
func BenchmarkPropose(b *testing.B) {
	for _, callers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			c := newTestCluster(b, 3, nil)
			leader := c.waitLeader()
			payload := make([]byte, 100)
			var next atomic.Int64
			var wg sync.WaitGroup
			ctx := context.Background()
			b.ResetTimer()
			start := time.Now()
			for w := 0; w < callers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						if _, err := leader.propose(ctx, payload); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
		})
	}
}
