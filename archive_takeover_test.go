package keeper_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/keeper-go/keeper"
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
	objs, err := target.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var segs [][2]uint64
	for _, o := range objs {
		var cl string
		var first, last, t0, t1 uint64
		if n, _ := fmt.Sscanf(o.Name, "%16s/log/%d-%d-%d-%d.kseg", &cl, &first, &last, &t0, &t1); n == 5 {
			segs = append(segs, [2]uint64{first, last})
		}
	}
	for i := 1; i < len(segs); i++ {
		if segs[i][0] != segs[i-1][1]+1 {
			t.Errorf("segment %v follows %v: a hole or an overlap", segs[i], segs[i-1])
		}
	}
	// A restore to the zxid of a member's Status has that Status's digest.
	st := leader.Status()
	waitArchived(t, c, st.Applied)
	d, err := arch.Drill(ctx, keeper.AtZxid(st.Applied))
	if err != nil {
		t.Fatal(err)
	}
	if d.Zxid != st.Applied || d.Digest != st.Digest {
		t.Errorf("restored zxid %d digest %x, the cluster had %x at %d", d.Zxid, d.Digest, st.Digest, st.Applied)
	}
	if d.DigestsChecked == 0 {
		t.Errorf("the drill compared no consistency check's digest: %+v", d)
	}
}
