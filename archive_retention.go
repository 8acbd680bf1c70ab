package keeper

import (
	"context"
	"fmt"
	"time"
)

// Retention says how much of an archive to keep (ArchiveConfig.Retain,
// Archive.Expire). Everything needed to restore any point inside Window
// stays, and so does the newest base older than the window, which is the
// only way into its start; older bases, and log segments, gaps, path
// indexes and claims wholly before the oldest base kept, go. The zero Retention keeps
// every base.
type Retention struct {
	// Window is how far back from now every point stays restorable. Zero
	// means forever.
	Window time.Duration
	// MinBases is how many of the newest bases stay, with the log after
	// them, however old they are. Zero means 1.
	MinBases int
}

// ExpireOptions configures Archive.Expire.
type ExpireOptions struct {
	// DryRun lists what would be deleted and deletes nothing.
	DryRun bool
	// Now is the time the window is measured back from; zero means now.
	Now time.Time
}

// ExpireReport says what Expire deleted (or, in a dry run, would delete).
type ExpireReport struct {
	// Deleted lists the objects deleted, oldest first.
	Deleted []ArchiveObject
	// Bytes is their size.
	Bytes int64
	// OldestBase is the oldest base kept: the oldest point still
	// restorable.
	OldestBase ArchiveObject
}

// Expire deletes what r no longer keeps. A point inside the window, or
// after any of the newest r.MinBases bases, stays restorable; Plan and
// Verify keep working on what remains. An archive with no base is left as
// it is.
func (a *Archive) Expire(ctx context.Context, r Retention, opts ExpireOptions) (ExpireReport, error) {
	c, err := listCatalog(ctx, a.target, a.cluster)
	if err != nil {
		return ExpireReport{}, err
	}
	rep := c.expiry(r, opts.Now)
	if opts.DryRun {
		return rep, nil
	}
	for _, o := range rep.Deleted {
		if err := a.target.Delete(ctx, o.Name); err != nil {
			return rep, fmt.Errorf("keeper: archive expire: %w", err)
		}
	}
	if len(rep.Deleted) > 0 {
		a.log.Info("archive: expired", "objects", len(rep.Deleted), "bytes", rep.Bytes, "oldest_base", rep.OldestBase.First)
	}
	return rep, nil
}

// expiry works out what r keeps of c.
func (c *catalog) expiry(r Retention, now time.Time) ExpireReport {
	var rep ExpireReport
	if len(c.bases) == 0 {
		return rep
	}
	if now.IsZero() {
		now = time.Now()
	}
	// keep is the index of the oldest base kept.
	keep := 0
	if r.Window > 0 {
		start := now.Add(-r.Window).UnixMilli()
		for i, b := range c.bases {
			if b.Time0 <= start {
				keep = i // the newest base at or before the window's start
			}
		}
	}
	keep = min(keep, len(c.bases)-max(r.MinBases, 1))
	keep = max(keep, 0)
	oldest := c.bases[keep]
	rep.OldestBase = publicObject(oldest)
	drop := func(o archObject) {
		rep.Deleted = append(rep.Deleted, publicObject(o))
		rep.Bytes += o.Size
	}
	for _, b := range c.bases[:keep] {
		drop(b)
	}
	for _, list := range [][]archObject{c.segments, c.gaps, c.indexes, c.merged, c.claims} {
		for _, o := range list {
			if o.Last <= oldest.First {
				drop(o)
			}
		}
	}
	return rep
}
