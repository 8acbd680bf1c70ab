package zkconform

import (
	"flag"
	"testing"
	"time"

	"github.com/keeper-go/keeper/internal/leakcheck"
	"github.com/keeper-go/keeper/internal/realzk"
)

// realOptions are the settings every real ZooKeeper of these tests runs
// with: TTL znodes enabled, a super user, and a short tick so that
// sessions of clients on a killed member move quickly.
func realOptions() realzk.Options {
	return realzk.Options{
		ExtendedTypes: true,
		SuperDigest:   "super:D/InIHSb7yEEbrWz8b9l71RjZJU=", // password "test"
		TickTime:      500 * time.Millisecond,
	}
}

// TestKazooRealZooKeeper runs the kazoo scripts against a three-member
// ZooKeeper 3.8 quorum, which makes them the reference for any other
// service.
func TestKazooRealZooKeeper(t *testing.T) {
	t.Cleanup(leakcheck.Start(t))
	e := realzk.StartEnsemble(t, 3, realOptions())
	RunKazoo(t, e, Long())
}

// update rewrites the zkCli golden files from real ZooKeeper's output.
var update = flag.Bool("update", false, "rewrite testdata/zkcli/*.golden from real ZooKeeper's output")

// TestZkCliRealZooKeeper runs the zkCli scripts against a standalone
// ZooKeeper 3.8 and compares their transcripts with the golden files
// (-update rewrites them).
func TestZkCliRealZooKeeper(t *testing.T) {
	t.Cleanup(leakcheck.Start(t))
	e := realzk.StartEnsemble(t, 1, realOptions())
	runZkCli(t, e, *update)
}

// TestCuratorRealZooKeeper runs the Curator recipes against a three-member
// ZooKeeper 3.8 quorum while its leader is killed and restarted.
func TestCuratorRealZooKeeper(t *testing.T) {
	t.Cleanup(leakcheck.Start(t))
	e := realzk.StartEnsemble(t, 3, realOptions())
	RunCurator(t, e, Long())
}

// TestGoZookeeperRealZooKeeper runs go-zookeeper/zk's integration tests
// against ZooKeeper 3.8 started by the zkServer.sh stand-in. All 28
// (TestIntegration_*) pass against it, with the harness's readiness check
// in place of FLWSrvr (see patchHealthCheck); none is a known failure.
func TestGoZookeeperRealZooKeeper(t *testing.T) {
	t.Cleanup(leakcheck.Start(t))
	RunGoZookeeper(t, GoZookeeperOptions{Long: Long()})
}
