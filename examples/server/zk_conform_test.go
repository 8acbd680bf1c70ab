package main

import (
	"cmp"
	"os"
	"testing"
	"time"

	"github.com/keeper-go/keeper/internal/zkconform"
)

// The conformance of keeper's ZooKeeper protocol with ZooKeeper's own
// client families, each against keeper member processes as it runs
// against Apache ZooKeeper in internal/zkconform: kazoo, zkCli, Curator
// (while a member is killed and restarted) and go-zookeeper v1.0.4's own
// integration tests. Short versions run by default; with -short=false and
// KEEPER_CONFORM_LONG=1 the long ones.

// zkEnsemble is a procCluster as the conformance harness drives it.
type zkEnsemble struct{ c *procCluster }

func (e zkEnsemble) Addrs() []string {
	var out []string
	for _, id := range e.c.ids {
		out = append(out, e.c.zkAddr(id))
	}
	return out
}

func (e zkEnsemble) Kill(t testing.TB, i int) { e.c.kill(e.c.ids[i]) }

func (e zkEnsemble) Restart(t testing.TB, i int) {
	e.c.restart(e.c.ids[i])
	e.c.converged(60 * time.Second)
}

// Leader is the index of the member that leads now.
func (e zkEnsemble) Leader() int {
	lead := e.c.leader(30 * time.Second)
	for i, id := range e.c.ids {
		if id == lead {
			return i
		}
	}
	return 0
}

func TestZooKeeperClientKazoo(t *testing.T) {
	c := startZKCluster(t, 3)
	c.converged(30 * time.Second)
	zkconform.RunKazoo(t, zkEnsemble{c}, zkconform.Long())
}

func TestZooKeeperClientZkCli(t *testing.T) {
	c := startZKCluster(t, 1)
	c.converged(30 * time.Second)
	zkconform.RunZkCli(t, zkEnsemble{c}, zkconform.EmptyForNullData)
}

func TestZooKeeperClientCurator(t *testing.T) {
	c := startZKCluster(t, 3)
	c.converged(30 * time.Second)
	zkconform.RunCurator(t, zkEnsemble{c}, zkconform.Long())
}

func TestZooKeeperClientGoZookeeper(t *testing.T) {
	zkconform.RunGoZookeeper(t, zkconform.GoZookeeperOptions{
		ServerBin: serverBinary(t),
		Long:      zkconform.Long(),
		Run:       os.Getenv("KEEPER_CONFORM_RUN"),
		KnownFailures: map[string]string{
			"TestIntegration_Reconfig":            "keeper refuses ZooKeeper's reconfig (UNIMPLEMENTED): membership changes are Node.AddMember, RemoveMember and PromoteMember",
			"TestIntegration_IncrementalReconfig": "keeper refuses ZooKeeper's reconfig (UNIMPLEMENTED): membership changes are Node.AddMember, RemoveMember and PromoteMember",
		},
		Env: []string{"KEEPER_ZK_LOG_LEVEL=" + cmp.Or(os.Getenv("KEEPER_ZK_LOG_LEVEL"), "warn")},
	})
}
