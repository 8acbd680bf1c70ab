package keeper

// This file is the consistency check (issue 6) and the seed's two figures on
// Status.
//
// The leader proposes a small check entry every Config.CheckInterval. A check
// entry changes nothing in the tree; the raft loop applies the entries before
// it and the check entry itself as one group, so every member holds the tree
// exactly at the check's zxid when it sees the entry, and:
//
//  1. records its running (incremental) digest at that zxid: apply is
//     deterministic, so every honest member records the same value;
//  2. takes a Pebble snapshot there and, off the raft loop, recomputes the
//     digest from a full scan of its znodes and sessions. A sum that differs
//     from the stored running digest means the data on disk changed behind
//     apply's back (bit rot, a stray write): the running digest alone would
//     never see it, since apply only adds and subtracts the hashes of values
//     it writes itself;
//  3. compares the digest it recorded at the previous check with the value
//     the leader carries in this entry: the leader's own digest at that
//     check, carried only once the leader's background scan verified it.
//     Every member compares the same pair at the same log position.
//
// A member that fails 2 or 3 marks itself corrupt: it refuses reads and
// writes with ErrReplicaCorrupt, logs an error, proposes a report entry
// naming itself (so the leader and every member learn of it through the log),
// hands leadership away if it leads and, with Config.OnCorrupt ==
// RepairCorrupt, calls requestResync.
//
// The leader learns the others' results without a round trip: a member that
// applied the last check (its raft Match index is at or past the check's
// zxid) and filed no corrupt report counts as matching. A member still
// scanning counts as matching until its report arrives; one behind the check
// counts as unknown.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
	"github.com/keeper-go/keeper/internal/wire"
	"github.com/keeper-go/keeper/storage"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/tracker"
)

// recordedChecks is how many past checks' digests a member keeps.
const recordedChecks = 8

// viewEvery is how often, in ticks, the leader refreshes its member view.
const viewEvery = 5

// CheckResult is the last consistency check's outcome for one member.
type CheckResult int

const (
	// CheckUnknown: no check applied yet, or the member is behind the check
	// before the last one.
	CheckUnknown CheckResult = iota
	// CheckMatch: the member holds the last check, or the one before it
	// while the last is on its way to it, and reported no damage.
	CheckMatch
	// CheckMismatch: the member reported its tree corrupt.
	CheckMismatch
)

func (c CheckResult) String() string {
	switch c {
	case CheckUnknown:
		return "unknown"
	case CheckMatch:
		return "match"
	case CheckMismatch:
		return "mismatch"
	}
	return fmt.Sprintf("CheckResult(%d)", int(c))
}

// MemberStatus is the leader's view of one member.
type MemberStatus struct {
	// ID is the member's id.
	ID uint64
	// Learner is true for a non-voting member.
	Learner bool
	// Reachable is true if the leader heard from the member within the
	// election timeout (always true for the leader itself).
	Reachable bool
	// Match is the highest log index the leader knows the member holds.
	Match uint64
	// Check is the member's result for the last consistency check.
	Check CheckResult
}

// consistency is the replica's check state. Fields not marked otherwise
// are owned by the raft loop.
type consistency struct {
	corrupt atomic.Bool // read by Node methods on any goroutine

	lastPropose uint64            // tick of the leader's last check proposal
	lastCheck   uint64            // zxid of the last check entry applied
	prevCheck   uint64            // zxid of the one before it
	recorded    map[uint64]uint64 // check zxid -> running digest there
	verified    uint64            // last check zxid whose scan matched here
	verDigest   uint64            // the digest there
	reports     map[uint64]uint64 // member -> zxid it reported itself corrupt
	// repairWanted holds the members among reports that asked for a repair.
	repairWanted map[uint64]bool
	learned      wire.Check     // the counts carried by the last check entry
	view         []MemberStatus // the leader's member view; replaced whole
	reportedAt   uint64         // tick this member last proposed its report

	scanning bool
	scanGen  uint64 // bumped by stopScan; a scan of an older tree is ignored
	cancel   context.CancelFunc
	ctx      context.Context
	wg       sync.WaitGroup

	conf *confWait // membership.go
}

// initConsistency prepares the check state; start calls it.
func (r *replica) initConsistency() {
	c := &r.cons
	c.recorded = make(map[uint64]uint64)
	c.reports = make(map[uint64]uint64)
	c.repairWanted = make(map[uint64]bool)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if r.callc == nil {
		r.callc = make(chan func(), 64)
	}
}

// stopConsistency stops the background scan, if any, and waits for it; the
// loop calls it on its way out, before the store can close.
func (r *replica) stopConsistency() {
	if r.cons.cancel != nil {
		r.cons.cancel()
	}
	r.cons.wg.Wait()
	r.failConfWait(fmt.Errorf("%w: member %d closed during a membership change: %w", ErrIndeterminate, r.id, ErrClosed))
}

// onLoop runs f on the loop goroutine, or reports false if the loop is gone
// or ctx ends first.
func (r *replica) onLoop(ctx context.Context, f func()) bool {
	select {
	case r.callc <- f:
		return true
	case <-r.donec:
		return false
	case <-ctx.Done():
		return false
	}
}

// tickConsistency is the loop's periodic work for checks and the member
// view; run calls it every tick.
func (r *replica) tickConsistency() {
	r.expireConfWait()
	if r.role != raft.StateLeader {
		if r.cons.view != nil {
			r.cons.view = nil
		}
		return
	}
	if r.ticks%viewEvery == 0 || r.cons.view == nil {
		r.refreshView()
	}
	r.maybeRepair(0, false)
	iv := r.cfg.checkInterval()
	if iv < 0 {
		return
	}
	every := max(uint64(iv/r.ticker), 1)
	if r.ticks-r.cons.lastPropose < every {
		return
	}
	r.cons.lastPropose = r.ticks
	members, reachable, consistent := r.figures()
	c := wire.Check{Kind: wire.CheckPeriodic, Members: members, Reachable: reachable, Consistent: consistent}
	if r.cons.verified != 0 && !r.cons.corrupt.Load() {
		c.PrevZxid, c.PrevDigest = r.cons.verified, r.cons.verDigest
	}
	if err := r.rn.Propose(c.Encode()); err != nil {
		r.log.Debug("propose consistency check", "err", err)
	}
}

// refreshView rebuilds the leader's member view from raft's progress.
func (r *replica) refreshView() {
	match := make(map[uint64]uint64, len(r.members))
	r.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
		match[id] = pr.Match
	})
	election := uint64(r.cfg.electionTicks())
	view := make([]MemberStatus, 0, len(r.members))
	for _, id := range r.members {
		m := MemberStatus{ID: id, Learner: slices.Contains(r.conf.GetLearners(), id), Match: match[id]}
		if id == r.id {
			m.Reachable = true
		} else if t, ok := r.heard[id]; ok && r.ticks-t <= election {
			m.Reachable = true
		}
		switch {
		case r.cons.reports[id] != 0 || (id == r.id && r.cons.corrupt.Load()):
			m.Check = CheckMismatch
		case r.cons.lastCheck == 0:
		case id == r.id || m.Match >= r.cons.matchFloor():
			m.Check = CheckMatch
		}
		view = append(view, m)
	}
	r.cons.view = view
}

// matchFloor is the index a member must hold to count as consistent in the
// leader's view: the check before the last one, once there is one. A
// healthy follower has not always acknowledged the last check by the time
// the leader applies it (the leader needs one follower for the quorum, not
// all); counting it unknown until it does would dip Consistency for a
// moment at every check.
func (c *consistency) matchFloor() uint64 {
	if c.prevCheck != 0 {
		return c.prevCheck
	}
	return c.lastCheck
}

// figures counts the leader's view: members, reachable, consistent.
func (r *replica) figures() (members, reachable, consistent uint64) {
	for _, m := range r.cons.view {
		members++
		if m.Reachable {
			reachable++
		}
		if m.Check == CheckMatch {
			consistent++
		}
	}
	return members, reachable, consistent
}

// fillStatus adds the check state and the figures to st; publish calls it.
// On the leader they are its live view; on any other member they are the
// counts the leader carried in the last check entry this member applied.
func (r *replica) fillStatus(st *Status) {
	st.ClusterID = r.clusterID
	st.Learners = r.conf.GetLearners()
	st.Corrupt = r.cons.corrupt.Load()
	st.CheckZxid = r.cons.lastCheck
	var members, reachable, consistent uint64
	if r.role == raft.StateLeader && r.cons.view != nil {
		st.View = r.cons.view
		members, reachable, consistent = r.figures()
	} else {
		l := r.cons.learned
		members, reachable, consistent = l.Members, l.Reachable, l.Consistent
	}
	st.MemberCount, st.ReachableMembers, st.ConsistentMembers = int(members), int(reachable), int(consistent)
	if members > 0 {
		st.Availability = float64(reachable) / float64(members)
		st.Consistency = float64(consistent) / float64(members)
	}
}

// applyCheck runs a consistency entry at index, which the state machine has
// just applied (with everything before it): sm.digest() is the digest there.
func (r *replica) applyCheck(index uint64, data []byte) {
	c, err := wire.DecodeCheck(data)
	if err != nil {
		r.log.Warn("skipping undecodable consistency entry", "index", index, "err", err)
		return
	}
	switch c.Kind {
	case wire.CheckReport:
		if c.Corrupt {
			r.cons.reports[c.Member] = max(c.Zxid, 1)
			if c.Repair {
				r.cons.repairWanted[c.Member] = true
			} else {
				delete(r.cons.repairWanted, c.Member)
			}
			r.log.Warn("member reported its tree corrupt", "reporter", c.Member, "zxid", c.Zxid, "repair", c.Repair)
		} else {
			delete(r.cons.reports, c.Member)
			delete(r.cons.repairWanted, c.Member)
		}
		if r.role == raft.StateLeader {
			r.refreshView()
			if c.Repair {
				r.maybeRepair(c.Member, true)
			}
		}
		return
	case wire.CheckPeriodic:
	}
	dig := r.sm.digest()
	r.cons.prevCheck, r.cons.lastCheck = r.cons.lastCheck, index
	r.cons.learned = c
	r.cons.recorded[index] = dig
	if len(r.cons.recorded) > recordedChecks {
		oldest := index
		for z := range r.cons.recorded {
			oldest = min(oldest, z)
		}
		delete(r.cons.recorded, oldest)
	}
	if c.PrevZxid != 0 {
		if mine, ok := r.cons.recorded[c.PrevZxid]; ok && mine != c.PrevDigest {
			r.markCorrupt(fmt.Sprintf("digest at zxid %d is %x here, %x on the leader", c.PrevZxid, mine, c.PrevDigest))
		}
	}
	if r.cons.corrupt.Load() {
		r.maybeReport()
	}
	r.startScan(index, dig)
}

// startScan recomputes, off the loop, the digest of the tree as it stands
// now (at zxid, running digest dig) from a Pebble snapshot. One scan runs at
// a time; a check arriving during a scan is not scanned.
func (r *replica) startScan(zxid, dig uint64) {
	t, ok := r.sm.(*tree)
	if !ok || r.cons.scanning || r.cons.ctx == nil || r.cons.ctx.Err() != nil {
		return
	}
	snap := t.newSnapshot()
	r.cons.scanning = true
	ctx, gen := r.cons.ctx, r.cons.scanGen
	r.cons.wg.Go(func() {
		defer snap.Close()
		zx, stored, sum, err := scanDigest(ctx, snap)
		if err == nil && (zx != zxid || stored != dig) {
			err = fmt.Errorf("keeper: check snapshot at zxid %d digest %x, loop had %d and %x", zx, stored, zxid, dig)
		}
		r.onLoop(ctx, func() {
			if gen == r.cons.scanGen {
				r.scanDone(zxid, stored, sum, err)
			}
		})
	})
}

// stopScan cancels a running background scan and waits for it, so it holds
// no Pebble snapshot of the store; a result it already queued for the loop
// is ignored. It runs on the loop before the tree is swapped.
func (r *replica) stopScan() {
	c := &r.cons
	if c.cancel == nil {
		return
	}
	c.cancel()
	c.wg.Wait()
	c.scanning = false
	c.scanGen++
	c.ctx, c.cancel = context.WithCancel(context.Background())
}

// scanDone takes a background scan's result on the loop.
func (r *replica) scanDone(zxid, stored, sum uint64, err error) {
	r.cons.scanning = false
	switch {
	case errors.Is(err, ErrCorrupt):
		r.markCorrupt(fmt.Sprintf("scan at zxid %d: %v", zxid, err))
	case err != nil:
		r.log.Warn("consistency scan failed", "zxid", zxid, "err", err)
	case sum != stored:
		r.markCorrupt(fmt.Sprintf("znodes and sessions at zxid %d sum to %x, the running digest is %x", zxid, sum, stored))
	default:
		if zxid > r.cons.verified {
			r.cons.verified, r.cons.verDigest = zxid, stored
		}
	}
}

// scanDigest reads the applied index and stored digest of snap and sums the
// hashes of every znode and session in it, as the running digest does.
func scanDigest(ctx context.Context, snap *storage.Snapshot) (zxid, stored, sum uint64, err error) {
	if zxid, err = readMetaUint(snap, storage.MetaApplied); err != nil {
		return 0, 0, 0, err
	}
	if stored, err = readMetaUint(snap, storage.MetaDigest); err != nil {
		return 0, 0, 0, err
	}
	h := xxhash.New()
	lo, hi := storage.NodeSpan()
	it, err := snap.NewIter(lo, hi)
	if err != nil {
		return 0, 0, 0, err
	}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		if n++; n%4096 == 0 && ctx.Err() != nil {
			it.Close()
			return 0, 0, 0, ctx.Err()
		}
		path, ok := storage.NodePath(it.Key())
		if !ok {
			it.Close()
			return 0, 0, 0, fmt.Errorf("keeper: node key %q: %w", it.Key(), ErrCorrupt)
		}
		v, err := it.Value()
		if err != nil {
			it.Close()
			return 0, 0, 0, err
		}
		sum += nodeHash(h, path, v)
	}
	if err := it.Close(); err != nil {
		return 0, 0, 0, err
	}
	slo, shi := storage.SessionSpan()
	sit, err := snap.NewIter(slo, shi)
	if err != nil {
		return 0, 0, 0, err
	}
	for ok := sit.First(); ok; ok = sit.Next() {
		id, ok := storage.SessionID(sit.Key())
		if !ok {
			sit.Close()
			return 0, 0, 0, fmt.Errorf("keeper: session key %q: %w", sit.Key(), ErrCorrupt)
		}
		v, err := sit.Value()
		if err != nil {
			sit.Close()
			return 0, 0, 0, err
		}
		sum += sessionHash(h, id, v)
	}
	if err := sit.Close(); err != nil {
		return 0, 0, 0, err
	}
	return zxid, stored, sum, nil
}

// markCorrupt marks this member corrupt, once: it refuses reads and writes
// from now on, tells the cluster, gives up leadership and, if configured,
// asks for a resync.
func (r *replica) markCorrupt(reason string) {
	if r.cons.corrupt.Swap(true) {
		return
	}
	r.log.Error("consistency check failed; this member refuses reads and writes", "reason", reason, "on_corrupt", r.cfg.OnCorrupt.String())
	r.maybeReport()
	if r.role == raft.StateLeader {
		r.handOffLeadership()
	}
	if r.cfg.OnCorrupt == RepairCorrupt {
		r.requestResync()
	}
}

// maybeReport proposes this member's corrupt report unless the log already
// carries it; a lost proposal is retried at the next check.
func (r *replica) maybeReport() {
	if r.cons.reports[r.id] != 0 || r.lead == raft.None {
		return
	}
	if r.cons.reportedAt != 0 && r.ticks-r.cons.reportedAt < uint64(r.cfg.electionTicks()) {
		return
	}
	c := wire.Check{Kind: wire.CheckReport, Member: r.id, Zxid: r.cons.lastCheck, Corrupt: true, Repair: r.cfg.OnCorrupt == RepairCorrupt}
	if err := r.rn.Propose(c.Encode()); err != nil {
		r.log.Debug("propose corrupt report", "err", err)
		return
	}
	r.cons.reportedAt = r.ticks
}

// handOffLeadership asks raft to move leadership to the voter with the
// highest match index; a corrupt leader must not stay the cluster's source.
func (r *replica) handOffLeadership() {
	var best, bestMatch uint64
	r.rn.WithProgress(func(id uint64, typ raft.ProgressType, pr tracker.Progress) {
		if id == r.id || typ != raft.ProgressTypePeer || pr.IsLearner || r.cons.reports[id] != 0 {
			return
		}
		if best == 0 || pr.Match > bestMatch {
			best, bestMatch = id, pr.Match
		}
	})
	if best != 0 {
		r.log.Warn("corrupt leader hands leadership over", "to", best)
		r.rn.TransferLeader(best)
	}
}

// requestResync is where a corrupt member asks to have its tree replaced by
// the leader's. The request itself is the corrupt report maybeReport files
// with "repair wanted": the leader, applying it, streams its tree here
// (repair.go), and retries while the report stands.
func (r *replica) requestResync() {
	r.log.Warn("asking the leader for its tree to repair this member")
}

// resyncDone is what a finished repair calls on the loop once the member's
// tree has been replaced by a verified copy of the leader's: the member
// serves reads and writes again and files a "repaired" report, which clears
// its mismatch in every member's view. The report is filed even if the
// member was not marked corrupt (it restarted during a repair whose report
// was lost), so the leader stops repairing it.
func (r *replica) resyncDone() {
	if r.cons.corrupt.Swap(false) {
		r.log.Warn("tree re-synced from the leader; serving again")
	}
	r.cons.reportedAt = 0
	r.proposeRepaired()
}

// proposeRepaired proposes this member's "repaired" report.
func (r *replica) proposeRepaired() {
	c := wire.Check{Kind: wire.CheckReport, Member: r.id, Zxid: r.sm.applied(), Corrupt: false}
	if err := r.rn.Propose(c.Encode()); err != nil {
		r.log.Debug("propose repaired report", "err", err)
	}
}

// filterCheckProposal says whether a consistency entry forwarded by member
// from may be proposed: only reports, and only about the sender itself.
func filterCheckProposal(from uint64, data []byte) bool {
	c, err := wire.DecodeCheck(data)
	return err == nil && c.Kind == wire.CheckReport && c.Member == from
}
