package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/keeper-go/keeper"
)

// archiveDemo starts cluster C with a continuous backup into a directory,
// writes /app and a mark, deletes /app whole as a careless operator
// would, and puts /app back on the running cluster from the archive, at
// the mark.
func archiveDemo(ctx context.Context, base string, peers []uint64) error {
	fmt.Println("10. Continuous backup: cluster C sends every committed entry to an archive; undo a deleteall from it")
	target := keeper.DirTarget(filepath.Join(base, "archive"))
	dirs := map[uint64]string{}
	for _, id := range peers {
		dirs[id] = filepath.Join(base, "c", fmt.Sprint(id))
	}
	c, err := startCluster(ctx, "cluster C", dirs, peers, &keeper.ArchiveConfig{Target: target, SyncEvery: 50 * time.Millisecond})
	if err != nil {
		return err
	}
	defer c.close()
	// The archive starts with a base: the tree as the archiving member
	// first finds it. Points before it are not in the archive.
	st, err := c.waitArchived(ctx, 1)
	if err != nil {
		return err
	}
	fmt.Printf("   member %d (the leader) archives; its first base holds the tree at zxid %d\n", st.ID, st.ArchivedZxid)

	n := c.nodes[peers[0]]
	paths := []string{"/app", "/app/config", "/app/workers", "/app/workers/w1", "/app/workers/w2"}
	for _, p := range paths {
		if _, err := write(ctx, n, p, []byte("v1 of "+p), keeper.Persistent); err != nil {
			return err
		}
	}
	mark, err := n.Mark(ctx, "before-cleanup")
	if err != nil {
		return err
	}
	fmt.Printf("   wrote /app and %d znodes under it; Mark(\"before-cleanup\") committed at zxid %d\n", len(paths)-1, mark)
	for i := len(paths) - 1; i >= 0; i-- {
		if err := n.Delete(ctx, paths[i], keeper.AnyVersion); err != nil {
			return err
		}
	}
	fmt.Printf("   an operator runs deleteall /app: %d znodes gone\n", len(paths))

	if _, err := c.waitArchived(ctx, mark); err != nil {
		return err
	}
	arch, err := keeper.OpenArchive(ctx, target, keeper.ArchiveOptions{})
	if err != nil {
		return err
	}
	at := keeper.AtMark("before-cleanup")
	r := arch.At(at)
	defer r.Close()
	start := time.Now()
	info, err := n.RestoreOnline(ctx, r, keeper.RestoreOnlineOptions{Subtree: "/app"})
	if err != nil {
		return err
	}
	plan := r.Plan()
	fmt.Printf("   undo it: RestoreOnline of /app from the archive at the mark (zxid %d, rebuilt from the base at zxid %d and %d entries)\n",
		plan.Zxid, plan.Base.First, plan.Entries)
	fmt.Printf("   %d znodes restored at zxid %d in %v\n",
		info.Znodes, info.Zxid, time.Since(start).Round(time.Millisecond))
	for _, id := range peers {
		m := c.nodes[id]
		if err := m.Sync(ctx, "/app"); err != nil {
			return err
		}
		count, err := m.AllChildrenNumber(ctx, "/app")
		if err != nil {
			return fmt.Errorf("member %d: /app: %w", id, err)
		}
		if count != int64(len(paths)-1) {
			return fmt.Errorf("member %d: /app holds %d znodes, want %d", id, count, len(paths)-1)
		}
	}
	fmt.Printf("   /app and its %d znodes are back on every member\n", len(paths)-1)
	st, err = c.waitArchived(ctx, info.Zxid)
	if err != nil {
		return err
	}
	fmt.Printf("   the archive holds the restore too; member %d's Status: ArchivedZxid %d, Applied %d, ArchiveLag %d, ArchiveLagTime %v, ArchiveGaps %d\n",
		st.ID, st.ArchivedZxid, st.Applied, st.ArchiveLag, st.ArchiveLagTime.Round(time.Millisecond), st.ArchiveGaps)
	return nil
}

// waitArchived waits until the leader reports that the archive holds zxid
// z, and returns its Status.
func (c *cluster) waitArchived(ctx context.Context, z keeper.Zxid) (keeper.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		l, err := c.leader(ctx)
		if err != nil {
			return keeper.Status{}, err
		}
		st := l.Status()
		if st.ArchivedZxid >= z {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("%s: the archive holds zxid %d, not %d (lag %d, err %q): %w",
				c.name, st.ArchivedZxid, z, st.ArchiveLag, st.ArchiveErr, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}
