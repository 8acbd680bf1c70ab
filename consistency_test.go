package keeper_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/bitrot"
	"github.com/keeper-go/keeper/internal/keys"
	"github.com/keeper-go/keeper/keepertest"
	"github.com/keeper-go/keeper/storage"
)

// rotZnode flips a byte of path's stored value in the stopped member's store at
// dir, leaving the stored digest alone, as bit rot would.
func rotZnode(t *testing.T, dir, path string) {
	t.Helper()
	if err := bitrot.FlipZnode(dir, path); err != nil {
		t.Fatal(err)
	}
}

// TestCheckFindsBitRot damages one follower's stored znode behind its back;
// within one check interval the follower marks itself corrupt and refuses
// reads and writes, and the leader's Status shows Consistency 2/3.
func TestCheckFindsBitRot(t *testing.T) {
	ctx := context.Background()
	c := keepertest.NewCluster(t, 3, keepertest.WithConfig(func(cfg *keeper.Config) {
		cfg.CheckInterval = 50 * time.Millisecond
		cfg.OnCorrupt = keeper.AlarmCorrupt
	}))
	l := c.Leader()
	if _, err := l.Create(ctx, "/a", []byte("hello"), keeper.Persistent); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "3 of 3 consistent and reachable", func() bool {
		st := l.Status()
		return st.MemberCount == 3 && st.ConsistentMembers == 3 && st.ReachableMembers == 3 && st.Consistency == 1 && st.Availability == 1
	})
	victim := c.Others(l.ID())[0]
	waitFor(t, 5*time.Second, "followers learn the figures", func() bool {
		st := c.Node(victim).Status()
		return st.MemberCount == 3 && st.ConsistentMembers == 3 && st.CheckZxid > 0
	})
	c.WaitConverged()
	c.Stop(victim)
	waitFor(t, 5*time.Second, "availability 2/3 with a member down", func() bool {
		st := l.Status()
		return st.ReachableMembers == 2 && st.Availability > 0.66 && st.Availability < 0.67
	})
	rotZnode(t, c.Dir(victim), "/a")
	c.Restart(victim)
	v := c.Node(victim)
	start := time.Now()
	waitFor(t, 5*time.Second, "victim marks itself corrupt", func() bool { return v.Status().Corrupt })
	waitFor(t, 5*time.Second, "leader shows the victim's mismatch and consistency 2/3", func() bool {
		st := c.Leader().Status()
		for _, m := range st.View {
			if m.ID == victim && m.Check == keeper.CheckMismatch {
				return st.ConsistentMembers == 2 && st.MemberCount == 3
			}
		}
		return false
	})
	t.Logf("detected and reported in %v", time.Since(start))
	st := c.Leader().Status()
	if st.Consistency < 0.66 || st.Consistency > 0.67 {
		t.Fatalf("Consistency = %v, want 2/3", st.Consistency)
	}
	for _, m := range st.View {
		want := keeper.CheckMatch
		if m.ID == victim {
			want = keeper.CheckMismatch
		}
		if m.Check != want {
			t.Errorf("member %d check %v, want %v", m.ID, m.Check, want)
		}
	}
	if _, _, err := v.Get(ctx, "/a"); !errors.Is(err, keeper.ErrReplicaCorrupt) || !errors.Is(err, keeper.ErrCorrupt) {
		t.Fatalf("read on the corrupt member: %v, want ErrReplicaCorrupt", err)
	}
	if _, err := v.Create(ctx, "/b", nil, keeper.Persistent); !errors.Is(err, keeper.ErrReplicaCorrupt) {
		t.Fatalf("write on the corrupt member: %v, want ErrReplicaCorrupt", err)
	}
	// The healthy members still serve.
	if data, _, err := c.Leader().Get(ctx, "/a"); err != nil || string(data) != "hello" {
		t.Fatalf("leader read: %q %v", data, err)
	}
}

// TestCheckDigestDrift damages one follower's stored running digest: the
// full scan at the next check disagrees with it.
func TestCheckDigestDrift(t *testing.T) {
	ctx := context.Background()
	c := keepertest.NewCluster(t, 3, keepertest.WithConfig(func(cfg *keeper.Config) {
		cfg.CheckInterval = 50 * time.Millisecond
		cfg.OnCorrupt = keeper.AlarmCorrupt
	}))
	l := c.Leader()
	if _, err := l.Create(ctx, "/a", []byte("x"), keeper.Persistent); err != nil {
		t.Fatal(err)
	}
	c.WaitConverged()
	victim := c.Others(l.ID())[0]
	c.Stop(victim)
	dir := c.Dir(victim)
	cid, _, err := storage.PeekClusterID(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := storage.Open(dir, storage.Options{ClusterID: cid})
	if err != nil {
		t.Fatal(err)
	}
	var d []byte
	if err := st.Get(keys.MetaKey(keys.MetaDigest), func(b []byte) error { d = slices.Clone(b); return nil }); err != nil {
		t.Fatal(err)
	}
	d[7] ^= 1
	b := st.NewBatch()
	if err := b.Set(keys.MetaKey(keys.MetaDigest), d); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	b.Close()
	st.Close()
	c.Restart(victim)
	waitFor(t, 5*time.Second, "victim marks itself corrupt", func() bool { return c.Node(victim).Status().Corrupt })
	waitFor(t, 5*time.Second, "leader shows consistency 2/3", func() bool {
		return c.Leader().Status().ConsistentMembers == 2
	})
	for _, n := range c.Nodes() {
		if n.ID() != victim && n.Status().Corrupt {
			t.Fatalf("healthy member %d marked itself corrupt", n.ID())
		}
	}
}

// TestCheckOff: a negative CheckInterval proposes no checks.
func TestCheckOff(t *testing.T) {
	c := keepertest.NewCluster(t, 3, keepertest.WithConfig(func(cfg *keeper.Config) {
		cfg.CheckInterval = -1
	}))
	time.Sleep(300 * time.Millisecond)
	for _, n := range c.Nodes() {
		if z := n.Status().CheckZxid; z != 0 {
			t.Fatalf("member %d applied a check at %d with checks off", n.ID(), z)
		}
	}
	if st := c.Leader().Status(); st.MemberCount != 3 || st.ReachableMembers != 3 {
		t.Fatalf("leader view without checks: %+v", st)
	}
}

// TestConsistencySteadyWhenHealthy polls the leader's figures on a healthy
// cluster under writes, with a check every 50ms: once every member has
// passed a check, Consistency stays 1, also in the moments after a new
// check applied on the leader and before the followers acknowledged it.
func TestConsistencySteadyWhenHealthy(t *testing.T) {
	c := keepertest.NewCluster(t, 3, keepertest.WithConfig(func(cfg *keeper.Config) {
		cfg.CheckInterval = 50 * time.Millisecond
	}))
	l := c.WaitLeader()
	waitFor(t, 10*time.Second, "a first check with 3 of 3", func() bool { return l.Status().ConsistentMembers == 3 })
	w := startWriters(c, "/steady", 1)
	defer w.halt()
	checks := 0
	last := l.Status().CheckZxid
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		st := l.Status()
		if st.Role != keeper.RoleLeader {
			t.Skip("leadership moved; the figures are the new leader's to build")
		}
		if st.ConsistentMembers != 3 || st.Consistency != 1 {
			t.Fatalf("healthy cluster at check zxid %d: consistent %d, Consistency %v, view %+v", st.CheckZxid, st.ConsistentMembers, st.Consistency, st.View)
		}
		if st.CheckZxid != last {
			checks, last = checks+1, st.CheckZxid
		}
		time.Sleep(100 * time.Microsecond)
	}
	if checks < 5 {
		t.Fatalf("only %d checks in 3s with a 50ms interval", checks)
	}
}
