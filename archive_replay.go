package keeper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/keeper-go/keeper/internal/wire"
	"go.etcd.io/raft/v3/raftpb"
	"golang.org/x/sync/errgroup"
)

// replayGroup is how many entries a replay applies in one group at most.
const replayGroup = 1024

// replayed is a tree the archive rebuilt in a temp dir.
type replayed struct {
	dir string
	t   *tree
	// time is the proposer's time of the last timed entry applied, or the
	// base's time (Unix milliseconds).
	time int64
	// checked counts the digests the replay compared with the ones the
	// cluster recorded (consistency checks, and bases on the way).
	checked int
}

func (r *replayed) close() {
	if r.t != nil {
		r.t.close()
	}
	os.RemoveAll(r.dir)
}

// replay builds the tree at plan.Zxid in a temp dir: the base restored as
// Restore does, then the segments' entries applied by the tree's own
// deterministic apply, as the members applied them. On the way it compares
// the tree's digest with every digest the cluster recorded: at each
// consistency check a later check confirms (its PrevZxid and PrevDigest),
// and at the zxid of any base in want. A difference is ErrArchiveCorrupt.
func (a *Archive) replay(ctx context.Context, plan RestorePlan, want map[uint64]uint64) (_ *replayed, err error) {
	dir, err := os.MkdirTemp(a.opts.TempDir, "keeper-archive-")
	if err != nil {
		return nil, fmt.Errorf("keeper: archive restore: %w", err)
	}
	rp := &replayed{dir: dir}
	defer func() {
		if err != nil {
			rp.close()
		}
	}()
	base, err := a.restoreBase(ctx, plan.Base, filepath.Join(dir, "tree"))
	if err != nil {
		return nil, err
	}
	rp.time = base.Time.UnixMilli()
	if rp.t, err = openScratchTree(filepath.Join(dir, "tree"), a.cluster); err != nil {
		return nil, fmt.Errorf("keeper: archive restore: %w", err)
	}
	t := rp.t
	cs := &raftpb.ConfState{}
	if m := t.membership(); m != nil {
		if cs, err = wire.DecodeMembership(m); err != nil {
			return nil, err
		}
	}
	conv, err := newEntryReplay(0, t.applied(), cs)
	if err != nil {
		return nil, err
	}
	// One goroutine reads the segments, decodes their entries and reads
	// the nodes they will look up (readLog); this one applies them
	// (applyLog). The reader stays at most replayAhead batches ahead.
	t.readAhead = true
	ar, next := t.newAheadReader(), t.applied()+1
	g, gctx := errgroup.WithContext(ctx)
	batches := make(chan replayBatch, replayAhead)
	g.Go(func() error {
		defer close(batches)
		defer ar.close()
		return a.readLog(gctx, plan, next, conv, ar, batches)
	})
	// An apply error cancels gctx, which stops the reader's sends.
	g.Go(func() error { return a.applyLog(rp, batches, want) })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if z := uint64(plan.Zxid); t.applied() != z {
		return nil, fmt.Errorf("%w: the restore reached zxid %d of %d", ErrNotArchived, t.applied(), z)
	}
	return rp, nil
}

// replayBatch is entries of the log on their way to the tree, decoded by
// readLog for applyLog, with the nodes they will look up read ahead.
type replayBatch struct {
	items []replayItem
	nodes []aheadNode
}

// replayItem is one entry of a replayBatch.
type replayItem struct {
	c committed
	// check is a consistency entry's check, isCheck true for one.
	check   []byte
	isCheck bool
	// time is the proposer's time in Unix milliseconds, if timed.
	time  int64
	timed bool
}

// A replayBatch holds replayBatchSize entries at most, and readLog is at
// most replayAhead batches ahead of the apply: about one apply group,
// which it reads while the group before applies.
const (
	replayBatchSize = replayGroup / 4
	replayAhead     = 4
)

// readLog reads plan's segments and sends their entries from index next
// to the plan's zxid, decoded, in batches, with the nodes ar reads ahead
// for them.
func (a *Archive) readLog(ctx context.Context, plan RestorePlan, next uint64, conv *entryReplay, ar *aheadReader, out chan<- replayBatch) error {
	z := uint64(plan.Zxid)
	var batch replayBatch
	ents := make([]committed, 0, replayBatchSize)
	send := func() error {
		if len(batch.items) == 0 {
			return nil
		}
		// The nodes are read ahead only while the apply has a batch to
		// go on with: when the reading is the slower, the apply reads
		// them itself rather than wait.
		if len(out) > 0 {
			ents = ents[:0]
			for i := range batch.items {
				ents = append(ents, batch.items[i].c)
			}
			var err error
			if batch.nodes, err = ar.read(ents, batch.nodes); err != nil {
				// The apply reads those nodes itself, and meets the
				// error if it is the store's.
				batch.nodes = nil
			}
		}
		select {
		case out <- batch:
		case <-ctx.Done():
			return ctx.Err()
		}
		batch = replayBatch{items: make([]replayItem, 0, replayBatchSize)}
		return nil
	}
	batch.items = make([]replayItem, 0, replayBatchSize)
	for _, seg := range plan.Segments {
		err := a.eachEntry(ctx, seg, func(e *raftpb.Entry) error {
			idx := e.GetIndex()
			if idx < next || idx > z {
				return nil
			}
			c, d, err := conv.convert(e)
			if err != nil {
				return fmt.Errorf("%w: %s: %w", ErrArchiveCorrupt, seg.Name, err)
			}
			next = idx + 1
			it := replayItem{c: c, isCheck: d.Kind == wire.EntryCheck, check: d.Check}
			it.time, it.timed = entryTime(e)
			batch.items = append(batch.items, it)
			if len(batch.items) == replayBatchSize {
				return send()
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return send()
}

// applyLog applies the entries readLog sends to rp's tree, in groups of up
// to replayGroup, comparing its digest with the ones the cluster recorded
// (see replay).
func (a *Archive) applyLog(rp *replayed, batches <-chan replayBatch, want map[uint64]uint64) error {
	t := rp.t
	recorded := map[uint64]uint64{} // digests at the checks applied so far
	group := make([]committed, 0, replayGroup)
	flush := func() error {
		if len(group) == 0 {
			return nil
		}
		if _, err := t.apply(group); err != nil {
			return fmt.Errorf("keeper: archive restore: apply entries %d..%d: %w", group[0].Index, group[len(group)-1].Index, err)
		}
		group = group[:0]
		return nil
	}
	compare := func(zxid, digest uint64, what string) error {
		got, ok := recorded[zxid]
		if !ok {
			return nil
		}
		if got != digest {
			return fmt.Errorf("%w: the tree replayed to zxid %d has digest %x, %s recorded %x", ErrArchiveCorrupt, zxid, got, what, digest)
		}
		rp.checked++
		return nil
	}
	for batch := range batches {
		t.offerAhead(batch.nodes)
		for i := range batch.items {
			it := &batch.items[i]
			idx := it.c.Index
			if it.timed {
				rp.time = it.time
			}
			group = append(group, it.c)
			_, isBase := want[idx]
			if !it.isCheck && !isBase && len(group) < replayGroup {
				continue
			}
			if err := flush(); err != nil {
				return err
			}
			if it.isCheck || isBase {
				recorded[idx] = t.digest()
			}
			if isBase {
				if err := compare(idx, want[idx], "its base"); err != nil {
					return err
				}
			}
			if it.isCheck {
				if chk, err := wire.DecodeCheck(it.check); err == nil && chk.Kind == wire.CheckPeriodic && chk.PrevZxid != 0 {
					if err := compare(chk.PrevZxid, chk.PrevDigest, "the cluster's consistency check"); err != nil {
						return err
					}
				}
			}
		}
	}
	return flush()
}

// replayAttempts bounds how often replayPoint plans again when an object
// of its plan was expired while it read.
const replayAttempts = 3

// replayPoint plans a restore to p and rebuilds the tree there. The
// archiving member's retention may delete an object of the plan while the
// replay reads (a newer base made it unneeded); the replay then plans
// again from a fresh listing.
func (a *Archive) replayPoint(ctx context.Context, p Point) (*replayed, RestorePlan, error) {
	for attempt := 1; ; attempt++ {
		plan, err := a.Plan(ctx, p)
		if err != nil {
			return nil, plan, err
		}
		rp, err := a.replay(ctx, plan, nil)
		if errors.Is(err, ErrTargetNotFound) && attempt < replayAttempts {
			continue
		}
		return rp, plan, err
	}
}

// restoreBase restores base into dir and checks it is what its name says.
func (a *Archive) restoreBase(ctx context.Context, base ArchiveObject, dir string) (BackupInfo, error) {
	obj := archObject{Name: base.Name}
	rc, err := a.target.Get(ctx, base.Name)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("keeper: archive: %w", err)
	}
	defer rc.Close()
	info, err := restoreTree(ctx, rc, dir, RestoreOptions{Key: a.opts.Key, KeepClusterID: true, scratch: true, checkHeader: func(h BackupInfo) error {
		if h.ClusterID != a.cluster || h.Zxid != base.First {
			return fmt.Errorf("%w: %s holds the tree of cluster %016x at zxid %d", ErrArchiveCorrupt, base.Name, h.ClusterID, h.Zxid)
		}
		return nil
	}})
	if err != nil {
		return BackupInfo{}, archiveErr(obj, err)
	}
	return info.Backup, nil
}

// eachEntry reads segment seg to its end, checking it, and calls f with
// each entry.
func (a *Archive) eachEntry(ctx context.Context, seg ArchiveObject, f func(*raftpb.Entry) error) error {
	obj, ok := parseArchObject(TargetObject{Name: seg.Name, Size: seg.Size})
	if !ok {
		return fmt.Errorf("%w: %s is not a segment's name", ErrArchiveCorrupt, seg.Name)
	}
	rc, err := a.target.Get(ctx, seg.Name)
	if err != nil {
		return fmt.Errorf("keeper: archive: %w", err)
	}
	defer rc.Close()
	sr, err := openSegment(rc, obj, a.opts.Key)
	if err != nil {
		return err
	}
	defer sr.close()
	for n := 0; ; n++ {
		e, err := sr.entry()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := f(e); err != nil {
			return err
		}
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
}

// At returns the tree at p as a backup stream, to hand to Restore (a new
// cluster's data dir) or Node.RestoreOnline (the running cluster, whole or
// one subtree). The first Read plans the restore and rebuilds the tree in a
// temp dir (ArchiveOptions.TempDir); it returns the error of either step,
// such as ErrNotArchived for a point the archive cannot reach or
// ErrArchiveCorrupt for a damaged object, and then every Read returns it.
// Then the reader streams the rebuilt tree as its reader reads, so the
// restore reading it runs beside the stream's writing. The stream is in
// plaintext and names the archive's cluster, at the zxid of the point, with
// the time of its last entry.
//
// Close stops a rebuild or a stream in progress and removes the rebuilt
// tree; call it when done with the reader. A reader read to its end, or
// one that failed, has already released everything.
func (a *Archive) At(p Point) *ArchiveReader {
	ctx, cancel := context.WithCancel(context.Background())
	return &ArchiveReader{a: a, p: p, ctx: ctx, cancel: cancel}
}

// ArchiveReader is the tree at a point of an archive, as a backup stream
// (see Archive.At).
type ArchiveReader struct {
	a      *Archive
	p      Point
	ctx    context.Context
	cancel context.CancelFunc

	once sync.Once
	mu   sync.Mutex
	pr   *io.PipeReader
	// done is closed when the goroutine writing the stream has ended and
	// removed the rebuilt tree.
	done chan struct{}
	err  error
	plan RestorePlan
}

// Read reads the stream; the first call rebuilds the tree.
func (r *ArchiveReader) Read(b []byte) (int, error) {
	r.once.Do(r.build)
	r.mu.Lock()
	pr, err := r.pr, r.err
	r.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return pr.Read(b)
}

// Plan is the plan the reader followed, once a Read has rebuilt the tree.
func (r *ArchiveReader) Plan() RestorePlan {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.plan
}

// Close stops a rebuild or a stream in progress, and returns once the
// rebuilt tree is removed.
func (r *ArchiveReader) Close() error {
	r.cancel()
	r.once.Do(func() { r.err = ErrClosed })
	r.mu.Lock()
	if r.pr != nil {
		r.pr.CloseWithError(ErrClosed)
	}
	if r.err == nil {
		r.err = ErrClosed
	}
	done := r.done
	r.mu.Unlock()
	if done != nil {
		<-done
	}
	return nil
}

// build rebuilds the tree and starts the goroutine that writes its stream
// into the reader's pipe. The goroutine ends when the stream is written,
// fails, or the reader is closed (Close, or the cleanup of a reader
// dropped without one); it then removes the rebuilt tree.
func (r *ArchiveReader) build() {
	start := time.Now()
	rp, plan, err := r.a.replayPoint(r.ctx, r.p)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.plan = plan
	if err != nil {
		r.err = err
		return
	}
	r.a.log.Info("archive: tree rebuilt", "point", r.p.String(), "zxid", plan.Zxid, "entries", plan.Entries, "took", time.Since(start))
	pr, pw := io.Pipe()
	done := make(chan struct{})
	r.pr, r.done = pr, done
	ctx, stamp := r.ctx, time.UnixMilli(rp.time)
	go func() {
		defer close(done)
		_, err := rp.t.writeStream(ctx, pw, streamHeaderInfo{Member: 0, Time: stamp}, BackupOptions{NoCompression: true}, nil)
		if err != nil {
			err = fmt.Errorf("keeper: archive restore: %w", err)
		}
		// The tree goes before the stream's end reaches the reader: a
		// reader read to its end holds nothing.
		rp.close()
		pw.CloseWithError(err)
	}()
	runtime.AddCleanup(r, func(pr *io.PipeReader) { pr.CloseWithError(ErrClosed) }, pr)
}

// DrillReport is what a restore drill found.
type DrillReport struct {
	// Plan is what the drill read.
	Plan RestorePlan
	// Zxid and Digest are the rebuilt tree's.
	Zxid   Zxid
	Digest uint64
	// DigestsChecked counts the digests the cluster recorded on the way
	// (at consistency checks) that the rebuilt tree matched.
	DigestsChecked int
	// Took is how long the drill took.
	Took time.Duration
}

// Drill proves the archive restores: it rebuilds the tree at p in a temp
// dir, exactly as a restore would, comparing the tree's digest with every
// digest the cluster recorded at a consistency check on the way, and
// removes it again. An error says why a restore to p would fail.
func (a *Archive) Drill(ctx context.Context, p Point) (DrillReport, error) {
	start := time.Now()
	rp, plan, err := a.replayPoint(ctx, p)
	if err != nil {
		return DrillReport{Plan: plan}, err
	}
	defer rp.close()
	return DrillReport{Plan: plan, Zxid: Zxid(rp.t.applied()), Digest: rp.t.digest(), DigestsChecked: rp.checked, Took: time.Since(start)}, nil
}

// ZxidRange is a range of zxids, both ends included.
type ZxidRange struct{ First, Last Zxid }

// ArchiveReport is what Verify found.
type ArchiveReport struct {
	// Bases, Segments and Gaps count the objects read; Bytes their size.
	Bases, Segments, Gaps int
	Bytes                 int64
	// From and To are the oldest and newest zxids a restore can reach,
	// Missing the ranges between them it cannot (recorded gaps, missing
	// segments).
	From, To Zxid
	Missing  []ZxidRange
	// DigestsChecked counts the digests recorded by the cluster (at
	// consistency checks and in bases) the replay matched.
	DigestsChecked int
	// Expired counts objects deleted while Verify ran (by the archiving
	// member's Retention); they are left out of the counts.
	Expired int
	// Problems lists every object found damaged, and every digest that
	// did not match; Verify's error joins them.
	Problems []error
}

// Verify reads every base and segment of the archive, checking their
// checksums, that each holds what its name says, and that the segments
// chain without holes from the oldest base; then it replays the log from
// the oldest base, comparing the tree's digest with each later base's and
// each consistency check's. It reports what a restore can reach. The error
// joins every problem found; it matches ErrArchiveCorrupt when an object
// is damaged or a digest differs.
func (a *Archive) Verify(ctx context.Context) (ArchiveReport, error) {
	c, err := listCatalog(ctx, a.target, a.cluster)
	if err != nil {
		return ArchiveReport{}, err
	}
	rep := ArchiveReport{Gaps: len(c.gaps)}
	bad := map[string]bool{}
	baseDigests := map[uint64]uint64{}
	// An object deleted since the listing was expired meanwhile
	// (Retention): it is left out, not a problem.
	check := func(o archObject, err error, count *int) {
		switch {
		case errors.Is(err, ErrTargetNotFound):
			bad[o.Name] = true
			rep.Expired++
		case err != nil:
			rep.Problems = append(rep.Problems, err)
			bad[o.Name] = true
			fallthrough
		default:
			*count++
			rep.Bytes += o.Size
		}
	}
	for _, b := range c.bases {
		info, err := a.verifyBase(ctx, b)
		check(b, err, &rep.Bases)
		if err == nil {
			baseDigests[b.First] = info.Digest
		}
	}
	for _, s := range c.segments {
		err := a.eachEntry(ctx, publicObject(s), func(*raftpb.Entry) error { return nil })
		check(s, err, &rep.Segments)
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	// What a restore can reach, leaving damaged objects out.
	good := c.without(bad)
	spans := good.restorable()
	if len(spans) == 0 {
		rep.Problems = append(rep.Problems, fmt.Errorf("%w: the archive holds no readable base", ErrNotArchived))
		return rep, errors.Join(rep.Problems...)
	}
	rep.From, rep.To = spans[0].First, spans[len(spans)-1].Last
	for i := 1; i < len(spans); i++ {
		rep.Missing = append(rep.Missing, ZxidRange{First: spans[i-1].Last + 1, Last: spans[i].First - 1})
	}
	// Replay from the oldest base as far as the log reaches unbroken,
	// checking the digests of the bases and checks on the way.
	if reach := good.reachFrom(0); reach > uint64(spans[0].First) {
		plan, err := good.planFrom(0, AtZxid(Zxid(reach)), reach)
		if err == nil {
			var rp *replayed
			if rp, err = a.replay(ctx, plan, baseDigests); err == nil {
				rep.DigestsChecked = rp.checked
				rp.close()
			}
		}
		switch {
		case errors.Is(err, ErrTargetNotFound):
			rep.Expired++
		case err != nil:
			rep.Problems = append(rep.Problems, err)
		}
	}
	return rep, errors.Join(rep.Problems...)
}

// verifyBase reads base b whole and checks it is the tree its name says.
func (a *Archive) verifyBase(ctx context.Context, b archObject) (BackupInfo, error) {
	rc, err := a.target.Get(ctx, b.Name)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("keeper: archive: %w", err)
	}
	defer rc.Close()
	info, err := VerifyBackup(ctx, rc, VerifyOptions{Key: a.opts.Key})
	if err != nil {
		return info, archiveErr(b, err)
	}
	if info.ClusterID != a.cluster || uint64(info.Zxid) != b.First {
		return info, fmt.Errorf("%w: %s holds the tree of cluster %016x at zxid %d", ErrArchiveCorrupt, b.Name, info.ClusterID, info.Zxid)
	}
	return info, nil
}
