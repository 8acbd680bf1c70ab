package keeper_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

// BenchmarkNodeCreate measures acknowledged 100-byte creates through the Node
// API on a 3-member in-process cluster with fsync on, at 1, 16 and 64
// concurrent callers spread over all members (followers forward to the
// leader), and reports creates/s.
//
//	go test -run '^$' -bench BenchmarkNodeCreate -benchtime 20000x .
func BenchmarkNodeCreate(b *testing.B) {
	for _, callers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			c := keepertest.NewCluster(b, 3)
			ctx := context.Background()
			leader := c.Leader()
			if _, err := leader.Create(ctx, "/b", nil, keeper.Persistent); err != nil {
				b.Fatal(err)
			}
			nodes := c.Nodes()
			data := make([]byte, 100)
			var next atomic.Int64
			var failed atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for w := 0; w < callers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					n := nodes[w%len(nodes)]
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						if _, err := n.Create(ctx, "/b/k-", data, keeper.PersistentSequential); err != nil {
							failed.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			if f := failed.Load(); f > 0 {
				b.Fatalf("%d of %d creates failed", f, b.N)
			}
			b.ReportMetric(float64(b.N)/el.Seconds(), "creates/s")
		})
	}
}

// BenchmarkNodeGet measures local Gets of a 100-byte znode at 16 concurrent
// callers on one member of a 3-member cluster, and reports gets/s.
//
//	go test -run '^$' -bench 'BenchmarkNodeGet' -benchtime 1000000x .
func BenchmarkNodeGet(b *testing.B) {
	c := keepertest.NewCluster(b, 3)
	ctx := context.Background()
	n := c.Leader()
	for i := 0; i < 1000; i++ {
		if _, err := n.Create(ctx, fmt.Sprintf("/g%d", i), make([]byte, 100), keeper.Persistent); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if _, _, err := n.Get(ctx, fmt.Sprintf("/g%d", i%1000)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "gets/s")
}

// BenchmarkFailover kills the leader of a 3-member cluster while a caller
// writes through a surviving member, and reports the time from the kill to
// the next acknowledged write (median over b.N kills).
//
//	go test -run '^$' -bench 'BenchmarkFailover' -benchtime 10x .
func BenchmarkFailover(b *testing.B) {
	b.Run("default", func(b *testing.B) { benchFailover(b, nil) })
	// The low-latency setting of docs/DESIGN.md: a 5 ms tick, so an
	// election starts 50–100 ms after the leader is last heard from.
	b.Run("tick=5ms", func(b *testing.B) {
		benchFailover(b, func(cfg *keeper.Config) { cfg.TickInterval = 5 * time.Millisecond })
	})
}

func benchFailover(b *testing.B, config func(*keeper.Config)) {
	var opts []keepertest.Option
	if config != nil {
		opts = append(opts, keepertest.WithConfig(config))
	}
	c := keepertest.NewCluster(b, 3, opts...)
	ctx := context.Background()
	if _, err := c.Leader().Create(ctx, "/f", nil, keeper.Persistent); err != nil {
		b.Fatal(err)
	}
	var gaps []time.Duration
	for i := 0; i < b.N; i++ {
		leader := c.Leader()
		id := leader.ID()
		writer := c.Node(c.Others(id)[0])
		if _, err := writer.Create(ctx, "/f/x-", nil, keeper.PersistentSequential); err != nil {
			b.Fatal(err)
		}
		killed := time.Now()
		c.Kill(id)
		for {
			wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			_, err := writer.Create(wctx, "/f/x-", nil, keeper.PersistentSequential)
			cancel()
			if err == nil {
				break
			}
			if !errors.Is(err, keeper.ErrNoLeader) && !errors.Is(err, keeper.ErrIndeterminate) && !errors.Is(err, context.DeadlineExceeded) {
				b.Fatal(err)
			}
			time.Sleep(time.Millisecond)
		}
		gaps = append(gaps, time.Since(killed))
		c.Restart(id)
		c.WaitConverged()
	}
	sort.Slice(gaps, func(i, j int) bool { return gaps[i] < gaps[j] })
	b.ReportMetric(gaps[len(gaps)/2].Seconds()*1000, "ms-to-write(p50)")
	b.ReportMetric(gaps[len(gaps)-1].Seconds()*1000, "ms-to-write(max)")
}
