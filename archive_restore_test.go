package keeper_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
)

// TestArchiveLostEveryDisk: every member's disk is lost; each member is
// restored from the archive at a time, into a new data dir, and the new
// cluster serves exactly the writes proposed up to that time. Restores of
// the same point agree on the new cluster's id without coordination.
func TestArchiveLostEveryDisk(t *testing.T) {
	target := keeper.DirTarget(filepath.Join(t.TempDir(), "archive"))
	c := archiveCluster(t, 3, target)
	ctx := context.Background()
	var stats []keeper.Stat
	for i := range 40 {
		stats = append(stats, mustCreate(t, c, fmt.Sprintf("/w%02d", i), "x"))
	}
	waitArchived(t, c, c.WaitLeader().Status().Applied)
	for _, id := range c.IDs() {
		c.Stop(id)
	}
	// A write whose proposal time differs from both neighbours'.
	k := -1
	for i := 1; i+1 < len(stats); i++ {
		if stats[i-1].Mtime < stats[i].Mtime && stats[i].Mtime < stats[i+1].Mtime {
			k = i
			break
		}
	}
	if k < 0 {
		t.Skip("no write with a proposal time of its own")
	}
	at := time.UnixMilli(stats[k].Mtime)

	arch, err := keeper.OpenArchive(ctx, target, keeper.ArchiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		p    keeper.Point
		last int // the newest write the restored tree holds
	}{{keeper.AtTime(at), k}, {keeper.AtTime(at).Exclusive(), k - 1}} {
		peers := []uint64{1, 2, 3}
		dirs := map[uint64]string{}
		var cluster uint64
		for _, id := range peers {
			dirs[id] = filepath.Join(t.TempDir(), fmt.Sprintf("member%d", id))
			r := arch.At(tc.p)
			ri, err := keeper.Restore(ctx, r, dirs[id], keeper.RestoreOptions{ID: id, Peers: peers})
			r.Close()
			if err != nil {
				t.Fatalf("%v: restore member %d: %v", tc.p, id, err)
			}
			if cluster != 0 && ri.ClusterID != cluster {
				t.Fatalf("%v: members restored under cluster ids %x and %x", tc.p, cluster, ri.ClusterID)
			}
			cluster = ri.ClusterID
			checkLogged(t, dirs[id])
			if ri.Backup.Zxid < stats[tc.last].Mzxid || (tc.last+1 < len(stats) && ri.Backup.Zxid >= stats[tc.last+1].Mzxid) {
				t.Fatalf("%v: restored zxid %d, want from %d up to before %d", tc.p, ri.Backup.Zxid, stats[tc.last].Mzxid, stats[tc.last+1].Mzxid)
			}
		}
		nodes := openCluster(t, dirs, peers)
		for i := range stats {
			_, _, err := nodes[1].Get(ctx, fmt.Sprintf("/w%02d", i))
			switch {
			case i <= tc.last && err != nil:
				t.Errorf("%v: write %d missing: %v", tc.p, i, err)
			case i > tc.last && !errors.Is(err, keeper.ErrNoNode):
				t.Errorf("%v: write %d, after the point, restored: %v", tc.p, i, err)
			}
		}
		for _, n := range nodes {
			n.Close()
		}
	}
}

// checkLogged fails t unless the tree store of the member data dir dir logs
// its writes, as every member's store must: the archive's replay builds its
// tree in a store without a log, which must not reach a member.
func checkLogged(t *testing.T, dir string) {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "tree", "OPTIONS-*"))
	if err != nil || len(names) == 0 {
		t.Fatalf("%s: no store options file: %v", dir, err)
	}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "disable_wal=false") {
			t.Errorf("%s: the store of a restored member does not log its writes:\n%s", name, b)
		}
	}
}
