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
// in-process cluster with real WAL fsyncs and real trees (each write sets
// 100 bytes on one znode), at 1, 16 and 64 concurrent callers, all
// proposing through the leader.
//
//	go test -run '^$' -bench BenchmarkPropose -benchtime 3s .
func BenchmarkPropose(b *testing.B) {
	for _, callers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			c := newTestCluster(b, 3, nil)
			leader := c.waitLeader()
			mustPropose(b, leader, "b")
			payload := opReq(SetOp("/b", make([]byte, 100), AnyVersion))
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
						if res, err := leader.propose(ctx, payload); err != nil || res.Err != nil {
							b.Error(err, res)
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
