package keeper_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
	"github.com/keeper-go/keeper/transport"
)

// TestRecoverQuorum3 kills two of three members; the survivor, recovered
// as a one-member cluster, serves every write acknowledged through it.
func TestRecoverQuorum3(t *testing.T) { testRecoverQuorum(t, 3, []uint64{3}) }

// TestRecoverQuorum5 kills three of five members; the two survivors form
// the new cluster: the one with the highest applied index is recovered, the
// other restored from its backup (docs/RUNBOOK.md, "Quorum lost").
func TestRecoverQuorum5(t *testing.T) { testRecoverQuorum(t, 5, []uint64{4, 5}) }

func testRecoverQuorum(t *testing.T, size int, survivors []uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := keepertest.NewCluster(t, size)
	// Acknowledged writes through a survivor, each confirmed there.
	through := c.Node(survivors[len(survivors)-1])
	if _, err := through.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	paths := writeAcknowledged(ctx, t, through, 30)
	// Kill the majority, then the survivors.
	for _, id := range c.Others(survivors...) {
		c.Kill(id)
	}
	best, bestApplied := survivors[0], keeper.Zxid(0)
	for _, id := range survivors {
		if a := c.Node(id).Status().Applied; a >= bestApplied {
			best, bestApplied = id, a
		}
		c.Kill(id)
	}

	// Members still a majority of the old voters: refused without Force.
	if size == 5 {
		_, err := keeper.RecoverQuorum(ctx, c.Dir(best), keeper.RecoverOptions{ID: best, Members: []uint64{1, 4, 5}})
		if !errors.Is(err, keeper.ErrQuorumIntact) {
			t.Fatalf("RecoverQuorum with a majority named: %v, want ErrQuorumIntact", err)
		}
	}
	if _, err := keeper.RecoverQuorum(ctx, c.Dir(best), keeper.RecoverOptions{ID: best, Members: []uint64{best, 99}}); !errors.Is(err, keeper.ErrUnknownMember) {
		t.Fatalf("RecoverQuorum naming a stranger: %v, want ErrUnknownMember", err)
	}
	info, err := keeper.RecoverQuorum(ctx, c.Dir(best), keeper.RecoverOptions{ID: best, Members: survivors})
	if err != nil {
		t.Fatalf("RecoverQuorum: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(info.OldDir) })
	if info.Zxid < bestApplied {
		t.Fatalf("recovered at zxid %d, the survivor had applied %d", info.Zxid, bestApplied)
	}

	net := transport.NewMemory(1)
	defer net.Close()
	open := func(id uint64) *keeper.Node {
		n, err := keeper.Open(ctx, keeper.Config{ID: id, Dir: c.Dir(id), Peers: survivors, Transport: net.Endpoint(id)})
		if err != nil {
			t.Fatalf("open %d: %v", id, err)
		}
		return n
	}
	nb := open(best)
	defer nb.Close()
	nodes := []*keeper.Node{nb}
	for _, id := range survivors {
		if id == best {
			continue
		}
		var buf bytes.Buffer
		if _, err := nb.Backup(ctx, &buf, keeper.BackupOptions{}); err != nil {
			t.Fatalf("backup of the recovered member: %v", err)
		}
		if err := os.RemoveAll(c.Dir(id)); err != nil {
			t.Fatal(err)
		}
		if _, err := keeper.Restore(ctx, &buf, c.Dir(id), keeper.RestoreOptions{ID: id, Peers: survivors, ClusterID: info.ClusterID}); err != nil {
			t.Fatalf("restore member %d: %v", id, err)
		}
		n := open(id)
		defer n.Close()
		nodes = append(nodes, n)
	}
	if _, err := nb.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if st := n.Status(); st.ClusterID != info.ClusterID || !slices.Equal(st.Members, survivors) {
			t.Fatalf("member %d: cluster %x members %v, want %x %v", n.ID(), st.ClusterID, st.Members, info.ClusterID, survivors)
		}
		checkAcknowledged(ctx, t, n, paths)
	}
	if _, err := nb.Create(ctx, "/after", nil, keeper.Persistent); err != nil {
		t.Fatalf("write to the recovered cluster: %v", err)
	}
	if _, stat, err := nb.Linearizable().Get(ctx, "/after"); err != nil || stat.Czxid <= info.Zxid {
		t.Fatalf("new write at zxid %d, recovery at %d: %v", stat.Czxid, info.Zxid, err)
	}
}

// writeAcknowledged creates count znodes through n, each holding its path,
// and returns their paths: every write was acknowledged.
func writeAcknowledged(ctx context.Context, t *testing.T, n *keeper.Node, count int) []string {
	t.Helper()
	var paths []string
	for i := range count {
		p := fmt.Sprintf("/w%02d", i)
		if _, err := n.Create(ctx, p, []byte(p), keeper.Persistent); err != nil {
			t.Fatalf("create %s: %v", p, err)
		}
		paths = append(paths, p)
	}
	return paths
}

// checkAcknowledged fails the test unless every path of writeAcknowledged
// reads back linearizably through n.
func checkAcknowledged(ctx context.Context, t *testing.T, n *keeper.Node, paths []string) {
	t.Helper()
	for _, p := range paths {
		data, _, err := n.Linearizable().Get(ctx, p)
		if err != nil || string(data) != p {
			t.Fatalf("member %d lost acknowledged write %s: %q %v", n.ID(), p, data, err)
		}
	}
}
