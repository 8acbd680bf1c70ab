package s3target

import (
	"errors"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

// TestArchiveUndoDeleteAllOnS3 is the undo of a deleteall against a real
// S3-compatible server: a 3-member cluster archives to a bucket, an
// operator deletes /app whole, and a subtree restore from the bucket at
// the mark written before puts it back on every member, leaving later
// writes elsewhere as they are. A drill of the newest point matches the
// digests the cluster's consistency checks recorded.
func TestArchiveUndoDeleteAllOnS3(t *testing.T) {
	s := sharedMoto(t)
	target := newTarget(t, s, newBucket(t, s), "prod")
	c := keepertest.NewCluster(t, 3, keepertest.WithConfig(func(cfg *keeper.Config) {
		cfg.CheckInterval = 100 * time.Millisecond
		cfg.Archive = &keeper.ArchiveConfig{Target: target, SyncEvery: 20 * time.Millisecond}
	}))
	ctx := waitCtx(t, 2*time.Minute)
	leader := c.WaitLeader()
	waitArchived := func(z keeper.Zxid) {
		t.Helper()
		for {
			st := c.WaitLeader().Status()
			if st.ArchivedZxid >= z {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("archive holds zxid %d, want %d: %+v", st.ArchivedZxid, z, st)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	waitArchived(1)
	paths := []string{"/app", "/app/config", "/app/config/db", "/app/workers", "/other"}
	for _, p := range paths {
		if _, err := leader.Create(ctx, p, []byte("v1 of "+p), keeper.Persistent); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := leader.Mark(ctx, "before-cleanup"); err != nil {
		t.Fatal(err)
	}
	for i := len(paths) - 2; i >= 0; i-- {
		if err := leader.Delete(ctx, paths[i], keeper.AnyVersion); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := leader.Set(ctx, "/other", []byte("v2"), keeper.AnyVersion); err != nil {
		t.Fatal(err)
	}
	waitArchived(leader.Status().Applied)

	arch, err := keeper.OpenArchive(ctx, target, keeper.ArchiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := arch.At(keeper.AtMark("before-cleanup"))
	defer r.Close()
	info, err := leader.RestoreOnline(ctx, r, keeper.RestoreOnlineOptions{Subtree: "/app"})
	if err != nil {
		t.Fatal(err)
	}
	if info.Znodes != 4 {
		t.Errorf("restored %d znodes, want 4", info.Znodes)
	}
	c.WaitConverged()
	for _, n := range c.Nodes() {
		for _, p := range paths[:4] {
			if data, _, err := n.Get(ctx, p); err != nil || string(data) != "v1 of "+p {
				t.Errorf("member %d: %s is %q %v after the undo", n.ID(), p, data, err)
			}
		}
		if data, _, err := n.Get(ctx, "/other"); err != nil || string(data) != "v2" {
			t.Errorf("member %d: /other is %q %v, want the later write kept", n.ID(), data, err)
		}
	}
	st := leader.Status()
	waitArchived(st.Applied)
	d, err := arch.Drill(ctx, keeper.AtZxid(st.Applied))
	if err != nil {
		t.Fatal(err)
	}
	if d.Digest != st.Digest {
		t.Errorf("drill to zxid %d: digest %x, the cluster's %x", st.Applied, d.Digest, st.Digest)
	}
	if _, err := arch.Plan(ctx, keeper.AtMark("no-such-mark")); !errors.Is(err, keeper.ErrNotArchived) {
		t.Errorf("unknown mark: %v", err)
	}
	objs, err := target.List(ctx, "")
	if err != nil || len(objs) < 2 {
		t.Fatalf("bucket holds %v: %v", objs, err)
	}
	t.Logf("bucket holds %d objects", len(objs))
}
