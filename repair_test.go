package keeper_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/keys"
	"github.com/keeper-go/keeper/keepertest"
	"github.com/keeper-go/keeper/storage"
)

// repairCheckInterval is the check interval of the repair tests.
const repairCheckInterval = 100 * time.Millisecond

// damageDigest flips a bit of the stopped member's stored running digest.
func damageDigest(t *testing.T, dir string) {
	t.Helper()
	cid, _, err := storage.PeekClusterID(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := storage.Open(dir, storage.Options{ClusterID: cid})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var d []byte
	if err := st.Get(keys.MetaKey(keys.MetaDigest), func(b []byte) error { d = slices.Clone(b); return nil }); err != nil {
		t.Fatal(err)
	}
	d[7] ^= 1
	b := st.NewBatch()
	defer b.Close()
	if err := b.Set(keys.MetaKey(keys.MetaDigest), d); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
}

// repairCase damages one follower's store with damage while it is stopped,
// restarts it with writes going on, and checks the leader's view goes to
// 2/3 (the member marked corrupt) and back to 3/3 once the member repaired
// itself, and that it then agrees with the others and serves again.
func repairCase(t *testing.T, damage func(t *testing.T, dir string)) {
	ctx := context.Background()
	c := keepertest.NewCluster(t, 3, keepertest.WithConfig(func(cfg *keeper.Config) {
		cfg.CheckInterval = repairCheckInterval
		cfg.OnCorrupt = keeper.RepairCorrupt
	}))
	t.Logf("seed %d", c.Seed())
	l := c.Leader()
	if _, err := l.Create(ctx, "/a", []byte("hello"), keeper.Persistent); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := l.Create(ctx, fmt.Sprintf("/pre-%03d", i), []byte("x"), keeper.Persistent); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "3 of 3 consistent", func() bool {
		st := l.Status()
		return st.ConsistentMembers == 3 && st.Consistency == 1
	})
	c.WaitConverged()
	victim := c.Others(l.ID())[0]
	c.Stop(victim)
	damage(t, c.Dir(victim))
	c.Restart(victim)
	start := time.Now()
	w := startWriters(c, "/w", 1)
	defer func() {
		select {
		case <-w.stop:
		default:
			w.halt()
		}
	}()

	// Poll tightly: the 2/3 window lasts as long as the repair.
	var sawMismatch bool
	var detected, repaired time.Duration
	var writesAtDetect int64
	deadline := time.Now().Add(10 * time.Second)
	for {
		ld := c.Leader()
		if ld == nil {
			time.Sleep(time.Millisecond)
			continue
		}
		st := ld.Status()
		mismatch := false
		for _, m := range st.View {
			if m.ID == victim && m.Check == keeper.CheckMismatch {
				mismatch = true
			}
		}
		if mismatch && !sawMismatch {
			if st.ConsistentMembers != 2 || st.Consistency < 0.66 || st.Consistency > 0.67 {
				t.Fatalf("leader view with the victim's mismatch: consistent %d, Consistency %v; want 2/3", st.ConsistentMembers, st.Consistency)
			}
			sawMismatch, detected, writesAtDetect = true, time.Since(start), w.n.Load()
		}
		vs := c.Node(victim).Status()
		if sawMismatch && !mismatch && vs.RepairsInstalled > 0 && !vs.Corrupt && st.ConsistentMembers == 3 && st.Consistency == 1 {
			repaired = time.Since(start)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mismatch then repair within 10s (saw mismatch %v, victim %+v, leader view %+v)", sawMismatch, vs, st.View)
		}
		time.Sleep(500 * time.Microsecond)
	}
	if detected > 2*repairCheckInterval+time.Second {
		t.Errorf("detected after %v, check interval %v", detected, repairCheckInterval)
	}
	// Writes go on during and after the repair.
	waitFor(t, 5*time.Second, "writes after the repair", func() bool { return w.n.Load() > writesAtDetect+10 })
	w.halt()
	t.Logf("corruption detected after %v, repaired after %v (%d writes meanwhile)", detected, repaired, w.n.Load())
	if st := c.Leader().Status(); st.RepairsSent == 0 {
		t.Errorf("leader RepairsSent = 0")
	}

	c.WaitConverged() // digests equal at the same zxid
	v := c.Node(victim)
	if data, _, err := v.Get(ctx, "/a"); err != nil || string(data) != "hello" {
		t.Fatalf("read on the repaired member: %q %v", data, err)
	}
	if _, err := v.Create(ctx, "/after-repair", nil, keeper.Persistent); err != nil {
		t.Fatalf("write on the repaired member: %v", err)
	}
	// A later check still finds every member consistent.
	z := c.Leader().Status().CheckZxid
	waitFor(t, 5*time.Second, "a later check with 3 of 3", func() bool {
		st := c.Leader().Status()
		return st.CheckZxid > z && st.ConsistentMembers == 3 && !c.Node(victim).Status().Corrupt
	})
	c.WaitConverged()
}

// TestRepairBitRot: a follower's stored znode rots; within a check interval
// the leader shows 2/3, the follower repairs itself from the leader and the
// leader shows 3/3 again, with writes going on throughout.
func TestRepairBitRot(t *testing.T) {
	repairCase(t, func(t *testing.T, dir string) { rotZnode(t, dir, "/a") })
}

// TestRepairDigestDrift: a follower's stored running digest is damaged; the
// full scan finds it and the follower repairs itself.
func TestRepairDigestDrift(t *testing.T) { repairCase(t, damageDigest) }

// TestRepairAlarmOnly: with OnCorrupt AlarmCorrupt a corrupt member is not
// repaired: it stays corrupt and the leader sends it nothing.
func TestRepairAlarmOnly(t *testing.T) {
	ctx := context.Background()
	c := keepertest.NewCluster(t, 3, keepertest.WithConfig(func(cfg *keeper.Config) {
		cfg.CheckInterval = repairCheckInterval
		cfg.OnCorrupt = keeper.AlarmCorrupt
	}))
	t.Logf("seed %d", c.Seed())
	l := c.Leader()
	if _, err := l.Create(ctx, "/a", []byte("hello"), keeper.Persistent); err != nil {
		t.Fatal(err)
	}
	c.WaitConverged()
	victim := c.Others(l.ID())[0]
	c.Stop(victim)
	rotZnode(t, c.Dir(victim), "/a")
	c.Restart(victim)
	v := c.Node(victim)
	waitFor(t, 5*time.Second, "victim marks itself corrupt", func() bool { return v.Status().Corrupt })
	waitFor(t, 5*time.Second, "leader shows 2/3", func() bool { return c.Leader().Status().ConsistentMembers == 2 })
	time.Sleep(10 * repairCheckInterval)
	if st := v.Status(); !st.Corrupt || st.RepairsInstalled != 0 {
		t.Fatalf("alarm-only member repaired: %+v", st)
	}
	if st := c.Leader().Status(); st.RepairsSent != 0 || st.ConsistentMembers != 2 {
		t.Fatalf("leader with an alarm-only corrupt member: sent %d repairs, %d consistent", st.RepairsSent, st.ConsistentMembers)
	}
	if _, _, err := v.Get(ctx, "/a"); !errors.Is(err, keeper.ErrReplicaCorrupt) {
		t.Fatalf("read on the alarm-only corrupt member: %v", err)
	}
}
