package zkserver_test

import (
	"context"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/benchreport"
	"github.com/keeper-go/keeper/internal/jute"
)

// BenchmarkProtocolWatchFanout sets a one-shot data watch on one znode from
// each of KEEPER_BENCH_ZK_WATCHERS (4,000; both ends of every connection
// are in this process) raw client connections to one follower of a
// three-member cluster in one process, changes the znode on the leader,
// and reports the latency from the change's call to each watcher's
// notification: p50, p99, max. It is examples/server's
// BenchmarkZooKeeperWatchFanout in one process, for profiles.
//
//	go test -run '^$' -bench BenchmarkProtocolWatchFanout -benchtime 5x ./zkserver
func BenchmarkProtocolWatchFanout(b *testing.B) {
	n := 4000
	if s := os.Getenv("KEEPER_BENCH_ZK_WATCHERS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			b.Fatalf("bad KEEPER_BENCH_ZK_WATCHERS=%q", s)
		}
		n = v
	}
	e := newEnsemble(b, 3)
	lead := e.c.Leader()
	member := e.c.Others(lead.ID())[0]
	ctx := context.Background()
	if _, err := lead.Create(ctx, "/fan", nil, keeper.Persistent); err != nil {
		b.Fatal(err)
	}
	if err := e.c.Node(member).Sync(ctx, "/fan"); err != nil {
		b.Fatal(err)
	}
	watchers := make([]*rawClient, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range watchers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c := dialRaw(b, e.addrs[member])
			c.session(40000)
			_ = c.nc.SetDeadline(time.Time{})
			watchers[i] = c
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	var all []time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		for _, w := range watchers {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if h, _, ok := w.call(jute.OpGetData, &jute.PathWatchRecord{Path: "/fan", Watch: true}); !ok || h.Err != jute.CodeOK {
					b.Errorf("getData: %+v", h)
				}
			}()
		}
		wg.Wait()
		arrived := make([]time.Time, n)
		for i, w := range watchers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				pkt, err := w.read()
				var h jute.ReplyHeader
				if err == nil {
					err = jute.NewDecoder(pkt).Decode(&h)
				}
				if err != nil || h.Xid != jute.XidNotification {
					b.Errorf("watcher %d: %+v %v", i, h, err)
					return
				}
				arrived[i] = time.Now()
			}()
		}
		b.StartTimer()
		t0 := time.Now()
		if _, err := lead.Set(ctx, "/fan", []byte("x"), -1); err != nil {
			b.Fatal(err)
		}
		wg.Wait()
		for _, t := range arrived {
			all = append(all, t.Sub(t0))
		}
	}
	benchreport.Latencies(b, all)
	b.ReportMetric(0, "ns/op")
}
