package keeper_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
	"github.com/keeper-go/keeper/transport"
)

// TestRecoverQuorumBySurvivorInspection follows docs/RUNBOOK.md, "Quorum
// lost": three of five members die, the leader among them; the two
// survivors are stopped and inspected, the best is recovered alone and the
// other joins it afresh. Every acknowledged write is on both.
func TestRecoverQuorumBySurvivorInspection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := keepertest.NewCluster(t, 5)
	leader := c.WaitLeader().ID()
	survivors := c.Others(leader)[2:]
	through := c.Node(survivors[0])
	clusterID := through.Status().ClusterID
	paths := writeAcknowledged(ctx, t, through, 30)
	for _, id := range c.Others(survivors...) {
		c.Kill(id)
	}
	for _, id := range survivors {
		c.Stop(id)
	}

	var infos []keeper.DirInfo
	for _, id := range survivors {
		before := dirListing(t, c.Dir(id))
		info, err := keeper.InspectDir(ctx, c.Dir(id))
		if err != nil {
			t.Fatalf("InspectDir member %d: %v", id, err)
		}
		if after := dirListing(t, c.Dir(id)); !slices.Equal(before, after) {
			t.Fatalf("InspectDir changed member %d's dir:\nbefore %v\nafter  %v", id, before, after)
		}
		if info.ClusterID != clusterID || info.Member != id || info.Dir != c.Dir(id) {
			t.Fatalf("member %d: cluster %x member %d dir %s, want %x %d %s", id, info.ClusterID, info.Member, info.Dir, clusterID, id, c.Dir(id))
		}
		if info.Applied < keeper.Zxid(len(paths)) || info.LastIndex < info.Applied || info.Commit < info.Applied {
			t.Fatalf("member %d: applied %d last %d commit %d, %d writes acknowledged", id, info.Applied, info.LastIndex, info.Commit, len(paths))
		}
		if info.Term == 0 || info.LastTerm == 0 || info.LastTerm > info.Term || info.Digest == 0 {
			t.Fatalf("member %d: term %d last term %d digest %x", id, info.Term, info.LastTerm, info.Digest)
		}
		if !slices.Equal(info.Voters, c.IDs()) || len(info.Learners) != 0 {
			t.Fatalf("member %d: voters %v learners %v, want %v", id, info.Voters, info.Learners, c.IDs())
		}
		infos = append(infos, info)
	}
	pick := keeper.BestSurvivor(infos)
	best, other := survivors[pick], survivors[1-pick]

	info, err := keeper.RecoverQuorum(ctx, c.Dir(best), keeper.RecoverOptions{ID: best, Members: []uint64{best}})
	if err != nil {
		t.Fatalf("RecoverQuorum: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(info.OldDir) })
	if info.Zxid != infos[pick].LastIndex {
		t.Fatalf("recovered at zxid %d, InspectDir reported the log up to %d", info.Zxid, infos[pick].LastIndex)
	}

	net := transport.NewMemory(c.Seed())
	t.Cleanup(func() { net.Close() })
	nb, err := keeper.Open(ctx, keeper.Config{ID: best, Dir: c.Dir(best), Peers: []uint64{best}, Transport: net.Endpoint(best)})
	if err != nil {
		t.Fatalf("open the recovered member: %v", err)
	}
	t.Cleanup(func() { nb.Close() })
	if _, err := nb.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	no, err := keeper.Open(ctx, keeper.Config{
		ID: other, Dir: t.TempDir(), Peers: []uint64{best, other}, Join: true,
		ClusterID: info.ClusterID, Transport: net.Endpoint(other),
	})
	if err != nil {
		t.Fatalf("open the joining survivor: %v", err)
	}
	t.Cleanup(func() { no.Close() })
	retryUnsafe(t, "add the other survivor", func() error { return nb.AddMember(ctx, other, keeper.AsLearner) })
	waitFor(t, 20*time.Second, "the other survivor catches up", func() bool {
		return no.Status().Applied >= nb.Status().Applied
	})
	retryUnsafe(t, "promote the other survivor", func() error { return nb.PromoteMember(ctx, other) })
	want := []uint64{best, other}
	slices.Sort(want)
	for _, n := range []*keeper.Node{nb, no} {
		waitFor(t, 10*time.Second, fmt.Sprintf("member %d sees both voters", n.ID()), func() bool {
			st := n.Status()
			return slices.Equal(st.Members, want) && len(st.Learners) == 0
		})
		if st := n.Status(); st.ClusterID != info.ClusterID {
			t.Fatalf("member %d: cluster %x, want %x", n.ID(), st.ClusterID, info.ClusterID)
		}
		checkAcknowledged(ctx, t, n, paths)
	}
	if _, err := no.Create(ctx, "/after", nil, keeper.Persistent); err != nil {
		t.Fatalf("write through the joined survivor: %v", err)
	}
}

// dirListing lists every file under dir but the lock files with its size
// and modification time, so a change by a reader shows.
func dirListing(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		// Lock files (keeper's and Pebble's) are empty; taking them is fine.
		if !d.IsDir() && d.Name() != "LOCK" {
			out = append(out, fmt.Sprintf("%s %d %d", p, fi.Size(), fi.ModTime().UnixNano()))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// stoppedMember runs a one-member cluster, writes to it, stops it and
// returns its data dir.
func stoppedMember(t *testing.T) string {
	t.Helper()
	c := keepertest.NewCluster(t, 1)
	if _, err := c.Node(1).Create(context.Background(), "/a", []byte("a"), keeper.Persistent); err != nil {
		t.Fatal(err)
	}
	c.Stop(1)
	return c.Dir(1)
}

// TestInspectDirInUse: a running member's dir is refused with ErrLocked.
func TestInspectDirInUse(t *testing.T) {
	c := keepertest.NewCluster(t, 1)
	if _, err := keeper.InspectDir(context.Background(), c.Dir(1)); !errors.Is(err, keeper.ErrLocked) {
		t.Fatalf("InspectDir of a running member: %v, want ErrLocked", err)
	}
}

// TestInspectDirEmpty: a dir without a raft log is refused with ErrNoLog,
// and nothing is created in it.
func TestInspectDirEmpty(t *testing.T) {
	dir := t.TempDir()
	if _, err := keeper.InspectDir(context.Background(), dir); !errors.Is(err, keeper.ErrNoLog) {
		t.Fatalf("InspectDir of an empty dir: %v, want ErrNoLog", err)
	}
	if names, _ := os.ReadDir(dir); len(names) != 0 {
		t.Fatalf("InspectDir left %v in an empty dir", names)
	}
}

// TestInspectDirDamaged: damaged files give an error, never a panic; a
// damaged raft log an error matching ErrCorrupt.
func TestInspectDirDamaged(t *testing.T) {
	walFile := func(t *testing.T, dir string) string {
		t.Helper()
		names, err := filepath.Glob(filepath.Join(dir, "wal", "*.wal"))
		if err != nil || len(names) == 0 {
			t.Fatalf("no raft log segment in %s: %v", dir, err)
		}
		return names[0]
	}
	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, dir string)
		corrupt bool // the error must match ErrCorrupt
	}{
		{"wal truncated to nothing", func(t *testing.T, dir string) {
			if err := os.Truncate(walFile(t, dir), 0); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"wal bytes flipped", func(t *testing.T, dir string) {
			f := walFile(t, dir)
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			// Past the segment's header records, inside the first entries.
			for i := 200; i < 260 && i < len(b); i++ {
				b[i] ^= 0xff
			}
			if err := os.WriteFile(f, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"tree manifest truncated", func(t *testing.T, dir string) {
			names, err := filepath.Glob(filepath.Join(dir, "tree", "MANIFEST-*"))
			if err != nil || len(names) == 0 {
				t.Fatalf("no manifest: %v", err)
			}
			for _, n := range names {
				if err := os.Truncate(n, 10); err != nil {
					t.Fatal(err)
				}
			}
		}, false},
		{"tree gone", func(t *testing.T, dir string) {
			if err := os.RemoveAll(filepath.Join(dir, "tree")); err != nil {
				t.Fatal(err)
			}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := stoppedMember(t)
			tc.damage(t, dir)
			_, err := keeper.InspectDir(context.Background(), dir)
			if err == nil || (tc.corrupt && !errors.Is(err, keeper.ErrCorrupt)) {
				t.Fatalf("InspectDir of a damaged dir: %v, want an error (matching ErrCorrupt: %v)", err, tc.corrupt)
			}
		})
	}
}

// TestBestSurvivor: the most up-to-date log wins, by last term, then last
// index, then applied index.
func TestBestSurvivor(t *testing.T) {
	for _, tc := range []struct {
		infos []keeper.DirInfo
		want  int
	}{
		{nil, -1},
		{[]keeper.DirInfo{{LastTerm: 2, LastIndex: 10}}, 0},
		{[]keeper.DirInfo{{LastTerm: 2, LastIndex: 10}, {LastTerm: 3, LastIndex: 8}}, 1},
		{[]keeper.DirInfo{{LastTerm: 3, LastIndex: 12}, {LastTerm: 3, LastIndex: 8}}, 0},
		{[]keeper.DirInfo{{LastTerm: 3, LastIndex: 8, Applied: 5}, {LastTerm: 3, LastIndex: 8, Applied: 7}}, 1},
	} {
		if got := keeper.BestSurvivor(tc.infos); got != tc.want {
			t.Errorf("BestSurvivor(%+v) = %d, want %d", tc.infos, got, tc.want)
		}
	}
}
