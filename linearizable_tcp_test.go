package keeper_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestLinearizableTreeTCP runs the porcupine check of linearizable_tree_test.go
// over transport.TCP with mutual TLS on loopback: every link between two
// members goes through a proxy that delays and cuts connections, and the
// nemesis's partitions stall a link's connections (half-open: nothing
// arrives, nothing is closed) or reset them, besides killing and
// restarting members. KEEPER_LIN_RUNS and KEEPER_LIN_SEED work as for the
// in-memory runs.
func TestLinearizableTreeTCP(t *testing.T) {
	testLinearizableTree(t, 3, linRuns(t, 1, 5), linTCPRun)
}

// linTCPRun runs one seeded history on a tcpCluster.
func linTCPRun(t *testing.T, members int, seed int64, dur time.Duration) (int, int) {
	c := newTCPCluster(t, members, tcpOptions{seed: seed, config: linConfig, proxied: true})
	return linHistory(t, c, members, seed, dur, func(rng *rand.Rand) (string, func()) {
		jitter := time.Duration(rng.IntN(3)) * time.Millisecond
		cut := []float64{0, 0.001, 0.01}[rng.IntN(3)]
		c.Weather(0, jitter, cut)
		return fmt.Sprintf("jitter %v, cut %v per chunk", jitter, cut), func() { c.Weather(0, 0, 0) }
	})
}
