package keeper

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/keeper-go/keeper/internal/keys"
	"github.com/keeper-go/keeper/internal/stream"
	"github.com/keeper-go/keeper/internal/wire"
	"go.etcd.io/raft/v3/raftpb"
)

// historyBaseSkew is how much earlier than Since a base must have been
// written for History to start from it: proposers' clocks and the
// archiver's differ a little.
const historyBaseSkew = time.Minute

// historySeg is one segment of a History's range and what to read of it.
type historySeg struct {
	obj   archObject
	index archObject // its path index, which may not exist
	// merged is the merged path index covering it (h.merged), or -1.
	merged int
	// scan says the whole segment is read (no usable index, or Subtree);
	// else hits are the zxids to read, ascending, and next the first not
	// read yet.
	scan bool
	hits []uint64
	next int
	// fetched holds entries of hits read ahead (historyRun.fetch).
	fetched map[uint64]*raftpb.Entry
}

// historyRun is one History call under way.
type historyRun struct {
	a     *Archive
	o     historyOptions
	keyer indexKeyer
	segs  []historySeg
	sim   *historySim
	yield func(Version, error) bool
	// watched is the session whose end the run looks for in the indexes,
	// because the followed znode is its ephemeral.
	watched SessionID
	// merged are the merged path indexes covering segments of the run.
	merged []*mergedRead
}

// mergedRead is a merged path index as a History reads it: each name's
// hits, read once for every segment it covers.
type mergedRead struct {
	obj  archObject
	bad  bool // unreadable: the segments' own indexes serve instead
	hits map[string][]wire.IndexHit
}

func (a *Archive) history(ctx context.Context, path string, o historyOptions, yield func(Version, error) bool) error {
	if err := validatePath(path, false); err != nil {
		return err
	}
	// The segments' own path indexes are not listed: their names follow
	// from the segments'. An archive holds as many of them as segments.
	c, err := listCatalog(ctx, a.target, a.cluster, archBase, archSegment, archGap, archMergedIndex)
	if err != nil {
		return err
	}
	base, ok := historyBase(c, o)
	if !ok {
		return fmt.Errorf("%w: the archive holds no base", ErrNotArchived)
	}
	// The indexes hash paths under the key, so a wrong key finds
	// nothing in them: check it against the base's header first.
	if err := a.checkKey(ctx, base); err != nil {
		return err
	}
	h := &historyRun{a: a, o: o, keyer: newIndexKeyer(a.opts.Key), sim: newHistorySim(path, o.subtree), yield: yield}
	hole := h.plan(c, base)
	work := false
	for i := range h.segs {
		if err := h.lookup(ctx, i); err != nil {
			return err
		}
		work = work || h.segs[i].scan || len(h.segs[i].hits) > 0
	}
	if !work {
		return hole
	}
	if err := a.historyBaseState(ctx, base, h.sim); err != nil {
		return err
	}
	if err := h.watch(ctx, 0, base.First); err != nil {
		return err
	}
	for i := range h.segs {
		s := &h.segs[i]
		if !s.scan && len(s.hits) == 0 {
			continue
		}
		if err := h.fetch(ctx, i); err != nil {
			return err
		}
		done, err := h.segment(ctx, i)
		if err != nil || done {
			return err
		}
	}
	return hole
}

// historyBase picks the base a History starts from: the newest written
// before the range starts, or the oldest.
func historyBase(c *catalog, o historyOptions) (archObject, bool) {
	if len(c.bases) == 0 {
		return archObject{}, false
	}
	best := c.bases[0]
	if o.from == 0 && o.since == 0 {
		return best, true
	}
	for _, b := range c.bases[1:] {
		if (o.from == 0 || b.First < o.from) && (o.since == 0 || (b.Time0 != 0 && b.Time0 <= o.since-historyBaseSkew.Milliseconds())) {
			best = b
		}
	}
	return best, true
}

// plan lists the segments from base to the end of the range, with their
// path indexes, and returns the error to end with if the log has a hole
// before the range's end.
func (h *historyRun) plan(c *catalog, base archObject) error {
	cur := base.First
	for cur < h.o.to {
		s, ok := c.nextSegment(cur)
		if !ok {
			if g, ok := c.gapAt(cur); ok {
				return fmt.Errorf("%w: entries %d..%d were lost before they were archived (a recorded gap)", ErrNotArchived, g.First, g.Last)
			}
			for _, s := range c.segments {
				if s.First > cur+1 && s.First <= h.o.to {
					return fmt.Errorf("%w: the archive has no entry %d", ErrNotArchived, cur+1)
				}
			}
			return nil
		}
		if s.First > h.o.to || (s.Time0 != 0 && s.Time0 > h.o.until) {
			return nil
		}
		seg := historySeg{obj: s, scan: h.o.subtree, merged: -1,
			index: archObject{Name: archIndexName(c.cluster, s.First, s.Last), Kind: archIndex, Cluster: c.cluster, First: s.First, Last: s.Last}}
		if !seg.scan {
			seg.merged = h.mergedFor(c, s)
		}
		h.segs = append(h.segs, seg)
		cur = s.Last
	}
	return nil
}

// mergedFor returns the position in h.merged of a merged path index of c
// that covers segment s, adding it if new, or -1 if none does.
func (h *historyRun) mergedFor(c *catalog, s archObject) int {
	if n := len(h.merged); n > 0 && h.merged[n-1].obj.First <= s.First && s.Last <= h.merged[n-1].obj.Last {
		return n - 1
	}
	for _, m := range c.merged {
		if m.First > s.First {
			break
		}
		if s.Last <= m.Last {
			h.merged = append(h.merged, &mergedRead{obj: m, hits: map[string][]wire.IndexHit{}})
			return len(h.merged) - 1
		}
	}
	return -1
}

// segHits returns the hits of names in segment i, from the merged index
// covering it if one does and can be read, else from its own index.
func (h *historyRun) segHits(ctx context.Context, i int, names ...string) ([][]wire.IndexHit, error) {
	s := &h.segs[i]
	if s.merged >= 0 && !h.merged[s.merged].bad {
		m := h.merged[s.merged]
		all, err := h.mergedHits(ctx, m, names)
		if err == nil {
			out := make([][]wire.IndexHit, len(all))
			for k, hs := range all {
				lo, _ := slices.BinarySearchFunc(hs, s.obj.First, func(hit wire.IndexHit, z uint64) int { return cmp.Compare(hit.Zxid, z) })
				hi, _ := slices.BinarySearchFunc(hs, s.obj.Last+1, func(hit wire.IndexHit, z uint64) int { return cmp.Compare(hit.Zxid, z) })
				out[k] = hs[lo:hi]
			}
			return out, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		h.a.log.Warn("archive: history: merged path index unreadable; reading the segments' own", "index", m.obj.Name, "err", err)
		m.bad = true
	}
	return h.indexHits(ctx, s.index, names...)
}

// mergedHits returns the hits of names in merged index m, reading the
// index for those not read before.
func (h *historyRun) mergedHits(ctx context.Context, m *mergedRead, names []string) ([][]wire.IndexHit, error) {
	var missing []string
	for _, n := range names {
		if _, ok := m.hits[n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		got, err := h.indexHits(ctx, m.obj, missing...)
		if err != nil {
			return nil, err
		}
		for k, n := range missing {
			m.hits[n] = got[k]
		}
	}
	out := make([][]wire.IndexHit, len(names))
	for k, n := range names {
		out[k] = m.hits[n]
	}
	return out, nil
}

// lookup reads segment i's path index for the followed path and online
// restores. An unreadable index is logged and the segment read whole.
func (h *historyRun) lookup(ctx context.Context, i int) error {
	s := &h.segs[i]
	if s.scan {
		return nil
	}
	hits, err := h.segHits(ctx, i, h.sim.scope, restoreIndexName)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		level := slog.LevelWarn
		if errors.Is(err, ErrTargetNotFound) {
			level = slog.LevelDebug // an archive may lack them: an archiver could not write it
		}
		h.a.log.Log(ctx, level, "archive: history: no readable path index; reading its segment whole", "index", s.index.Name, "err", err)
		s.scan = true
		return nil
	}
	for k, hs := range hits {
		for _, hit := range hs {
			s.hits = append(s.hits, hit.Zxid)
			if k == 0 && hit.Flags&idxCreate != 0 {
				h.sim.madeByIndex(hit.Zxid)
			}
		}
	}
	slices.Sort(s.hits)
	s.hits = slices.Compact(s.hits)
	return nil
}

// indexHits reads path index x for names.
func (h *historyRun) indexHits(ctx context.Context, x archObject, names ...string) ([][]wire.IndexHit, error) {
	ks := make([]uint64, len(names))
	for i, n := range names {
		ks[i] = h.keyer.key(n)
	}
	rc, err := h.a.target.Get(ctx, x.Name)
	if err != nil {
		return nil, fmt.Errorf("keeper: archive: %w", err)
	}
	defer rc.Close()
	head, hits, err := wire.ReadPathIndex(rc, ks...)
	if err != nil {
		return nil, archiveErr(x, err)
	}
	if head.First != x.First || head.Last != x.Last {
		return nil, fmt.Errorf("%w: %s indexes entries %d..%d", ErrArchiveCorrupt, x.Name, head.First, head.Last)
	}
	return hits, nil
}

// watch looks, when the followed znode is an ephemeral, for its session's
// end after zxid in the indexes of segments i and on, and adds it to the
// zxids to read. It stops at a segment read whole, which shows the end
// itself.
func (h *historyRun) watch(ctx context.Context, i int, zxid uint64) error {
	if h.sim.subtree {
		return nil
	}
	owner := h.sim.ephemeralOwner(h.sim.scope)
	if owner == 0 || owner == h.watched {
		return nil
	}
	h.watched = owner
	for ; i < len(h.segs); i++ {
		s := &h.segs[i]
		if s.scan {
			return nil
		}
		hits, err := h.segHits(ctx, i, sessionIndexName(int64(owner)))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// The segment was indexed when planned: read it whole.
			h.a.log.Warn("archive: history: path index unreadable; reading its segment whole", "index", s.index.Name, "err", err)
			s.scan = true
			return nil
		}
		for _, hit := range hits[0] {
			if hit.Zxid > zxid {
				at, _ := slices.BinarySearch(s.hits, hit.Zxid)
				s.hits = slices.Insert(s.hits, at, hit.Zxid)
				s.hits = slices.Compact(s.hits)
				return nil
			}
		}
	}
	return nil
}

// segment reads segment i's entries that the run wants, the fetched
// ones from memory; done says the range's end was reached.
func (h *historyRun) segment(ctx context.Context, i int) (done bool, err error) {
	s := &h.segs[i]
	defer func() { s.fetched = nil }()
	var sr *segmentReader
	defer func() {
		if sr != nil {
			sr.close()
		}
	}()
	for {
		var want uint64
		if !s.scan {
			if s.next == len(s.hits) {
				return false, nil
			}
			want = s.hits[s.next]
			s.next++
		}
		e := s.fetched[want]
		if e == nil {
			if sr == nil {
				if sr, err = h.openSegment(ctx, s.obj); err != nil {
					return false, err
				}
			}
			if e, err = sr.entryAt(want); err == io.EOF {
				return false, nil
			} else if err != nil {
				return false, err
			}
		}
		if e.GetIndex() > h.o.to {
			return true, nil
		}
		if err := h.entry(ctx, i, e); err != nil {
			return false, err
		}
		if err := ctx.Err(); err != nil {
			return false, err
		}
	}
}

// openSegment opens segment obj for reading; closing the reader closes
// the object.
func (h *historyRun) openSegment(ctx context.Context, obj archObject) (*segmentReader, error) {
	rc, err := h.a.target.Get(ctx, obj.Name)
	if err != nil {
		return nil, fmt.Errorf("keeper: archive: %w", err)
	}
	sr, err := openSegment(rc, obj, h.a.opts.Key)
	if err != nil {
		rc.Close()
		return nil, err
	}
	sr.body = rc
	return sr, nil
}

// entryAt returns the entry at index want, skipping the records before it
// undecoded, or the next entry if want is 0. Skipped records are checked
// for their index only (and, by the stream, for their checksums).
func (s *segmentReader) entryAt(want uint64) (*raftpb.Entry, error) {
	for want != 0 && s.next < want {
		kind, p, err := s.sr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("%w: %s: ends at entry %d, before %d", ErrArchiveCorrupt, s.obj.Name, s.next-1, want)
		}
		if err != nil {
			return nil, archiveErr(s.obj, err)
		}
		if idx, n := binary.Uvarint(p); kind != recordLog || n <= 0 || idx != s.next {
			return nil, fmt.Errorf("%w: %s: record %x.. where entry %d belongs", ErrArchiveCorrupt, s.obj.Name, p[:min(len(p), 8)], s.next)
		}
		s.next++
	}
	return s.entry()
}

// entry follows one archived entry and yields the changes it made.
func (h *historyRun) entry(ctx context.Context, i int, e *raftpb.Entry) error {
	r, ok := entryView{e}.request()
	if !ok {
		return nil
	}
	z := e.GetIndex()
	var changes []simChange
	uncertain := false
	switch r.Kind {
	case reqOps:
		changes, uncertain = h.sim.apply(r, z)
	case reqCloseSession:
		changes = h.sim.endSession(r.Session, z)
		r.Auth = nil
	case reqRestoreCommit:
		if sub := r.Subtree; sub == "/" || h.sim.follows(sub) || h.sim.scope == sub || strings.HasPrefix(h.sim.scope, sub+"/") {
			return fmt.Errorf("%w: an online restore at zxid %d replaced %s; history does not follow it across", ErrNotArchived, z, sub)
		}
		return nil
	default:
		return nil
	}
	for _, c := range changes {
		v := Version{
			Path: c.path, Zxid: Zxid(z), Time: time.UnixMilli(r.Time), Op: c.op,
			Session: SessionID(r.Session), Identities: r.Auth, Multi: r.Multi, Uncertain: uncertain,
		}
		// Each Version owns its slices: the sim's state shares them.
		if c.before != nil {
			v.Before = append([]byte{}, c.before.data...)
		}
		if n := c.after; n != nil {
			v.Data, v.ACL = append([]byte{}, n.data...), slices.Clone(n.acl)
			v.DataVersion, v.ACLVersion = n.stat.Version, n.stat.Aversion
		} else {
			v.DataVersion, v.ACLVersion = c.before.stat.Version, c.before.stat.Aversion
		}
		if z < h.o.from || r.Time < h.o.since || r.Time > h.o.until {
			continue
		}
		if !h.yield(v, nil) {
			return errHistoryStopped
		}
	}
	if len(changes) > 0 {
		return h.watch(ctx, i, z)
	}
	return nil
}

// checkKey reads the header of archive object obj with the archive's
// key: a wrong key (or a key for a plaintext archive) fails as a restore
// would.
func (a *Archive) checkKey(ctx context.Context, obj archObject) error {
	rc, err := a.target.Get(ctx, obj.Name)
	if err != nil {
		return fmt.Errorf("keeper: archive: %w", err)
	}
	defer rc.Close()
	sr, err := stream.NewReader(rc, stream.ReaderOptions{Key: a.opts.Key})
	if err != nil {
		return archiveErr(obj, err)
	}
	sr.Close()
	return nil
}

// errBaseFound ends a base's read once History has what it wants of it.
var errBaseFound = errors.New("keeper: history: found")

// historyBaseState reads the followed znodes' state from base: the one
// path (the read stops once past it), or every znode of the subtree.
func (a *Archive) historyBaseState(ctx context.Context, base archObject, sim *historySim) error {
	rc, err := a.target.Get(ctx, base.Name)
	if err != nil {
		return fmt.Errorf("keeper: archive: %w", err)
	}
	defer rc.Close()
	target := keys.NodeKey(nil, sim.scope)
	_, err = readTree(ctx, rc, a.opts.Key, nil, func(info BackupInfo) error {
		if info.ClusterID != a.cluster || uint64(info.Zxid) != base.First {
			return fmt.Errorf("%w: %s holds the tree of cluster %016x at zxid %d", ErrArchiveCorrupt, base.Name, info.ClusterID, info.Zxid)
		}
		return nil
	}, func(rec *znodeRecord) error {
		if sim.follows(rec.path) {
			n := rec.node
			n.data = bytes.Clone(n.data)
			sim.nodes[rec.path] = &n
			if !sim.subtree {
				return errBaseFound
			}
		}
		if !sim.subtree && bytes.Compare(rec.key, target) > 0 {
			return errBaseFound
		}
		return nil
	}, nil)
	if err != nil && !errors.Is(err, errBaseFound) {
		return archiveErr(base, err)
	}
	return nil
}
