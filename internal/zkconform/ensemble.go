package zkconform

import (
	"os"
	"strings"
	"testing"
)

// Ensemble is the ZooKeeper service a conformance run drives.
//
// Addrs returns the client addresses of its members, "127.0.0.1:port", in
// the order of the indexes Kill and Restart take. Kill ends member i as a
// crash would (the process killed, nothing flushed beyond what it already
// made durable) and returns once it no longer serves; Restart starts it
// again on the same address and data and returns once it serves clients
// again. Both fail t when they cannot do so. They are called from the
// test's goroutine while clients are running.
type Ensemble interface {
	Addrs() []string
	Kill(t testing.TB, i int)
	Restart(t testing.TB, i int)
}

// LongEnv is the environment variable that, set to 1 together with
// -short=false, selects the long versions of the conformance runs.
const LongEnv = "KEEPER_CONFORM_LONG"

// Long reports whether the long versions of the runs were asked for: the
// test binary runs with -short=false and LongEnv is "1".
func Long() bool {
	return !testing.Short() && os.Getenv(LongEnv) == "1"
}

// hosts is the connection string the clients take: the addresses joined by
// commas.
func hosts(e Ensemble) string {
	return strings.Join(e.Addrs(), ",")
}

// require skips t when err says a client family cannot run here, or fails
// it when the environment has CI=true, with the package that brings it.
func require(t testing.TB, err error, install string) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%v (CI=true: install %s)", err, install)
	}
	t.Skipf("%v; install %s to run this test", err, install)
}
