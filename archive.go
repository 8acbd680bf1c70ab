package keeper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/keeper-go/keeper/internal/stream"
)

var (
	// ErrArchiveCorrupt reports an archive object that cannot be trusted:
	// damaged, cut short, of another cluster, or not what its name says
	// (a segment holding other entries, entries out of order). It matches
	// ErrCorruptBackup. Such an object is never applied.
	ErrArchiveCorrupt = fmt.Errorf("keeper: corrupt archive object: %w", ErrCorruptBackup)
	// ErrNotArchived reports a point the archive cannot restore: before
	// its oldest base, after the newest entry it holds, across entries it
	// lacks (a missing segment, or a gap recorded when the raft log
	// released entries before they were archived), or a mark it does not
	// hold. The message says which.
	ErrNotArchived = errors.New("keeper: point not in the archive")
)

// ArchiveOptions configures OpenArchive.
type ArchiveOptions struct {
	// Key is the 32-byte host key the archive was written with
	// (ArchiveConfig.Key), or nil for a plaintext archive.
	Key []byte
	// ClusterID picks the cluster whose archive to open when the target
	// holds several (a cluster restored from an archive archives under its
	// own id beside its origin). Zero means the cluster that wrote the
	// target's newest object.
	ClusterID uint64
	// TempDir is where restores build their trees; empty means the
	// system's temp dir. A restore needs about the space of the tree. The
	// tree there is written for speed, not durability: nothing in it is
	// synced, and a process that dies mid-restore leaves a
	// "keeper-archive-*" dir there to delete.
	TempDir string
	// Logger receives progress records; nil means silence.
	Logger *slog.Logger
}

// Archive reads a cluster's continuous backup on a Target: base backups
// and log segments written by members with Config.Archive. It restores the
// tree as it was at any Point it holds (At, with Restore or RestoreOnline),
// plans and verifies restores, and lists every version of a znode. An
// Archive is safe for concurrent use; it only reads the target, and sees
// objects written after OpenArchive.
type Archive struct {
	target  Target
	opts    ArchiveOptions
	cluster uint64
	log     *slog.Logger
}

// OpenArchive opens the archive on target. It fails with ErrNotArchived
// if the target holds no archive (of opts.ClusterID, if set).
func OpenArchive(ctx context.Context, target Target, opts ArchiveOptions) (*Archive, error) {
	if target == nil {
		return nil, fmt.Errorf("%w: archive target is nil", ErrBadArguments)
	}
	if len(opts.Key) != 0 && len(opts.Key) != stream.KeySize {
		return nil, fmt.Errorf("%w: archive key has %d bytes, want %d", ErrBadArguments, len(opts.Key), stream.KeySize)
	}
	a := &Archive{target: target, opts: opts, cluster: opts.ClusterID, log: opts.Logger}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	clusters, err := a.Clusters(ctx)
	if err != nil {
		return nil, err
	}
	if len(clusters) == 0 {
		return nil, fmt.Errorf("%w: the target holds no archive", ErrNotArchived)
	}
	if a.cluster == 0 {
		a.cluster = clusters[0].ClusterID
		return a, nil
	}
	for _, c := range clusters {
		if c.ClusterID == a.cluster {
			return a, nil
		}
	}
	return nil, fmt.Errorf("%w: the target holds no archive of cluster %016x", ErrNotArchived, a.cluster)
}

// ArchivedCluster is one cluster's archive on a target.
type ArchivedCluster struct {
	// ClusterID is the cluster's id.
	ClusterID uint64
	// Objects counts its objects, Bytes their size.
	Objects int
	Bytes   int64
	// Newest is the time of its newest entry or base.
	Newest time.Time
}

// Clusters lists the clusters archived on the target, the one with the
// newest object first.
func (a *Archive) Clusters(ctx context.Context) ([]ArchivedCluster, error) {
	objs, err := a.target.List(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("keeper: archive list: %w", err)
	}
	var out []ArchivedCluster
	at := map[uint64]int{}
	for _, o := range objs {
		obj, ok := parseArchObject(o)
		if !ok {
			continue
		}
		i, seen := at[obj.Cluster]
		if !seen {
			i = len(out)
			at[obj.Cluster] = i
			out = append(out, ArchivedCluster{ClusterID: obj.Cluster})
		}
		c := &out[i]
		c.Objects++
		c.Bytes += obj.Size
		if t := time.UnixMilli(obj.Time1); obj.Time1 > 0 && t.After(c.Newest) {
			c.Newest = t
		}
	}
	slices.SortFunc(out, func(x, y ArchivedCluster) int { return y.Newest.Compare(x.Newest) })
	return out, nil
}

// ClusterID is the id of the cluster whose archive this is.
func (a *Archive) ClusterID() uint64 { return a.cluster }

// ArchiveObject is an object of the archive, as a plan or a listing shows
// it.
type ArchiveObject struct {
	// Name is the object's name on the target.
	Name string
	// Size is its length in bytes.
	Size int64
	// First and Last are the zxids a segment holds; a base has both at
	// the zxid of its tree.
	First, Last Zxid
	// Time is a base's time, or the time of a segment's last timed entry.
	Time time.Time
}

func publicObject(o archObject) ArchiveObject {
	out := ArchiveObject{Name: o.Name, Size: o.Size, First: Zxid(o.First), Last: Zxid(o.Last)}
	if o.Time1 > 0 {
		out.Time = time.UnixMilli(o.Time1)
	}
	return out
}

// RestorePlan is what a restore to a point reads: one base and the log
// segments after it, and the zxid it reaches.
type RestorePlan struct {
	// Point is the point asked for.
	Point Point
	// Zxid is the zxid the restored tree is at.
	Zxid Zxid
	// Base is the base backup the restore starts from.
	Base ArchiveObject
	// Segments are the log segments it applies after the base, in order.
	// The first may start before the base and the last end after Zxid:
	// only the entries between are applied.
	Segments []ArchiveObject
	// Entries is how many entries it applies, Bytes how many bytes it
	// reads.
	Entries uint64
	Bytes   int64
}

// Plan says what a restore to p would read, without reading it. For a
// point the archive cannot reach it returns an error matching
// ErrNotArchived that says what is missing. Resolving a time or a mark
// reads the segments that hold it.
func (a *Archive) Plan(ctx context.Context, p Point) (RestorePlan, error) {
	c, err := listCatalog(ctx, a.target, a.cluster, archBase, archSegment, archGap)
	if err != nil {
		return RestorePlan{}, err
	}
	return a.plan(ctx, c, p)
}

func (a *Archive) plan(ctx context.Context, c *catalog, p Point) (RestorePlan, error) {
	z, err := a.resolve(ctx, c, p)
	if err != nil {
		return RestorePlan{}, err
	}
	return c.planTo(p, z)
}

// resolve turns a point into the zxid it names.
func (a *Archive) resolve(ctx context.Context, c *catalog, p Point) (uint64, error) {
	switch p.kind {
	case pointLatest:
		z, ok := c.reach()
		if !ok {
			return 0, fmt.Errorf("%w: the archive holds no base", ErrNotArchived)
		}
		return z, nil
	case pointZxid:
		if p.zxid <= 0 {
			return 0, fmt.Errorf("%w: %v", ErrNotArchived, p)
		}
		z := uint64(p.zxid)
		if p.exclusive {
			z--
		}
		return z, nil
	case pointTime:
		return a.resolveTime(ctx, c, p)
	case pointMark:
		return a.resolveMark(ctx, c, p)
	}
	return 0, fmt.Errorf("%w: unknown point", ErrBadArguments)
}

// resolveTime finds the last zxid before the first entry proposed after
// p's time (at or after it, if exclusive), reading at most the one
// segment in which that happens.
func (a *Archive) resolveTime(ctx context.Context, c *catalog, p Point) (uint64, error) {
	ms := p.time.UnixMilli()
	after := func(t int64) bool { return t > ms || (p.exclusive && t == ms) }
	// Before any segment: the newest base written at or before the time.
	var z uint64
	for _, b := range c.bases {
		if b.Time0 != 0 && !after(b.Time0) {
			z = b.First
		}
	}
	cur := uint64(0)
	if len(c.bases) > 0 {
		cur = c.bases[0].First
	}
	for {
		s, ok := c.nextSegment(cur)
		if !ok {
			break
		}
		switch {
		case s.Time0 != 0 && after(s.Time0):
			// The whole segment is later.
			return a.timeFound(z, p)
		case s.Time1 == 0 || !after(s.Time1):
			z = s.Last
			cur = s.Last
			continue
		}
		// The time falls inside this segment.
		found, err := a.scanSegment(ctx, s, func(idx uint64, e entryView) bool {
			if t, ok := e.time(); ok && after(t) {
				z = idx - 1
				return true
			}
			return false
		})
		if err != nil {
			return 0, err
		}
		if !found {
			z = s.Last
		}
		return a.timeFound(z, p)
	}
	return a.timeFound(z, p)
}

func (a *Archive) timeFound(z uint64, p Point) (uint64, error) {
	if z == 0 {
		return 0, fmt.Errorf("%w: %v is before the archive's oldest entry", ErrNotArchived, p)
	}
	return z, nil
}

// resolveMark finds the newest mark named p.mark, reading segments from
// the newest back.
func (a *Archive) resolveMark(ctx context.Context, c *catalog, p Point) (uint64, error) {
	for i := len(c.segments) - 1; i >= 0; i-- {
		var z uint64
		_, err := a.scanSegment(ctx, c.segments[i], func(idx uint64, e entryView) bool {
			if name, ok := e.markName(); ok && name == p.mark {
				z = idx
			}
			return false
		})
		if err != nil {
			return 0, err
		}
		if z != 0 {
			if p.exclusive {
				z--
			}
			return z, nil
		}
	}
	return 0, fmt.Errorf("%w: no mark called %q", ErrNotArchived, p.mark)
}

// scanSegment reads every entry of segment s, calling visit with each
// until it returns true; found says whether it did. The whole segment is
// read and checked either way.
func (a *Archive) scanSegment(ctx context.Context, s archObject, visit func(idx uint64, e entryView) bool) (found bool, err error) {
	rc, err := a.target.Get(ctx, s.Name)
	if err != nil {
		return false, fmt.Errorf("keeper: archive: %w", err)
	}
	defer rc.Close()
	sr, err := openSegment(rc, s, a.opts.Key)
	if err != nil {
		return false, err
	}
	defer sr.close()
	for {
		e, err := sr.entry()
		if err == io.EOF {
			return found, nil
		}
		if err != nil {
			return false, err
		}
		if !found && visit(e.GetIndex(), entryView{e}) {
			found = true
		}
		if err := ctx.Err(); err != nil {
			return false, err
		}
	}
}
