package keeper_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

// BenchmarkArchiveWrites measures acknowledged 100-byte creates at 64
// concurrent callers spread over a 3-member in-process cluster with fsync
// on, side by side on two clusters in one run: one without an archive and
// one archiving to a directory with the default SyncEvery (1 s), in rounds
// of 2,000 that alternate off, archived, archived, off. It reports the mean
// time per create of each, their ratio archived/off (the cost of
// archiving), and the archive's lag while the archived cluster writes:
// ArchiveLagTime sampled every 10 ms on its leader, p99 and max, which
// bound the recovery point under load. With KEEPER_ARCHIVE_ACK=1 the
// archived cluster acknowledges writes only once archived (AckArchived).
//
//	go test -run '^$' -bench BenchmarkArchiveWrites -benchtime 40000x .
func BenchmarkArchiveWrites(b *testing.B) {
	const (
		callers = 64
		round   = 2000
	)
	ack := os.Getenv("KEEPER_ARCHIVE_ACK") == "1"
	ctx := context.Background()
	off := keepertest.NewCluster(b, 3)
	on := keepertest.NewCluster(b, 3, keepertest.WithConfig(func(cfg *keeper.Config) {
		cfg.Archive = &keeper.ArchiveConfig{Target: keeper.DirTarget(filepath.Join(b.TempDir(), "archive")), AckArchived: ack}
	}))
	for _, c := range []*keepertest.Cluster{off, on} {
		if _, err := c.WaitLeader().Create(ctx, "/b", nil, keeper.Persistent); err != nil {
			b.Fatal(err)
		}
	}
	data := make([]byte, 100)
	writeRound := func(c *keepertest.Cluster, k int) time.Duration { return createRound(b, c.Nodes(), callers, k, data) }
	// sample records the archived cluster's lag every 10 ms until stopped.
	var lags []time.Duration
	sample := func() (stop func()) {
		return repeat(10*time.Millisecond, func() bool {
			lags = append(lags, on.WaitLeader().Status().ArchiveLagTime)
			return true
		})
	}
	var spent [2]time.Duration
	var writes [2]int
	b.ResetTimer()
	for i, done := 0, 0; done < b.N; i++ {
		mode, k := (i+1)/2%2, min(round, b.N-done)
		if mode == 1 {
			stop := sample()
			spent[mode] += writeRound(on, k)
			stop()
		} else {
			spent[mode] += writeRound(off, k)
		}
		writes[mode] += k
		done += k
	}
	b.StopTimer()
	if writes[0] == 0 || writes[1] == 0 {
		return
	}
	offNs := float64(spent[0].Nanoseconds()) / float64(writes[0])
	onNs := float64(spent[1].Nanoseconds()) / float64(writes[1])
	b.ReportMetric(offNs, "off-ns/create")
	b.ReportMetric(onNs, "archived-ns/create")
	b.ReportMetric(onNs/offNs, "archived/off")
	if len(lags) > 0 {
		slices.Sort(lags)
		b.ReportMetric(lags[len(lags)*99/100].Seconds(), "lag-p99-s")
		b.ReportMetric(lags[len(lags)-1].Seconds(), "lag-max-s")
	}
}
