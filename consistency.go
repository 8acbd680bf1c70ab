package keeper

// This file is the consistency check and the cluster's two figures on
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
// holds a recent check (its raft Match index is at or past the check's zxid)
// and filed no corrupt report counts as matching. Recent means the newest
// check the leader applied at least an election timeout ago, or any newer
// one: a healthy follower may trail the leader by a few checks when checks
// are frequent and the machine is busy, and raft itself gives a follower an
// election timeout before it counts as gone. A member still scanning counts
// as matching until its report arrives; one behind that floor counts as
// unknown.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/keeper-go/keeper/internal/keys"
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
	// CheckUnknown: no check applied yet, or the member does not hold the
	// newest check the leader applied an election timeout ago.
	CheckUnknown CheckResult = iota
	// CheckMatch: the member holds the newest check the leader applied an
	// election timeout ago, or a newer one, and reported no damage.
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
	// Match is the highest zxid (log index) the leader knows the member
	// holds.
	Match Zxid
	// Check is the member's result for the last consistency check.
	Check CheckResult
}

// consistency is the member's consistency-check feature and the leader's
// member view. The loop calls init before it starts, tick every tick,
// applied for each check entry, fillStatus when it publishes a Status and
// stop on its way out; it sees the loop through loopView. Fields not marked
// otherwise are owned by the raft loop.
type consistency struct {
	loop loopView

	corrupt atomic.Bool // read by Node methods on any goroutine

	lastPropose uint64 // tick of the leader's last check proposal
	lastCheck   uint64 // zxid of the last check entry applied
	// recent are the checks applied within the last election timeout, and
	// the newest one before it, oldest first: the floor of matchFloor.
	recent    []appliedCheck
	recorded  map[uint64]uint64 // check zxid -> running digest there
	verified  uint64            // last check zxid whose scan matched here
	verDigest uint64            // the digest there
	reports   map[uint64]uint64 // member -> zxid it reported itself corrupt
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
}

// init prepares the check state; the loop calls it before it starts.
func (c *consistency) init(loop loopView) {
	c.loop = loop
	c.recorded = make(map[uint64]uint64)
	c.reports = make(map[uint64]uint64)
	c.repairWanted = make(map[uint64]bool)
	c.ctx, c.cancel = context.WithCancel(context.Background())
}

// stop stops the background scan, if any, and waits for it; the loop calls
// it on its way out, before the store can close.
func (c *consistency) stop() {
	if c.cancel != nil {
		c.cancel()
	}
	c.wg.Wait()
}

// tick is the loop's periodic work for checks and the member view; the loop
// calls it every tick.
func (c *consistency) tick() {
	if !c.loop.leading() {
		if c.view != nil {
			c.view = nil
		}
		return
	}
	if c.loop.now()%viewEvery == 0 || c.view == nil {
		c.refreshView()
	}
	iv := c.loop.config().checkInterval()
	if iv < 0 {
		return
	}
	every := max(uint64(iv/c.loop.tickInterval()), 1)
	if c.loop.now()-c.lastPropose < every {
		return
	}
	c.lastPropose = c.loop.now()
	members, reachable, consistent := c.figures()
	chk := wire.Check{Kind: wire.CheckPeriodic, Members: members, Reachable: reachable, Consistent: consistent}
	if c.verified != 0 && !c.corrupt.Load() {
		chk.PrevZxid, chk.PrevDigest = c.verified, c.verDigest
	}
	if err := c.loop.proposeEntry(chk.Encode()); err != nil {
		c.loop.logger().Debug("propose consistency check", "err", err)
	}
}

// refreshView rebuilds the leader's member view from raft's progress.
func (c *consistency) refreshView() {
	members := c.loop.memberIDs()
	match := make(map[uint64]uint64, len(members))
	c.loop.withProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
		match[id] = pr.Match
	})
	self, now := c.loop.memberID(), c.loop.now()
	election := uint64(c.loop.config().electionTicks())
	learners := c.loop.learners()
	view := make([]MemberStatus, 0, len(members))
	for _, id := range members {
		m := MemberStatus{ID: id, Learner: slices.Contains(learners, id), Match: Zxid(match[id])}
		if id == self {
			m.Reachable = true
		} else if t, ok := c.loop.lastHeard(id); ok && now-t <= election {
			m.Reachable = true
		}
		switch {
		case c.reports[id] != 0 || (id == self && c.corrupt.Load()):
			m.Check = CheckMismatch
		case c.lastCheck == 0:
		case id == self || uint64(m.Match) >= c.matchFloor():
			m.Check = CheckMatch
		}
		view = append(view, m)
	}
	c.view = view
}

// appliedCheck is a check entry and the loop tick it was applied at.
type appliedCheck struct{ zxid, tick uint64 }

// matchFloor is the index a member must hold to count as consistent in the
// leader's view: the newest check applied at least an election timeout ago,
// or the oldest one applied since if there is none that old. A healthy
// follower has not always acknowledged the last check by the time the
// leader applies it (the leader needs one follower for the quorum, not all),
// and under load it can trail by several frequent checks; counting it
// unknown until it catches up would dip Consistency at every check.
func (c *consistency) matchFloor() uint64 {
	c.forgetOldChecks()
	if len(c.recent) == 0 {
		return c.lastCheck
	}
	return c.recent[0].zxid
}

// forgetOldChecks drops from recent the checks older than the newest one
// applied at least an election timeout ago.
func (c *consistency) forgetOldChecks() {
	election := uint64(c.loop.config().electionTicks())
	now := c.loop.now()
	drop := 0
	for drop+1 < len(c.recent) && c.recent[drop+1].tick+election <= now {
		drop++
	}
	c.recent = slices.Delete(c.recent, 0, drop)
}

// figures counts the leader's view: members, reachable, consistent.
func (c *consistency) figures() (members, reachable, consistent uint64) {
	for _, m := range c.view {
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
func (c *consistency) fillStatus(st *Status) {
	st.Corrupt = c.corrupt.Load()
	st.CheckZxid = Zxid(c.lastCheck)
	var members, reachable, consistent uint64
	if c.loop.leading() && c.view != nil {
		st.View = c.view
		members, reachable, consistent = c.figures()
	} else {
		l := c.learned
		members, reachable, consistent = l.Members, l.Reachable, l.Consistent
	}
	st.MemberCount, st.ReachableMembers, st.ConsistentMembers = int(members), int(reachable), int(consistent)
	if members > 0 {
		st.Availability = float64(reachable) / float64(members)
		st.Consistency = float64(consistent) / float64(members)
	}
}

// applied runs a consistency entry at index, which the state machine has
// just applied (with everything before it): its digest is the digest there.
// On the leader, a report asking for a repair returns the member to repair
// at once (repair.go), else 0.
func (c *consistency) applied(index uint64, data []byte) (repair uint64) {
	chk, err := wire.DecodeCheck(data)
	if err != nil {
		c.loop.logger().Warn("skipping undecodable consistency entry", "index", index, "err", err)
		return 0
	}
	switch chk.Kind {
	case wire.CheckReport:
		if chk.Corrupt {
			c.reports[chk.Member] = max(chk.Zxid, 1)
			if chk.Repair {
				c.repairWanted[chk.Member] = true
			} else {
				delete(c.repairWanted, chk.Member)
			}
			c.loop.logger().Warn("member reported its tree corrupt", "reporter", chk.Member, "zxid", chk.Zxid, "repair", chk.Repair)
		} else {
			delete(c.reports, chk.Member)
			delete(c.repairWanted, chk.Member)
		}
		if c.loop.leading() {
			c.refreshView()
			if chk.Repair {
				return chk.Member
			}
		}
		return 0
	case wire.CheckPeriodic:
	}
	dig := c.loop.treeDigest()
	c.lastCheck = index
	c.recent = append(c.recent, appliedCheck{zxid: index, tick: c.loop.now()})
	c.forgetOldChecks()
	c.learned = chk
	c.recorded[index] = dig
	if len(c.recorded) > recordedChecks {
		oldest := index
		for z := range c.recorded {
			oldest = min(oldest, z)
		}
		delete(c.recorded, oldest)
	}
	if chk.PrevZxid != 0 {
		if mine, ok := c.recorded[chk.PrevZxid]; ok && mine != chk.PrevDigest {
			c.markCorrupt(fmt.Sprintf("digest at zxid %d is %x here, %x on the leader", chk.PrevZxid, mine, chk.PrevDigest))
		}
	}
	if c.corrupt.Load() {
		c.maybeReport()
	}
	c.startScan(index, dig)
	return 0
}

// startScan recomputes, off the loop, the digest of the tree as it stands
// now (at zxid, running digest dig) from a Pebble snapshot. One scan runs at
// a time; a check arriving during a scan is not scanned.
func (c *consistency) startScan(zxid, dig uint64) {
	if c.scanning || c.ctx == nil || c.ctx.Err() != nil {
		return
	}
	snap := c.loop.treeSnapshot()
	c.scanning = true
	ctx, gen := c.ctx, c.scanGen
	c.wg.Go(func() {
		defer snap.Close()
		zx, stored, sum, err := scanDigest(ctx, snap)
		if err == nil && (zx != zxid || stored != dig) {
			err = fmt.Errorf("keeper: check snapshot at zxid %d digest %x, loop had %d and %x", zx, stored, zxid, dig)
		}
		c.loop.onLoop(ctx, func() {
			if gen == c.scanGen {
				c.scanDone(zxid, stored, sum, err)
			}
		})
	})
}

// stopScan cancels a running background scan and waits for it, so it holds
// no Pebble snapshot of the store; a result it already queued for the loop
// is ignored. It runs on the loop before the tree is swapped.
func (c *consistency) stopScan() {
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
func (c *consistency) scanDone(zxid, stored, sum uint64, err error) {
	c.scanning = false
	c.loop.metrics().scanned(err, sum == stored)
	switch {
	case errors.Is(err, ErrCorrupt):
		c.markCorrupt(fmt.Sprintf("scan at zxid %d: %v", zxid, err))
	case err != nil:
		c.loop.logger().Warn("consistency scan failed", "zxid", zxid, "err", err)
	case sum != stored:
		c.markCorrupt(fmt.Sprintf("znodes and sessions at zxid %d sum to %x, the running digest is %x", zxid, sum, stored))
	default:
		if zxid > c.verified {
			c.verified, c.verDigest = zxid, stored
		}
	}
}

// scanDigest reads the applied index and stored digest of snap and sums the
// hashes of every znode and session in it, as the running digest does.
func scanDigest(ctx context.Context, snap *storage.Snapshot) (zxid, stored, sum uint64, err error) {
	if zxid, err = readMetaUint(snap, keys.MetaApplied); err != nil {
		return 0, 0, 0, err
	}
	if stored, err = readMetaUint(snap, keys.MetaDigest); err != nil {
		return 0, 0, 0, err
	}
	if sum, err = sumImage(ctx, snap, imageVisitor{}); err != nil {
		return 0, 0, 0, fmt.Errorf("keeper: check scan: %w", err)
	}
	return zxid, stored, sum, nil
}

// markCorrupt marks this member corrupt, once: it refuses reads and writes
// from now on, tells the cluster, gives up leadership and, if configured,
// asks for a resync.
func (c *consistency) markCorrupt(reason string) {
	if c.corrupt.Swap(true) {
		return
	}
	onCorrupt := c.loop.config().OnCorrupt
	c.loop.logger().Error("consistency check failed; this member refuses reads and writes", "reason", reason, "on_corrupt", onCorrupt.String())
	c.maybeReport()
	if c.loop.leading() {
		c.handOffLeadership()
	}
	if onCorrupt == RepairCorrupt {
		c.requestResync()
	}
}

// maybeReport proposes this member's corrupt report unless the log already
// carries it; a lost proposal is retried at the next check.
func (c *consistency) maybeReport() {
	self := c.loop.memberID()
	if c.reports[self] != 0 || c.loop.leaderID() == raft.None {
		return
	}
	now := c.loop.now()
	if c.reportedAt != 0 && now-c.reportedAt < uint64(c.loop.config().electionTicks()) {
		return
	}
	chk := wire.Check{Kind: wire.CheckReport, Member: self, Zxid: c.lastCheck, Corrupt: true, Repair: c.loop.config().OnCorrupt == RepairCorrupt}
	if err := c.loop.proposeEntry(chk.Encode()); err != nil {
		c.loop.logger().Debug("propose corrupt report", "err", err)
		return
	}
	c.reportedAt = now
}

// handOffLeadership asks raft to move leadership to the voter with the
// highest match index; a corrupt leader must not stay the cluster's source.
func (c *consistency) handOffLeadership() {
	self := c.loop.memberID()
	var best, bestMatch uint64
	c.loop.withProgress(func(id uint64, typ raft.ProgressType, pr tracker.Progress) {
		if id == self || typ != raft.ProgressTypePeer || pr.IsLearner || c.reports[id] != 0 {
			return
		}
		if best == 0 || pr.Match > bestMatch {
			best, bestMatch = id, pr.Match
		}
	})
	if best != 0 {
		c.loop.logger().Warn("corrupt leader hands leadership over", "to", best)
		c.loop.transferLeader(best)
	}
}

// requestResync is where a corrupt member asks to have its tree replaced by
// the leader's. The request itself is the corrupt report maybeReport files
// with "repair wanted": the leader, applying it, streams its tree here
// (repair.go), and retries while the report stands.
func (c *consistency) requestResync() {
	c.loop.logger().Warn("asking the leader for its tree to repair this member")
}

// resyncDone is what a finished repair calls on the loop once the member's
// tree has been replaced by a verified copy of the leader's, at index
// through: the digests recorded up to it and the last verified check are
// forgotten, the member serves reads and writes again and files a
// "repaired" report, which clears its mismatch in every member's view. The
// report is filed even if the member was not marked corrupt (it restarted
// during a repair whose report was lost), so the leader stops repairing it.
func (c *consistency) resyncDone(through uint64) {
	for z := range c.recorded {
		if z <= through {
			delete(c.recorded, z)
		}
	}
	c.verified, c.verDigest = 0, 0
	if c.corrupt.Swap(false) {
		c.loop.logger().Warn("tree re-synced from the leader; serving again")
	}
	c.reportedAt = 0
	c.proposeRepaired()
}

// proposeRepaired proposes this member's "repaired" report.
func (c *consistency) proposeRepaired() {
	chk := wire.Check{Kind: wire.CheckReport, Member: c.loop.memberID(), Zxid: c.loop.appliedIndex(), Corrupt: false}
	if err := c.loop.proposeEntry(chk.Encode()); err != nil {
		c.loop.logger().Debug("propose repaired report", "err", err)
	}
}

// rerecord replaces the digest recorded at a check's index, if one was,
// with the digest of a tree re-applied through it (repair.go).
func (c *consistency) rerecord(index, digest uint64) {
	if _, ok := c.recorded[index]; ok {
		c.recorded[index] = digest
	}
}

// corrupted reports whether this member found its tree corrupt; any
// goroutine may call it.
func (c *consistency) corrupted() bool { return c.corrupt.Load() }

// verifiedAt is the zxid of the last check this member's scan verified, 0
// if none since its tree was last replaced.
func (c *consistency) verifiedAt() uint64 { return c.verified }

// repairsWanted lists the members whose standing corrupt report asks for a
// repair.
func (c *consistency) repairsWanted() []uint64 {
	var ids []uint64
	for m := range c.repairWanted {
		if c.reports[m] != 0 {
			ids = append(ids, m)
		}
	}
	return ids
}

// filterCheckProposal says whether a consistency entry forwarded by member
// from may be proposed: only reports, and only about the sender itself.
func filterCheckProposal(from uint64, data []byte) bool {
	c, err := wire.DecodeCheck(data)
	return err == nil && c.Kind == wire.CheckReport && c.Member == from
}
