package keeper_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkWriteMetrics measures acknowledged 100-byte creates at 16
// concurrent callers spread over a 3-member in-process cluster with fsync
// on, in rounds of 500 that alternate between no scrape (off: what a host
// that registers no collector gets, since the meters count either way) and
// every member's collector gathered from a registry every 100 ms while the
// round runs (registered; a scrape is usually every 15 s, and each gather
// costs CPU the writes share: see BenchmarkMetricsGather). Alternating on
// one cluster, in the order off, registered, registered, off, keeps the
// machine's drift and the tree's growth out of the comparison. It reports
// the mean time per create of each mode and their ratio, registered/off,
// which should be 1 within noise.
//
//	go test -run '^$' -bench BenchmarkWriteMetrics -benchtime 20000x -count 3 .
func BenchmarkWriteMetrics(b *testing.B) {
	const (
		callers = 16
		round   = 500
		// every is the scrape interval of the registered rounds.
		every = 100 * time.Millisecond
	)
	c := keepertest.NewCluster(b, 3)
	ctx := context.Background()
	if _, err := c.Leader().Create(ctx, "/b", nil, keeper.Persistent); err != nil {
		b.Fatal(err)
	}
	nodes := c.Nodes()
	reg := prometheus.NewRegistry()
	for _, n := range nodes {
		reg.MustRegister(n.Collector())
	}
	data := make([]byte, 100)
	writeRound := func(k int) time.Duration { return createRound(b, nodes, callers, k, data) }
	// scrape gathers reg every interval until the returned stop is called.
	var gathers atomic.Int64
	scrape := func() (stop func()) {
		return repeat(every, func() bool {
			if _, err := reg.Gather(); err != nil {
				b.Error(err)
				return false
			}
			gathers.Add(1)
			return true
		})
	}

	var spent [2]time.Duration // off, registered
	var writes [2]int
	b.ResetTimer()
	for i, done := 0, 0; done < b.N; i++ {
		// off, registered, registered, off, ...: a cluster that slows as
		// its tree grows weighs on both modes alike.
		mode, k := (i+1)/2%2, min(round, b.N-done)
		if mode == 1 {
			stop := scrape()
			spent[mode] += writeRound(k)
			stop()
		} else {
			spent[mode] += writeRound(k)
		}
		writes[mode] += k
		done += k
	}
	b.StopTimer()
	if writes[0] == 0 || writes[1] == 0 {
		return // too few writes for both modes
	}
	off := float64(spent[0].Nanoseconds()) / float64(writes[0])
	on := float64(spent[1].Nanoseconds()) / float64(writes[1])
	b.ReportMetric(off, "off-ns/create")
	b.ReportMetric(on, "registered-ns/create")
	b.ReportMetric(on/off, "registered/off")
	b.ReportMetric(float64(gathers.Load())/spent[1].Seconds(), "gathers/s")
}

// BenchmarkMetricsGather measures one gather of a registry holding one
// member's collector: the CPU a scrape of a member costs.
//
//	go test -run '^$' -bench BenchmarkMetricsGather .
func BenchmarkMetricsGather(b *testing.B) {
	c := keepertest.NewCluster(b, 1)
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.Leader().Collector())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
