package keeper_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

// archiveCluster starts n members archiving to target every 20 ms, with
// consistency checks every 100 ms so archived logs carry digests.
func archiveCluster(t *testing.T, n int, target keeper.Target, opts ...keepertest.Option) *keepertest.Cluster {
	t.Helper()
	opts = append([]keepertest.Option{keepertest.WithConfig(func(cfg *keeper.Config) {
		cfg.CheckInterval = 100 * time.Millisecond
		cfg.Archive = &keeper.ArchiveConfig{Target: target, SyncEvery: 20 * time.Millisecond}
	})}, opts...)
	c := keepertest.NewCluster(t, n, opts...)
	// The archive starts with a base of the tree as the leader first finds
	// it; points before that base are not in the archive.
	waitArchived(t, c, 1)
	return c
}

// withArchiveKey encrypts the archive with key.
func withArchiveKey(key []byte) keepertest.Option {
	return keepertest.WithConfig(func(cfg *keeper.Config) { cfg.Archive.Key = key })
}

// waitArchived waits until the leader reports the archive holds zxid z.
func waitArchived(t *testing.T, c *keepertest.Cluster, z keeper.Zxid) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := c.WaitLeader().Status()
		if st.ArchivedZxid >= z {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("archive holds zxid %d, want %d (lag %d, err %q)", st.ArchivedZxid, z, st.ArchiveLag, st.ArchiveErr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitChecks waits until the leader applied n consistency checks after
// zxid z.
func waitChecks(t *testing.T, c *keepertest.Cluster, z keeper.Zxid, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	last := z
	for n > 0 {
		if st := c.WaitLeader().Status(); st.CheckZxid > last {
			last = st.CheckZxid
			n--
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("no consistency check after zxid %d", last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestArchiveUndoDeleteAll is the point-in-time restore users reach for
// after a bad write: /app is deleted whole, and a subtree restore from the
// archive, at the mark written before, puts it back on the running
// cluster as it was, leaving the rest of the tree as it is now.
func TestArchiveUndoDeleteAll(t *testing.T) {
	target := keeper.DirTarget(filepath.Join(t.TempDir(), "archive"))
	c := archiveCluster(t, 3, target)
	ctx := context.Background()
	for _, p := range []string{"/app", "/app/config", "/app/config/db", "/app/workers", "/other"} {
		mustCreate(t, c, p, "v1 of "+p)
	}
	leader := c.WaitLeader()
	if _, err := leader.Set(ctx, "/app/config/db", []byte("v2"), keeper.AnyVersion); err != nil {
		t.Fatal(err)
	}
	want := dumpTree(t, leader, "/app")
	markZxid, err := leader.Mark(ctx, "before-cleanup")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/app/config/db", "/app/config", "/app/workers", "/app"} {
		if err := leader.Delete(ctx, p, keeper.AnyVersion); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := leader.Set(ctx, "/other", []byte("v2 after"), keeper.AnyVersion); err != nil {
		t.Fatal(err)
	}
	waitArchived(t, c, leader.Status().Applied)

	arch, err := keeper.OpenArchive(ctx, target, keeper.ArchiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := arch.Plan(ctx, keeper.AtMark("before-cleanup"))
	if err != nil {
		t.Fatal(err)
	}
	if plan.Zxid != markZxid || len(plan.Segments) == 0 {
		t.Fatalf("plan %+v, want zxid %d from a base and segments", plan, markZxid)
	}
	r := arch.At(keeper.AtMark("before-cleanup"))
	defer r.Close()
	info, err := leader.RestoreOnline(ctx, r, keeper.RestoreOnlineOptions{Subtree: "/app"})
	if err != nil {
		t.Fatal(err)
	}
	if info.Zxid <= markZxid {
		t.Errorf("restore committed at zxid %d, not after %d", info.Zxid, markZxid)
	}
	c.WaitConverged()
	for _, n := range c.Nodes() {
		if got := dumpTree(t, n, "/app"); !maps.Equal(got, want) {
			t.Errorf("member %d: /app is %v, want %v", n.ID(), got, want)
		}
		if data, _, err := n.Get(ctx, "/other"); err != nil || string(data) != "v2 after" {
			t.Errorf("member %d: /other is %q %v, want the write after the mark kept", n.ID(), data, err)
		}
	}

	// Two consistency checks after the restore: the second carries the
	// leader's digest at the first, which the archive's replay must match.
	waitChecks(t, c, info.Zxid, 2)
	waitArchived(t, c, c.WaitLeader().Status().Applied)
	rep, err := arch.Verify(ctx)
	if err != nil {
		t.Fatalf("verify: %v (report %+v)", err, rep)
	}
	if rep.Bases == 0 || rep.Segments == 0 || len(rep.Missing) != 0 || rep.To < info.Zxid-1 {
		t.Errorf("verify report %+v", rep)
	}
	if rep.DigestsChecked == 0 {
		t.Errorf("verify compared no digest with the cluster's checks: %+v", rep)
	}
}

// TestArchivePointErrors checks the refusals: a point past the archive, a
// mark it does not hold, and an empty target.
func TestArchivePointErrors(t *testing.T) {
	ctx := context.Background()
	empty := keeper.DirTarget(filepath.Join(t.TempDir(), "empty"))
	if _, err := keeper.OpenArchive(ctx, empty, keeper.ArchiveOptions{}); !errors.Is(err, keeper.ErrNotArchived) {
		t.Fatalf("empty target: %v, want ErrNotArchived", err)
	}
	target := keeper.DirTarget(filepath.Join(t.TempDir(), "archive"))
	c := archiveCluster(t, 1, target)
	mustCreate(t, c, "/a", "x")
	waitArchived(t, c, c.WaitLeader().Status().Applied)
	arch, err := keeper.OpenArchive(ctx, target, keeper.ArchiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := arch.Plan(ctx, keeper.AtZxid(1<<40)); !errors.Is(err, keeper.ErrNotArchived) {
		t.Errorf("point past the archive: %v", err)
	}
	if _, err := arch.Plan(ctx, keeper.AtMark("nope")); !errors.Is(err, keeper.ErrNotArchived) {
		t.Errorf("unknown mark: %v", err)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(arch.At(keeper.AtZxid(1 << 40))); !errors.Is(err, keeper.ErrNotArchived) {
		t.Errorf("reading a point past the archive: %v", err)
	}
	d, err := arch.Drill(ctx, keeper.Latest())
	if err != nil {
		t.Fatal(err)
	}
	if d.Zxid < 1 {
		t.Errorf("drill %+v", d)
	}
}

// TestArchiveReaderReleases checks what an archive's reader holds: the
// tree it rebuilt stays in the temp dir while its stream is read, and is
// gone once the stream is read to its end, or at Close in the middle of
// it; a closed reader reads ErrClosed.
func TestArchiveReaderReleases(t *testing.T) {
	ctx := context.Background()
	target := keeper.DirTarget(filepath.Join(t.TempDir(), "archive"))
	c := archiveCluster(t, 1, target)
	for i := range 50 {
		mustCreate(t, c, "/n"+string(rune('a'+i%26))+string(rune('a'+i/26)), "x")
	}
	waitArchived(t, c, c.WaitLeader().Status().Applied)
	tmp := t.TempDir()
	arch, err := keeper.OpenArchive(ctx, target, keeper.ArchiveOptions{TempDir: tmp})
	if err != nil {
		t.Fatal(err)
	}
	entries := func() int {
		t.Helper()
		ents, err := os.ReadDir(tmp)
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}

	whole := arch.At(keeper.Latest())
	if _, err := io.ReadAll(whole); err != nil {
		t.Fatal(err)
	}
	if n := entries(); n != 0 {
		t.Errorf("a reader read to its end left %d entries in its temp dir", n)
	}
	whole.Close()

	r := arch.At(keeper.Latest())
	if _, err := io.ReadFull(r, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if n := entries(); n == 0 {
		t.Error("the rebuilt tree is not in the temp dir while its stream is read")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if n := entries(); n != 0 {
		t.Errorf("Close left %d entries in the reader's temp dir", n)
	}
	if _, err := r.Read(make([]byte, 1)); !errors.Is(err, keeper.ErrClosed) {
		t.Errorf("read after Close: %v, want ErrClosed", err)
	}
}

// TestArchiveQuietLag: once a quiet cluster's writes are archived, every
// member reports no lag, although the archive's own mark, proposed after
// the last segment, is the last entry and waits for a segment of its own.
func TestArchiveQuietLag(t *testing.T) {
	target := keeper.DirTarget(filepath.Join(t.TempDir(), "archive"))
	c := archiveCluster(t, 3, target, keepertest.WithConfig(func(cfg *keeper.Config) {
		cfg.CheckInterval = time.Hour // no consistency entries: quiet
	}))
	z := mustCreate(t, c, "/a", "x").Mzxid
	waitArchived(t, c, z)
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range c.Nodes() {
		for {
			st := n.Status()
			if st.ArchivedZxid >= z && st.ArchiveLag == 0 && st.ArchiveLagTime == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("member %d on a quiet cluster: archived %d (want %d), lag %d entries, %v", n.ID(), st.ArchivedZxid, z, st.ArchiveLag, st.ArchiveLagTime)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
