package keeper_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

// TestArchiveLeaderChange: when the archiving leader stops, the new leader
// goes on where the archive ends, and when the old one comes back nothing
// is archived twice: the segments chain from the first base to the
// newest entry without a hole or an overlap, and a restore of the newest
// point has the live cluster's digest.
func TestArchiveLeaderChange(t *testing.T) {
	target := keeper.DirTarget(filepath.Join(t.TempDir(), "archive"))
	c := archiveCluster(t, 3, target)
	ctx := context.Background()
	for round := range 3 {
		for i := range 20 {
			mustCreate(t, c, fmt.Sprintf("/r%d-%d", round, i), "x")
		}
		old := c.WaitLeader()
		waitArchived(t, c, old.Status().Applied)
		c.Stop(old.ID())
		for i := range 20 {
			mustCreate(t, c, fmt.Sprintf("/r%d-after-%d", round, i), "x")
		}
		c.Restart(old.ID())
	}
	z := c.WaitConverged()
	leader := c.WaitLeader()
	waitArchived(t, c, z)

	arch, err := keeper.OpenArchive(ctx, target, keeper.ArchiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := arch.Verify(ctx)
	if err != nil || len(rep.Missing) != 0 {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	if assertSegmentsChain(t, target) == 0 {
		t.Error("no log segment on the target")
	}
	d := assertDrillMatches(t, c, leader, arch)
	if d.DigestsChecked == 0 {
		t.Errorf("the drill compared no consistency check's digest: %+v", d)
	}
}

// assertSegmentsChain fails t unless the log segments on target chain
// without a hole or an overlap: no entry is archived twice. It returns
// how many there are.
func assertSegmentsChain(t *testing.T, target keeper.Target) int {
	t.Helper()
	objs, err := target.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var prev [2]uint64
	n := 0
	for _, o := range objs {
		var cl string
		var first, last, t0, t1 uint64
		if n, _ := fmt.Sscanf(o.Name, "%16s/log/%d-%d-%d-%d.kseg", &cl, &first, &last, &t0, &t1); n != 5 {
			continue
		}
		if prev[1] != 0 && first != prev[1]+1 {
			t.Errorf("segment %d..%d follows %d..%d: a hole or an entry archived twice", first, last, prev[0], prev[1])
		}
		prev = [2]uint64{first, last}
		n++
	}
	return n
}

// heldTarget holds the first log segment Put after arm is set until
// release is closed, and then stores it whatever became of the caller's
// context: a put that reached the store before its archiver lost the role
// and lands late.
type heldTarget struct {
	keeper.Target
	arm     atomic.Bool
	held    chan string   // the held segment's name
	release chan struct{} // closed to let it land
	landed  chan error    // the held Put's outcome
}

func (h *heldTarget) Put(ctx context.Context, name string, r io.Reader) error {
	if !strings.Contains(name, "/log/") || !h.arm.CompareAndSwap(true, false) {
		return h.Target.Put(ctx, name, r)
	}
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	h.held <- name
	<-h.release
	err = h.Target.Put(context.Background(), name, bytes.NewReader(body))
	h.landed <- err
	return err
}

// TestArchiveLateSegmentOfOldArchiver: the archiving leader's segment put
// is held while a partition moves the leadership; the new archiver goes on
// from what the target holds, and then the old put lands. The claim on
// the segment's start index makes both archivers write the same object,
// so the segments still chain with no entry archived twice, and a restore
// of the newest point has the cluster's digest.
func TestArchiveLateSegmentOfOldArchiver(t *testing.T) {
	ht := &heldTarget{
		Target:  keeper.DirTarget(filepath.Join(t.TempDir(), "archive")),
		held:    make(chan string, 1),
		release: make(chan struct{}),
		landed:  make(chan error, 1),
	}
	c := archiveCluster(t, 3, ht)
	ctx := context.Background()
	old := c.WaitLeader()
	ht.arm.Store(true)
	for i := range 5 {
		mustCreate(t, c, fmt.Sprintf("/before-%d", i), "x")
	}
	var held string
	select {
	case held = <-ht.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the leader sent no segment")
	}
	c.Partition([]uint64{old.ID()}, c.Others(old.ID()))
	deadline := time.Now().Add(30 * time.Second)
	leader := c.WaitLeader()
	for leader.ID() == old.ID() {
		if time.Now().After(deadline) {
			t.Fatal("no new leader beyond the partition")
		}
		time.Sleep(5 * time.Millisecond)
		leader = c.WaitLeader()
	}
	for i := range 20 {
		if _, err := leader.Create(ctx, fmt.Sprintf("/after-%d", i), []byte("x"), keeper.Persistent); err != nil {
			t.Fatal(err)
		}
	}
	// The new archiver has archived past the held segment's entries.
	waitArchived(t, c, leader.Status().Applied)
	close(ht.release)
	select {
	case err := <-ht.landed:
		t.Logf("held segment %s landed: %v", held, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the held put never ran")
	}
	c.Heal()
	z := c.WaitConverged()
	waitArchived(t, c, z)
	if assertSegmentsChain(t, ht.Target) == 0 {
		t.Error("no log segment on the target")
	}

	arch, err := keeper.OpenArchive(ctx, ht.Target, keeper.ArchiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := arch.Verify(ctx); err != nil || len(rep.Missing) != 0 {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	assertDrillMatches(t, c, c.WaitLeader(), arch)
}

// assertDrillMatches fails t unless a drill of arch to the zxid of n's
// Status has that Status's digest, and returns the drill's report.
func assertDrillMatches(t *testing.T, c *keepertest.Cluster, n *keeper.Node, arch *keeper.Archive) keeper.DrillReport {
	t.Helper()
	st := n.Status()
	waitArchived(t, c, st.Applied)
	d, err := arch.Drill(context.Background(), keeper.AtZxid(st.Applied))
	if err != nil {
		t.Fatal(err)
	}
	if d.Zxid != st.Applied || d.Digest != st.Digest {
		t.Errorf("restored zxid %d digest %x, the cluster had %x at %d", d.Zxid, d.Digest, st.Digest, st.Applied)
	}
	return d
}
