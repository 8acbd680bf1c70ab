package keeper_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

// writers create znodes through the cluster's leader until halted,
// counting the successes: the load beside a repair, a check or a snapshot.
type writers struct {
	n    atomic.Int64
	stop chan struct{}
	wg   sync.WaitGroup
}

// startWriters starts k writers creating znodes named prefix-<writer>-<i>.
// A create that fails (no leader, a leader change) is retried after a
// pause, each bounded by a second.
func startWriters(c *keepertest.Cluster, prefix string, k int) *writers {
	w := &writers{stop: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	w.wg.Go(func() {
		<-w.stop
		cancel()
	})
	for g := range k {
		w.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-w.stop:
					return
				default:
				}
				l := c.Leader()
				if l == nil {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				wctx, wcancel := context.WithTimeout(ctx, time.Second)
				_, err := l.Create(wctx, fmt.Sprintf("%s-%02d-%06d", prefix, g, i), []byte("v"), keeper.Persistent)
				wcancel()
				if err == nil {
					w.n.Add(1)
				} else {
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
	return w
}

// halt stops the writers and waits for them.
func (w *writers) halt() {
	close(w.stop)
	w.wg.Wait()
}

// envInt is the integer in environment variable name, or def if unset.
func envInt(tb testing.TB, name string, def int) int {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		tb.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}

// createRound makes k sequential creates of data under /b, spread over
// nodes by callers concurrent callers, and returns how long they took; any
// failure fails the benchmark. The side-by-side benchmarks run rounds of it.
func createRound(b *testing.B, nodes []*keeper.Node, callers, k int, data []byte) time.Duration {
	b.Helper()
	ctx := context.Background()
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := nodes[w%len(nodes)]
			for next.Add(1) <= int64(k) {
				if _, err := n.Create(ctx, "/b/k-", data, keeper.PersistentSequential); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d creates failed", f, k)
	}
	return time.Since(start)
}

// repeat calls f every interval on a goroutine of its own until f returns
// false or the returned stop is called; stop waits for it.
func repeat(interval time.Duration, f func() bool) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if !f() {
					return
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
