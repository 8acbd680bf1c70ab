package keeper

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keeper-go/keeper/internal/keys"
	"github.com/keeper-go/keeper/internal/stream"
	"github.com/keeper-go/keeper/internal/wire"
	"go.etcd.io/raft/v3/raftpb"
)

// archiver is the member's continuous backup (Config.Archive). On the
// member that archives (the leader, or Config.Archive.Archiver) it sends,
// every SyncEvery, the entries committed since its last segment to the
// target as one log segment, and a base backup every BaseEvery; after each
// segment it proposes a reqArchived entry, so every member knows how far
// the archive reaches (archive_mark.go) and holds its raft log back to it
// (holdFloor). A member that starts archiving reads the target first and
// goes on after the last segment it finds there, so a change of archiver
// leaves no gap and writes nothing twice.
//
// Target calls run off the loop, one job at a time, in a goroutine the
// archiver owns; a job's outcome comes back to the loop through onLoop.
// A failed job is retried with a backoff while the log is held; the
// cluster goes on serving meanwhile and Status reports the lag.
type archiver struct {
	loop   loopView
	cfg    *ArchiveConfig
	target Target
	log    *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// Loop-owned.
	active    bool        // this member archives now
	adopted   bool        // the target was read since this member began archiving
	busy      bool        // a job is running
	next      uint64      // first index not archived; 0 before the first base
	baseZxid  uint64      // the newest base's zxid, 0 if none
	baseAt    time.Time   // when the newest base was written
	sinceBase int64       // segment bytes since the newest base
	lastSync  uint64      // tick the last segment was cut
	failures  int         // jobs failed in a row
	retryAt   uint64      // tick before which no job starts after a failure
	lagSince  time.Time   // since when entries have waited for the archive; zero if none
	claimed   archObject  // a segment another archiver claimed at next, for this one to write
	seqNames  seqNames    // names sequential creates made in entries not yet archived
	merged    indexMerger // jobs only: the path indexes of the segments since the last merged index
	namesTo   uint64      // the mark seqNames was last pruned to
	treeGap   ZxidRange   // the newest gap the tree's marks passed, as last seen
	lastGap   ZxidRange   // the newest gap this member recorded

	// ackMu guards ackCh, closed and replaced whenever archived grows, for
	// writes waiting to be archived (ArchiveConfig.AckArchived), and
	// gaps, the newest recorded gaps, whose writes the archive lost.
	ackMu    sync.Mutex
	ackCh    chan struct{}
	gapsSeen []ZxidRange

	// Read by Status from any goroutine.
	gaps     atomic.Uint64
	lastErr  atomic.Pointer[string]
	lagNanos atomic.Int64
	archived atomic.Uint64 // the last index archived, as this member knows it
}

func newArchiver(loop loopView, cfg *ArchiveConfig) *archiver {
	ctx, cancel := context.WithCancel(context.Background())
	return &archiver{loop: loop, cfg: cfg, target: cfg.Target, log: loop.logger(), ctx: ctx, cancel: cancel, ackCh: make(chan struct{})}
}

// ErrArchiveUnconfirmed reports a write that committed and applied but
// whose entry the archive did not confirm before the caller's context
// ended (ArchiveConfig.AckArchived): the target is slow or failing. The
// write is not lost; it is not yet archived.
var ErrArchiveUnconfirmed = errors.New("keeper: write applied; the archive has not confirmed it")

// markApplied notes the archive mark this member's tree holds, and the
// gaps marks passed; the loop calls it after each apply.
func (a *archiver) markApplied(mark uint64, gaps []ZxidRange) {
	if a == nil {
		return
	}
	if n := len(gaps); n > 0 && gaps[n-1] != a.treeGap {
		a.treeGap = gaps[n-1]
		a.noteGap(gaps...)
	}
	a.advance(mark)
	if mark > a.namesTo {
		a.namesTo = mark
		a.seqNames.forgetTo(mark)
	}
}

// advance records that the archive holds every entry up to to, and wakes
// the writes waiting for it; any goroutine.
func (a *archiver) advance(to uint64) {
	for {
		cur := a.archived.Load()
		if to <= cur {
			return
		}
		if a.archived.CompareAndSwap(cur, to) {
			break
		}
	}
	a.ackMu.Lock()
	close(a.ackCh)
	a.ackCh = make(chan struct{})
	a.ackMu.Unlock()
}

// noteGap records that the archive lost the entries of gaps, before the
// writes waiting for them are woken; it keeps the newest maxMarkGaps.
func (a *archiver) noteGap(gaps ...ZxidRange) {
	a.ackMu.Lock()
	defer a.ackMu.Unlock()
	for _, g := range gaps {
		if !slices.Contains(a.gapsSeen, g) {
			a.gapsSeen = append(a.gapsSeen, g)
		}
	}
	slices.SortFunc(a.gapsSeen, func(x, y ZxidRange) int { return cmp.Compare(x.First, y.First) })
	a.gapsSeen = a.gapsSeen[max(len(a.gapsSeen)-maxMarkGaps, 0):]
}

// lostIn reports whether index is in a gap the archive recorded.
func (a *archiver) lostIn(index uint64) bool {
	a.ackMu.Lock()
	defer a.ackMu.Unlock()
	return slices.ContainsFunc(a.gapsSeen, func(g ZxidRange) bool { return uint64(g.First) <= index && index <= uint64(g.Last) })
}

// waitArchived waits until the archive holds entry index; any goroutine.
// An entry the archive recorded as a gap gives ErrArchiveUnconfirmed: it
// never will be archived.
func (a *archiver) waitArchived(ctx context.Context, index uint64, stopped <-chan struct{}) error {
	for {
		a.ackMu.Lock()
		ch := a.ackCh
		a.ackMu.Unlock()
		if a.archived.Load() >= index {
			if a.lostIn(index) {
				return fmt.Errorf("%w: zxid %d was released from the raft log before it was archived (a recorded gap)", ErrArchiveUnconfirmed, index)
			}
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: zxid %d: %w", ErrArchiveUnconfirmed, index, ctx.Err())
		case <-stopped:
			return fmt.Errorf("%w: zxid %d: %w", ErrArchiveUnconfirmed, index, ErrClosed)
		}
	}
}

// stop ends a running job and waits for it.
func (a *archiver) stop() {
	if a == nil {
		return
	}
	a.cancel()
	a.wg.Wait()
}

// archives reports whether this member is the one that archives now.
func (a *archiver) archives() bool {
	if a.cfg.Archiver != 0 {
		return a.loop.memberID() == a.cfg.Archiver
	}
	return a.loop.leading()
}

// syncTicks is SyncEvery in loop ticks; 1 when writes wait for the
// archive.
func (a *archiver) syncTicks() uint64 {
	if a.cfg.AckArchived {
		return 1
	}
	return uint64(max(a.cfg.syncEvery()/a.loop.tickInterval(), 1))
}

// tick starts the next job when one is due: reading the target after this
// member began archiving, a base, or a segment.
func (a *archiver) tick() {
	if a == nil {
		return
	}
	a.publishLag()
	if !a.archives() {
		if a.active {
			a.active, a.adopted = false, false
			a.lagSince = time.Time{}
		}
		return
	}
	a.active = true
	if a.adopted && a.next != 0 && a.lagSince.IsZero() && a.loop.appliedIndex() >= a.next {
		// Entries wait from now for the next segment.
		a.lagSince = time.Now()
	}
	if a.busy || a.loop.now() < a.retryAt {
		return
	}
	switch {
	case !a.adopted:
		a.startAdopt()
	case a.baseZxid == 0 || time.Since(a.baseAt) >= a.cfg.baseEvery() || a.sinceBase >= a.cfg.baseAfter():
		a.startBase()
	case a.loop.now()-a.lastSync >= a.syncTicks():
		a.lastSync = a.loop.now()
		a.startSegment()
	}
}

// holdFloor is the lowest index a member's raft log must keep for the
// archive, given the applied index, or 0 if it need keep nothing for it.
func (a *archiver) holdFloor(applied uint64) uint64 {
	if a == nil {
		return 0
	}
	floor := a.loop.tree().archivedTo() + 1
	if a.active && a.next != 0 {
		floor = min(floor, a.next)
	}
	if hold := a.cfg.holdEntries(); applied > hold {
		floor = max(floor, applied-hold)
	}
	return floor
}

// run starts job off the loop; done runs on the loop with its outcome.
func (a *archiver) run(job func(ctx context.Context) error, done func(err error)) {
	a.busy = true
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		err := job(a.ctx)
		a.loop.onLoop(a.ctx, func() {
			a.busy = false
			if err != nil {
				a.failed(err)
				return
			}
			a.failures = 0
			a.lastErr.Store(nil)
			done(nil)
		})
	}()
}

// failed backs off after a failed job: 50 ms doubling up to 30 s.
func (a *archiver) failed(err error) {
	a.failures++
	a.loop.metrics().archiveFails.Inc()
	backoff := min(50*time.Millisecond<<min(a.failures-1, 10), 30*time.Second)
	a.retryAt = a.loop.now() + uint64(max(backoff/a.loop.tickInterval(), 1))
	msg := err.Error()
	a.lastErr.Store(&msg)
	if a.failures == 1 || a.failures%20 == 0 {
		a.log.Error("archive: target failed; retrying", "err", err, "failures", a.failures, "retry_in", backoff)
	}
}

// startAdopt reads the target to find where the archive ends: from the
// replicated mark (or the newest base) along the segments and gaps there.
func (a *archiver) startAdopt() {
	mark := a.loop.tree().archivedTo()
	cluster := a.loop.cluster()
	var end, baseZxid uint64
	var baseAt time.Time
	a.run(func(ctx context.Context) error {
		a.merged.flush(ctx, a.target, a.log, cluster)
		c, err := listCatalog(ctx, a.target, cluster, archBase, archSegment, archGap)
		if err != nil {
			return err
		}
		cur := mark
		if b, ok := c.newestBase(); ok {
			baseZxid, baseAt = b.First, time.UnixMilli(b.Time0)
			cur = max(cur, b.First)
		}
		if s, ok := c.firstSegment(); ok && cur == 0 {
			cur = s.First - 1
		}
		end = c.chainEnd(cur)
		return nil
	}, func(error) {
		a.adopted = true
		a.baseZxid, a.baseAt = baseZxid, baseAt
		a.next = 0
		if end > 0 {
			a.next = end + 1
			a.advance(end)
			if end > mark {
				a.proposeMark(end)
			}
		}
		a.sinceBase = 0
	})
}

// startBase writes a base backup: the tree at its applied index, from a
// Pebble snapshot taken here on the loop, with any online restore chunks
// staged at that index (a later commit entry in the log needs them).
func (a *archiver) startBase() {
	snap := a.loop.treeSnapshot()
	zxid, err := readMetaUint(snap, keys.MetaApplied)
	if err != nil {
		snap.Close()
		a.failed(err)
		return
	}
	cluster, member := a.loop.cluster(), a.loop.memberID()
	now := time.Now()
	name := archBaseName(cluster, zxid, now.UnixMilli())
	a.run(func(ctx context.Context) error {
		defer snap.Close()
		pr, pw := io.Pipe()
		errc := make(chan error, 1)
		go func() {
			_, err := writeSnapshotStream(ctx, snap, cluster, pw, streamHeaderInfo{Kind: stream.KindBackup, Member: member, Time: now, stages: true},
				BackupOptions{Key: a.cfg.Key, NoCompression: a.cfg.NoCompression}, nil)
			pw.CloseWithError(err)
			errc <- err
		}()
		start := time.Now()
		body := &countingReader{r: pr}
		err := a.target.Put(ctx, name, body)
		pr.CloseWithError(errors.New("keeper: archive base: put ended"))
		if err == nil {
			a.loop.metrics().archived(archiveBase, body.n.Load(), start)
		}
		if werr := <-errc; werr != nil && (err == nil || errors.Is(err, ErrTargetExists)) {
			return werr
		}
		if err != nil && !errors.Is(err, ErrTargetExists) { // exists: another archiver wrote this very base
			return err
		}
		a.expire(ctx, cluster)
		return nil
	}, func(error) {
		a.baseZxid, a.baseAt, a.sinceBase = zxid, now, 0
		if a.next == 0 {
			// The archive starts at this base.
			a.next = zxid + 1
			a.advance(zxid)
			a.proposeMark(zxid)
		}
		a.log.Info("archive: base written", "zxid", zxid)
	})
}

// expire deletes, after a base, what ArchiveConfig.Retain no longer
// keeps. A failure is logged and left for the next base.
func (a *archiver) expire(ctx context.Context, cluster uint64) {
	if a.cfg.Retain == (Retention{}) {
		return
	}
	arch := &Archive{target: a.target, cluster: cluster, log: a.log}
	if _, err := arch.Expire(ctx, a.cfg.Retain, ExpireOptions{}); err != nil {
		a.log.Warn("archive: expiry failed; the next base retries", "err", err)
	}
}

// startSegment sends the entries committed since the last segment, if any
// but archive marks. Entries the log released before they were archived
// are recorded as a gap first. The segment's start is claimed first
// (archive_claim.go); if another archiver claimed it, this one writes or
// finds the object claimed there instead.
func (a *archiver) startSegment() {
	applied := a.loop.appliedIndex()
	if a.claimed.First != a.next {
		a.claimed = archObject{}
	}
	if a.next == 0 || applied < a.next {
		a.caughtUp()
		return
	}
	first, err := a.loop.firstIndex()
	if err != nil {
		a.failed(err)
		return
	}
	if a.next < first {
		a.startGap(first)
		return
	}
	claimed := a.claimed
	hi := min(applied, a.next+maxSegmentEntries-1)
	if claimed.Kind == archSegment {
		if applied < claimed.Last {
			return // the entries claimed are not all applied here yet
		}
		hi = claimed.Last
	}
	ents, err := a.loop.logEntries(a.next, hi+1)
	if err != nil {
		a.failed(fmt.Errorf("keeper: archive: read log %d..%d: %w", a.next, hi, err))
		return
	}
	if claimed.Kind == 0 {
		size := 0
		for i, e := range ents {
			if size += len(e.GetData()); size > maxSegmentBytes && i > 0 {
				ents = ents[:i]
				break
			}
		}
		if onlyArchiveMarks(ents) {
			a.caughtUp()
			return
		}
	}
	cluster, member := a.loop.cluster(), a.loop.memberID()
	names := a.seqNames.pick(a.next, hi)
	started := time.Now()
	var written int64
	var took, wait archObject
	a.run(func(ctx context.Context) error {
		info := segmentInfo(ents)
		name := archSegmentName(cluster, info.First, info.Last, info.FirstTime, info.LastTime)
		o, held, err := a.claim(ctx, cluster, info.First, name)
		if err != nil || held {
			took = o
			return err
		}
		if o.Name != name {
			if o.Last > info.Last {
				wait = o
				return nil
			}
			ents = ents[:o.Last-info.First+1]
			info = segmentInfo(ents)
			if name = archSegmentName(cluster, info.First, info.Last, info.FirstTime, info.LastTime); name != o.Name {
				return fmt.Errorf("keeper: archive claim %d names %s; its entries make %s: %w", info.First, o.Name, name, ErrCorrupt)
			}
		}
		var buf bytes.Buffer
		n, err := writeSegment(&buf, cluster, member, ents, info, a.cfg.streamOptions())
		if err != nil {
			return err
		}
		written = n
		start := time.Now()
		err = a.target.Put(ctx, name, &buf)
		if err == nil || errors.Is(err, ErrTargetExists) {
			// The entries are on the target: writes waiting for them
			// (AckArchived) need not wait for the index too. The target
			// works again before the archive is seen to advance, so no
			// Status shows the new zxid beside the old error.
			a.lastErr.Store(nil)
			a.advance(info.Last)
		}
		if err == nil {
			a.loop.metrics().archived(archiveSegment, n, start)
		}
		err = a.indexSegment(ctx, cluster, ents, info, names, err)
		if errors.Is(err, ErrTargetExists) {
			// This archiver sent these very entries before, or another
			// did under its claim: the object is the same.
			err = nil
		}
		took = archObject{Kind: archSegment, First: info.First, Last: info.Last}
		return err
	}, func(error) {
		if wait.Kind != 0 {
			a.claimed = wait
			return
		}
		a.sinceBase += written
		a.archivedThrough(took)
		if a.next > a.loop.appliedIndex() {
			a.caughtUp()
		} else {
			a.lagSince = started
		}
	})
}

// claim claims index first for the object called name, off the loop
// (claimStart), and returns the object claimed there. held reports that
// it is another archiver's and the archive holds it now: it is on the
// target, or it is a gap, which this archiver writes as well as any. If
// held is false and o is not the object named, o is a segment this
// archiver must write from its own log.
func (a *archiver) claim(ctx context.Context, cluster, first uint64, name string) (o archObject, held bool, err error) {
	o, err = claimStart(ctx, a.target, cluster, first, name)
	if err != nil || o.Name == name {
		return o, false, err
	}
	held, err = a.claimedElsewhere(ctx, o)
	return o, held, err
}

// claimedElsewhere reports whether the archive holds o, another
// archiver's claimed object, writing it first if it is a gap.
func (a *archiver) claimedElsewhere(ctx context.Context, o archObject) (bool, error) {
	has, err := targetHas(ctx, a.target, o.Name)
	if err != nil || has {
		return has, err
	}
	if o.Kind != archGap {
		return false, nil
	}
	if err := a.target.Put(ctx, o.Name, bytes.NewReader(nil)); err != nil && !errors.Is(err, ErrTargetExists) {
		return false, err
	}
	return true, nil
}

// startGap records in the archive that the entries from a.next up to
// first-1 were released from the log before they were archived. A base at
// or after first-1 covers them for any point after it, so no gap is
// recorded then.
func (a *archiver) startGap(first uint64) {
	from, to := a.next, first-1
	if a.baseZxid >= to {
		a.next = a.baseZxid + 1
		return
	}
	cluster := a.loop.cluster()
	name := archGapName(cluster, from, to)
	gap, _ := parseArchObject(TargetObject{Name: name})
	var took archObject
	a.run(func(ctx context.Context) error {
		o, held, err := a.claim(ctx, cluster, from, name)
		if err != nil || held {
			took = o
			return err
		}
		if o.Name != name {
			// Another archiver claimed a segment here and has not written
			// it; this member's log no longer holds its entries.
			a.log.Warn("archive: a segment another archiver claimed is missing and its entries are gone here; recording a gap beside its claim",
				"claimed", o.Name)
		}
		err = a.target.Put(ctx, name, bytes.NewReader(nil))
		if err == nil {
			a.loop.metrics().archived(archiveGap, 0, time.Now())
		}
		if errors.Is(err, ErrTargetExists) {
			err = nil
		}
		took = gap
		return err
	}, func(error) {
		if took.Name == name {
			a.gaps.Add(1)
			a.log.Error("archive: entries were released from the raft log before they were archived; a restore cannot cross them",
				"first", from, "last", to, "hold_entries", a.cfg.holdEntries())
		}
		a.archivedThrough(took)
	})
}

// archivedThrough notes, on the loop, that the archive holds o, the
// segment or gap after the archive's end, and goes on after it.
func (a *archiver) archivedThrough(o archObject) {
	a.claimed = archObject{}
	a.next = o.Last + 1
	if o.Kind == archGap {
		a.lastGap = ZxidRange{First: Zxid(o.First), Last: Zxid(o.Last)}
		a.noteGap(a.lastGap)
		// Points after a gap need a base after it.
		a.baseZxid = 0
	}
	a.advance(o.Last)
	a.proposeMark(o.Last)
}

// caughtUp notes that the archive holds every entry worth archiving.
func (a *archiver) caughtUp() { a.lagSince = time.Time{} }

// publishLag publishes how long entries have waited for the archive.
func (a *archiver) publishLag() {
	if a.lagSince.IsZero() {
		a.lagNanos.Store(0)
		return
	}
	a.lagNanos.Store(int64(time.Since(a.lagSince)))
}

// proposeMark proposes a reqArchived entry at index last; a lost proposal
// is made good by the next one. Until this member's tree has applied a
// mark with the newest gap this archiver recorded, every mark carries it,
// so that each member learns of it (archiveMark.gaps).
func (a *archiver) proposeMark(last uint64) {
	req := request{Kind: reqArchived, Time: time.Now().UnixMilli(), Seq: last}
	if g := a.lastGap; g.First != 0 && uint64(g.Last) <= last && !slices.Contains(a.loop.tree().archiveGaps(), g) {
		req.GapFirst, req.GapLast = uint64(g.First), uint64(g.Last)
	}
	if err := a.loop.proposeEntry(wire.EncodeEnvelope(a.loop.memberID(), 0, appendRequest(nil, &req))); err != nil {
		a.log.Debug("archive: mark not proposed", "index", last, "err", err)
	}
}

// onlyArchiveMarks reports whether ents hold nothing but archive marks,
// which are not worth a segment of their own: they go with the next one.
func onlyArchiveMarks(ents []*raftpb.Entry) bool {
	for _, e := range ents {
		data := e.GetData()
		if e.GetType() != raftpb.EntryNormal || len(data) == 0 || data[0] != wire.EnvelopeVersion {
			return false
		}
		env, err := wire.DecodeEnvelope(data)
		if err != nil || !isArchivedRequest(env.Payload) {
			return false
		}
	}
	return true
}

// quietTail is how many entries past the archive's end onlyMarksAfter
// reads at most.
const quietTail = 8

// onlyMarksAfter reports whether the entries after index archived up to
// applied are archive marks only, as on a quiet cluster, where the mark
// of the last segment is the last entry: they wait for the next segment
// but hold nothing to archive. Raft loop only.
func (a *archiver) onlyMarksAfter(archived, applied uint64) bool {
	if applied-archived > quietTail {
		return false
	}
	ents, err := a.loop.logEntries(archived+1, applied+1)
	return err == nil && len(ents) == int(applied-archived) && onlyArchiveMarks(ents)
}

// isArchivedRequest reports whether an encoded request is a reqArchived.
func isArchivedRequest(b []byte) bool {
	return len(b) >= 2 && b[0] == requestVersionKinded && requestKind(b[1]) == reqArchived
}

// fillStatus adds the archive's figures to st.
func (a *archiver) fillStatus(st *Status, applied, mark uint64) {
	if a == nil {
		return
	}
	archived := max(mark, a.archived.Load())
	st.Archiving = a.active
	st.ArchivedZxid = Zxid(archived)
	if applied > archived && !a.onlyMarksAfter(archived, applied) {
		st.ArchiveLag = applied - archived
	}
	st.ArchiveLagTime = time.Duration(a.lagNanos.Load())
	st.ArchiveGaps = a.gaps.Load()
	if e := a.lastErr.Load(); e != nil {
		st.ArchiveErr = *e
	}
}
