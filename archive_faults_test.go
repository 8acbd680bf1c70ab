package keeper_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

// faultyTarget wraps a Target and fails every call while down is set, as a
// target that is unreachable or refuses writes would.
type faultyTarget struct {
	keeper.Target
	down  atomic.Bool
	fails atomic.Int64
}

var errTargetDown = errors.New("test: target down")

func (f *faultyTarget) Put(ctx context.Context, name string, r io.Reader) error {
	if f.down.Load() {
		f.fails.Add(1)
		return errTargetDown
	}
	return f.Target.Put(ctx, name, r)
}

func (f *faultyTarget) List(ctx context.Context, prefix string) ([]keeper.TargetObject, error) {
	if f.down.Load() {
		f.fails.Add(1)
		return nil, errTargetDown
	}
	return f.Target.List(ctx, prefix)
}

// TestArchiveTargetDown: while the target fails, the cluster keeps
// serving, the archive's lag grows and the error is reported; once the
// target is back the archive catches up with no gap.
func TestArchiveTargetDown(t *testing.T) {
	ft := &faultyTarget{Target: keeper.DirTarget(filepath.Join(t.TempDir(), "archive"))}
	c := archiveCluster(t, 3, ft)
	ctx := context.Background()
	leader := c.WaitLeader()
	ft.down.Store(true)
	for i := range 50 {
		mustCreate(t, c, fmt.Sprintf("/down-%d", i), "x")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := leader.Status()
		if st.ArchiveErr != "" && st.ArchiveLag >= 50 && ft.fails.Load() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no lag or error reported while the target is down: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	ft.down.Store(false)
	waitArchived(t, c, leader.Status().Applied)
	if st := leader.Status(); st.ArchiveErr != "" || st.ArchiveGaps != 0 {
		t.Errorf("after the target came back: err %q, gaps %d", st.ArchiveErr, st.ArchiveGaps)
	}
	arch, err := keeper.OpenArchive(ctx, ft.Target, keeper.ArchiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := arch.Verify(ctx)
	if err != nil || len(rep.Missing) != 0 {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}

// TestArchiveGapRecorded: a target down for longer than the members hold
// their logs (HoldEntries) leaves a gap, which is recorded in the archive,
// reported, and refused by a restore across it; a new base after the gap
// makes later points restorable again.
func TestArchiveGapRecorded(t *testing.T) {
	ft := &faultyTarget{Target: keeper.DirTarget(filepath.Join(t.TempDir(), "archive"))}
	c := archiveCluster(t, 1, ft, keepertest.WithConfig(func(cfg *keeper.Config) {
		cfg.KeepEntries = 20
		cfg.Archive.HoldEntries = 50
	}))
	ctx := context.Background()
	leader := c.WaitLeader()
	before := mustCreate(t, c, "/before", "x").Mzxid
	waitArchived(t, c, before)
	ft.down.Store(true)
	for i := range 300 {
		mustCreate(t, c, fmt.Sprintf("/lost-%d", i), "x")
	}
	ft.down.Store(false)
	after := mustCreate(t, c, "/after", "x").Mzxid
	waitArchived(t, c, after)
	st := leader.Status()
	if st.ArchiveGaps != 1 {
		t.Fatalf("gaps %d, want 1: %+v", st.ArchiveGaps, st)
	}
	arch, err := keeper.OpenArchive(ctx, ft.Target, keeper.ArchiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := arch.Plan(ctx, keeper.AtZxid(before+100)); !errors.Is(err, keeper.ErrNotArchived) || !strings.Contains(err.Error(), "gap") {
		t.Errorf("a point across the gap: %v, want ErrNotArchived naming the gap", err)
	}
	if _, err := arch.Plan(ctx, keeper.AtZxid(before)); err != nil {
		t.Errorf("a point before the gap: %v", err)
	}
	// A base written after the gap makes the points after it restorable
	// (the ones between the gap and that base are not: no base reaches
	// them).
	for deadline := time.Now().Add(30 * time.Second); ; {
		plan, err := arch.Plan(ctx, keeper.Latest())
		if err == nil && plan.Zxid >= after {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no base after the gap: %+v %v", plan, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	rep, err := arch.Verify(ctx)
	if err != nil || len(rep.Missing) != 1 {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}

// TestArchiveRetention: with a base after every few segments and
// Retain{MinBases: 2}, the archiving member expires older bases and the
// log before them; the newest points stay restorable and the expired ones
// are refused. A dry run of Expire deletes nothing.
func TestArchiveRetention(t *testing.T) {
	target := keeper.DirTarget(filepath.Join(t.TempDir(), "archive"))
	c := archiveCluster(t, 1, target, keepertest.WithConfig(func(cfg *keeper.Config) {
		cfg.Archive.BaseAfter = 1 // a base after every segment
		cfg.Archive.Retain = keeper.Retention{Window: time.Millisecond, MinBases: 2}
	}))
	ctx := context.Background()
	first := mustCreate(t, c, "/first", "x").Mzxid
	for i := range 30 {
		mustCreate(t, c, fmt.Sprintf("/n%d", i), "x")
		if i%5 == 4 {
			waitArchived(t, c, c.WaitLeader().Status().Applied)
		}
	}
	arch, err := keeper.OpenArchive(ctx, target, keeper.ArchiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		rep, err := arch.Verify(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Bases <= 3 && rep.From > first {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing expired: %+v", rep)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := arch.Plan(ctx, keeper.AtZxid(first)); !errors.Is(err, keeper.ErrNotArchived) {
		t.Errorf("an expired point: %v, want ErrNotArchived", err)
	}
	// The member stops first: with a base after every segment and a
	// window of 1 ms, its own retention deletes objects every second, on
	// a loaded machine faster than a drill reads them, and while the dry
	// run is counted.
	c.Stop(c.IDs()[0])
	if _, err := arch.Drill(ctx, keeper.Latest()); err != nil {
		t.Errorf("the newest point after expiry: %v", err)
	}
	before, _ := target.List(ctx, "")
	rep, err := arch.Expire(ctx, keeper.Retention{Window: time.Millisecond, MinBases: 1}, keeper.ExpireOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := target.List(ctx, "")
	if len(rep.Deleted) == 0 || len(after) != len(before) {
		t.Errorf("dry run: would delete %d, objects %d -> %d", len(rep.Deleted), len(before), len(after))
	}
}

// TestArchiveAckArchived: with AckArchived a write returns only once the
// archive holds it; while the target fails, a write applies but returns
// ErrArchiveUnconfirmed when its context ends.
func TestArchiveAckArchived(t *testing.T) {
	ft := &faultyTarget{Target: keeper.DirTarget(filepath.Join(t.TempDir(), "archive"))}
	c := archiveCluster(t, 3, ft, keepertest.WithConfig(func(cfg *keeper.Config) {
		cfg.Archive.AckArchived = true
		cfg.Archive.SyncEvery = time.Hour // AckArchived cuts a segment every tick anyway
	}))
	ctx := context.Background()
	arch, err := keeper.OpenArchive(ctx, ft.Target, keeper.ArchiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes() {
		_, st, err := n.Create2(ctx, fmt.Sprintf("/acked-%d", n.ID()), nil, keeper.Persistent)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := arch.Plan(ctx, keeper.AtZxid(st.Mzxid)); err != nil {
			t.Errorf("member %d acknowledged zxid %d, which the archive does not hold: %v", n.ID(), st.Mzxid, err)
		}
	}
	ft.down.Store(true)
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = c.WaitLeader().Create(wctx, "/unconfirmed", nil, keeper.Persistent)
	if !errors.Is(err, keeper.ErrArchiveUnconfirmed) {
		t.Fatalf("a write while the target fails: %v, want ErrArchiveUnconfirmed", err)
	}
	if _, _, err := c.WaitLeader().Get(ctx, "/unconfirmed"); err != nil {
		t.Errorf("the unconfirmed write is not applied: %v", err)
	}
	ft.down.Store(false)
	if _, err := c.WaitLeader().Create(ctx, "/after", nil, keeper.Persistent); err != nil {
		t.Fatal(err)
	}
}

// TestArchiveAckLostInGap: with AckArchived, a write waiting for the
// archive whose entry the members released while the target was down is
// told the archive lost it (ErrArchiveUnconfirmed, naming the gap) once
// the gap is recorded, on the member it was made on, not acknowledged as
// archived.
func TestArchiveAckLostInGap(t *testing.T) {
	ft := &faultyTarget{Target: keeper.DirTarget(filepath.Join(t.TempDir(), "archive"))}
	c := archiveCluster(t, 3, ft, keepertest.WithConfig(func(cfg *keeper.Config) {
		cfg.KeepEntries = 20
		cfg.Archive.HoldEntries = 50
		cfg.Archive.AckArchived = true
	}))
	waitArchived(t, c, mustCreate(t, c, "/before", "x").Mzxid)
	leader := c.WaitLeader()
	var follower *keeper.Node
	for _, n := range c.Nodes() {
		if n.ID() != leader.ID() {
			follower = n
		}
	}
	ft.down.Store(true)
	waiting := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := follower.Create(ctx, "/waiting", []byte("x"), keeper.Persistent)
		waiting <- err
	}()
	// Wait until the write applied, then bury it under more entries than
	// the members hold for the archive.
	for deadline := time.Now().Add(30 * time.Second); ; {
		if _, _, err := follower.Get(context.Background(), "/waiting"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the waiting write never applied")
		}
		time.Sleep(5 * time.Millisecond)
	}
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if _, err := leader.Create(ctx, fmt.Sprintf("/lost-%d", i), []byte("x"), keeper.Persistent); err != nil && !errors.Is(err, keeper.ErrArchiveUnconfirmed) {
				t.Errorf("create: %v", err)
			}
		})
	}
	wg.Wait()
	select {
	case err := <-waiting:
		t.Fatalf("the write returned while the target was down: %v", err)
	default:
	}
	ft.down.Store(false)
	select {
	case err := <-waiting:
		if !errors.Is(err, keeper.ErrArchiveUnconfirmed) || !strings.Contains(err.Error(), "gap") {
			t.Fatalf("the write in the gap returned %v, want ErrArchiveUnconfirmed naming the gap", err)
		}
	case <-time.After(50 * time.Second):
		t.Fatal("the write in the gap never returned")
	}
	if st := leader.Status(); st.ArchiveGaps != 1 {
		t.Errorf("gaps %d, want 1", st.ArchiveGaps)
	}
}
