package keeper_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

// BenchmarkSessionCreateClose measures a session's create and close, each
// one raft entry, on a 3-member cluster, from the leader and a follower.
func BenchmarkSessionCreateClose(b *testing.B) {
	c := keepertest.NewCluster(b, 3)
	ctx := context.Background()
	leader := c.Leader()
	for _, tc := range []struct {
		name string
		n    *keeper.Node
	}{{"leader", leader}, {"follower", c.Node(c.Others(leader.ID())[0])}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				s, err := tc.n.NewSession(ctx, keeper.SessionOptions{})
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Close(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWatchFanout10k sets /hot once per iteration with 10,000
// persistent watches on it (100 sessions × 100 watches) and measures the
// time from the Set call until the last watcher has received its event;
// p99-ms is the 99th percentile over the iterations.
func BenchmarkWatchFanout10k(b *testing.B) {
	c := keepertest.NewCluster(b, 1)
	ctx := context.Background()
	n := c.Node(1)
	if _, err := n.Create(ctx, "/hot", nil, keeper.Persistent); err != nil {
		b.Fatal(err)
	}
	var watches []*keeper.Watch
	for range 100 {
		s, err := n.NewSession(ctx, keeper.SessionOptions{WatchBuffer: 4})
		if err != nil {
			b.Fatal(err)
		}
		for range 100 {
			w, err := s.AddWatch(ctx, "/hot", keeper.PersistentWatch)
			if err != nil {
				b.Fatal(err)
			}
			watches = append(watches, w)
		}
	}
	// One receiver goroutine per 100 watchers, as hosts would spread them.
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		var wg sync.WaitGroup
		var last atomic.Int64
		for i := 0; i < len(watches); i += 100 {
			wg.Add(1)
			go func(ws []*keeper.Watch) {
				defer wg.Done()
				for _, w := range ws {
					if ev := <-w.Events(); ev.Type != keeper.NodeDataChanged {
						panic(fmt.Sprintf("event %+v", ev))
					}
				}
				d := int64(time.Since(start))
				for {
					old := last.Load()
					if d <= old || last.CompareAndSwap(old, d) {
						break
					}
				}
			}(watches[i : i+100])
		}
		if _, err := n.Set(ctx, "/hot", nil, -1); err != nil {
			b.Fatal(err)
		}
		wg.Wait()
		lat = append(lat, time.Duration(last.Load()))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
}

// BenchmarkRecursiveWatchThroughput runs 16 concurrent writers against a
// 3-member cluster, through every member, while one consumer drains a
// persistent recursive watch on the follower; it reports the events per
// second received and fails on an overflow.
func BenchmarkRecursiveWatchThroughput(b *testing.B) {
	c := keepertest.NewCluster(b, 3)
	ctx := context.Background()
	leader := c.Leader()
	if _, err := leader.Create(ctx, "/load", nil, keeper.Persistent); err != nil {
		b.Fatal(err)
	}
	for i := range 16 {
		if _, err := leader.Create(ctx, fmt.Sprintf("/load/k%d", i), nil, keeper.Persistent); err != nil {
			b.Fatal(err)
		}
	}
	watcher := c.Node(c.Others(leader.ID())[0])
	if err := watcher.Sync(ctx, "/"); err != nil {
		b.Fatal(err)
	}
	s, err := watcher.NewSession(ctx, keeper.SessionOptions{})
	if err != nil {
		b.Fatal(err)
	}
	w, err := s.AddWatch(ctx, "/load", keeper.PersistentRecursive)
	if err != nil {
		b.Fatal(err)
	}
	var received atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.Events() {
			if ev.Type == keeper.WatchOverflowed {
				b.Error("recursive watch overflowed under load")
				return
			}
			if ev.Type == keeper.NodeDataChanged {
				received.Add(1)
			}
		}
	}()
	nodes := c.Nodes()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	total := int64(b.N)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := nodes[i%len(nodes)]
			for next.Add(1) <= total {
				if _, err := n.Set(ctx, fmt.Sprintf("/load/k%d", i), []byte("v"), -1); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for received.Load() < total && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	b.StopTimer()
	if got := received.Load(); got != total {
		b.Fatalf("received %d of %d events", got, total)
	}
	b.ReportMetric(float64(total)/el.Seconds(), "events/s")
	if err := s.Close(ctx); err != nil {
		b.Fatal(err)
	}
	<-done
}
