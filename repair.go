package keeper

// This file is the automatic repair of a corrupt member: a member
// whose consistency check failed replaces its tree with a verified copy of
// the leader's, streamed the way a raft snapshot is, and goes on serving.
//
// Raft cannot do this by itself: a follower ignores a snapshot at or below
// its commit index, and a corrupt member is usually fully caught up. So the
// repair is keeper's own (the feature type repair), using raft catch-up's
// transfers and swap:
//
//  1. Request. A corrupt member with Config.OnCorrupt == RepairCorrupt files
//     its corrupt report with "repair wanted" (consistency.go). The leader
//     applies the report like every member; on applying it, and every
//     repairRetryElections election timeouts while the report stands, it
//     starts a repair transfer to that member (never to itself, one per
//     member at a time, none while it is corrupt itself).
//  2. Transfer. start, on the loop, takes a Pebble snapshot of the
//     leader's store at its applied index A, with A's term and the digest
//     there, and streams it off the loop with StreamTransport.SendStream,
//     exactly as a raft snapshot (catchUp.stream), under a repair
//     header (wire.RepairHeader: the cluster id, then wire.RepairMarker,
//     which never starts the marshalled MsgSnap of a raft snapshot's
//     header, then A, its term and the digest). Close cancels it with every
//     other transfer.
//  3. Build. The member's stream receiver (installer.receive) sees the
//     repair marker and runs repair.receive: the loop is asked first
//     whether a repair is wanted (see want); then the stream is built into
//     treefiles.BuildDir (installer.build), verified chunk by chunk, and
//     its zxid and digest must equal the header's. Unlike a raft snapshot the
//     build carries no MetaInstalled mark: a repair leaves the raft log as it
//     is, so Open's finishInstall must not write a release mark for it.
//  4. Install at A, on the loop (endTurn). The member's applied index P
//     may be behind A (it has not applied A yet) or past it. Behind, the
//     build waits, up to repairWaitElections election timeouts, until the
//     member has applied A itself; then, with P ≥ A, the tree is swapped for
//     the build at A with install.go's crash-safe swap (installer.swap, under the
//     read gate's locks), and the member re-applies its own committed entries
//     (A, P] from its in-memory raft log, so it ends at P with a correct
//     tree. The transfer is refused, and the leader retries later with a
//     newer A, when: entry A is no longer in the in-memory log (A below the
//     log's first index − 1), its term there differs from the leader's, or
//     (A, P] holds a configuration change (raft already applied it; applying
//     it again would be wrong). Waiting for P ≥ A rather than installing
//     ahead of the log keeps raft's own applied index and configuration in
//     step with the tree, so the apply guard that skips entries at or below
//     the tree's applied index (replicate.go) is only ever hit by entries
//     the tree already holds, as after a restart.
//  5. Done. After the re-apply the watches get Resynced at P (local sessions
//     the tree no longer holds end as Expired), the digests the member
//     recorded at earlier checks are replaced by the re-applied ones (or
//     forgotten, at or below A), the background scan state is reset, and
//     resyncDone clears the corrupt flag and files a "repaired" report that
//     clears the member's mismatch in every member's view.
//
// A crash at any point leaves a whole tree: before the build is committed,
// the old one (Open removes the build; the member is found corrupt again at
// the next check and asks again); after, the new tree at A, whose raft log
// still holds (A, P], which Open replays. A member that restarted with a
// repaired tree whose "repaired" report never made it accepts one more
// repair (its scan has not verified anything yet) or, once its scan
// verified its tree, refuses the transfer and files the "repaired" report.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"

	"github.com/keeper-go/keeper/internal/raftlog"
	"github.com/keeper-go/keeper/internal/treefiles"
	"github.com/keeper-go/keeper/internal/wire"
	"go.etcd.io/raft/v3/raftpb"
)

// repairRetryElections is how often, in election timeouts, the leader
// retries a repair while the member's corrupt report stands.
const repairRetryElections = 2

// repairWaitElections bounds, in election timeouts, how long a member holds
// a received repair tree waiting to apply the tree's index itself.
const repairWaitElections = 5

// Reasons a member refuses a repair transfer.
var (
	errRepairNotWanted = errors.New("keeper: repair not wanted by this member")
	errRepairRefused   = errors.New("keeper: repair transfer cannot be installed here")
)

// pendingRepair is a received, verified repair tree waiting in
// treefiles.BuildDir for the loop.
type pendingRepair struct {
	from     uint64
	h        wire.RepairHeader
	deadline uint64     // loop tick after which a wait for A gives up
	done     chan error // buffered; the loop's verdict
}

// repair is the member's automatic repair: see the file comment. Its
// fields are loop-owned unless marked. The loop calls tick (every tick),
// applied (a check entry named a member to repair), endTurn (after each
// turn's Readies) and stop (the loop's exit); the installer hands it the
// streams that carry a repair (receive).
type repair struct {
	loop      loopView
	cons      *consistency // asked who is corrupt, told of a repair
	catchUp   *catchUp     // runs the transfers
	installer *installer   // builds and swaps in the received tree
	dir       string       // the member's data dir

	lastTry   map[uint64]uint64 // leader: member -> tick of its last repair
	running   map[uint64]bool   // leader: repair transfers running
	pending   *pendingRepair    // member: the build waiting to be installed
	refusedAt uint64            // member: tick it last filed "repaired" on a refusal

	sent      atomic.Uint64 // repair transfers the members took; any goroutine
	installed atomic.Uint64 // repairs installed here; any goroutine
}

// newRepair makes the repair feature; in hands it the streams that carry
// a repair from then on.
func newRepair(loop loopView, cons *consistency, c *catchUp, in *installer, dir string) *repair {
	rp := &repair{loop: loop, cons: cons, catchUp: c, installer: in, dir: dir,
		lastTry: make(map[uint64]uint64), running: make(map[uint64]bool)}
	in.repairsTo(rp)
	return rp
}

// tick retries, on the leader, the repairs still wanted.
func (rp *repair) tick() { rp.maybeStart(0, false) }

// applied starts, on the leader, a repair of member, whose corrupt report
// an applied check entry just carried.
func (rp *repair) applied(member uint64) { rp.maybeStart(member, true) }

// maybeStart, on the leader's loop, starts a repair transfer to member id
// (0: to every member) still in the cluster whose standing corrupt report
// asks for one, unless one runs already or, when now is false, one started
// less than repairRetryElections election timeouts ago.
func (rp *repair) maybeStart(id uint64, now bool) {
	if !rp.loop.leading() || rp.cons.corrupted() || !rp.catchUp.canStream() {
		return
	}
	every := uint64(repairRetryElections * rp.loop.config().electionTicks())
	self, ticks := rp.loop.memberID(), rp.loop.now()
	for _, m := range rp.cons.repairsWanted() {
		if (id != 0 && m != id) || m == self || rp.running[m] || !slices.Contains(rp.loop.memberIDs(), m) {
			continue
		}
		if last, ok := rp.lastTry[m]; ok && !now && ticks-last < every {
			continue
		}
		rp.start(m)
	}
}

// start streams the leader's tree at its applied index to member to: see
// the file comment. It runs on the loop goroutine.
func (rp *repair) start(to uint64) {
	if !rp.catchUp.canStream() {
		return
	}
	rp.lastTry[to] = rp.loop.now()
	applied := rp.loop.appliedIndex()
	term, err := rp.loop.termAt(applied)
	if err != nil {
		rp.loop.logger().Warn("repair transfer: term of applied index", "index", applied, "err", err)
		return
	}
	header := wire.EncodeRepairHeader(rp.loop.cluster(), wire.RepairHeader{Zxid: applied, Term: term, Digest: rp.loop.treeDigest()})
	rp.loop.logger().Warn("sending the tree to repair a corrupt member", "to", to, "index", applied)
	if rp.catchUp.stream(to, header, rp.loop.treeSnapshot(), rp.transferred) {
		rp.running[to] = true
	}
}

// transferred takes a finished repair transfer on the loop.
func (rp *repair) transferred(to uint64, bytes int64, err error) {
	delete(rp.running, to)
	if err != nil {
		rp.loop.logger().Warn("repair transfer failed; retrying while the member reports corrupt", "to", to, "err", err)
		return
	}
	rp.sent.Add(1)
	rp.loop.logger().Info("repair transfer taken", "to", to, "bytes", bytes)
}

// want, on the loop, says whether this member takes a repair transfer from
// member from, which must be the leader it follows. A member that verified
// its tree since it opened (or was last repaired) and is not corrupt
// refuses, and files a "repaired" report so the leader's stale view of it
// clears.
func (rp *repair) want(from uint64) error {
	cfg, lead := rp.loop.config(), rp.loop.leaderID()
	if cfg.OnCorrupt != RepairCorrupt {
		return fmt.Errorf("%w: OnCorrupt is %v", errRepairNotWanted, cfg.OnCorrupt)
	}
	if from != lead || from == rp.loop.memberID() {
		return fmt.Errorf("%w: sent by member %d, the leader here is %d", errRepairNotWanted, from, lead)
	}
	if rp.pending != nil {
		return errSnapshotBusy
	}
	if !rp.cons.corrupted() && rp.cons.verifiedAt() != 0 {
		if now := rp.loop.now(); rp.refusedAt == 0 || now-rp.refusedAt >= uint64(cfg.electionTicks()) {
			rp.refusedAt = max(now, 1)
			rp.cons.proposeRepaired()
		}
		return fmt.Errorf("%w: its tree verified at zxid %d", errRepairNotWanted, rp.cons.verifiedAt())
	}
	return nil
}

// receive receives a repair transfer (installer.receive has checked the
// cluster id and holds the one-receiver slot): header is the stream
// header's body after the cluster id. See the file comment.
func (rp *repair) receive(ctx context.Context, from uint64, header []byte, body io.Reader) error {
	h, err := wire.DecodeRepairHeader(header)
	if err != nil {
		return err
	}
	verdict := make(chan error, 1)
	if !rp.loop.onLoop(ctx, func() { verdict <- rp.want(from) }) {
		return ErrClosed
	}
	select {
	case err := <-verdict:
		if err != nil {
			return err
		}
	case <-rp.loop.stopped():
		return ErrClosed
	}
	rp.loop.logger().Warn("receiving the leader's tree to repair this member", "from", from, "index", h.Zxid)
	if err := rp.installer.build(body, "repair", h.Zxid, h.Digest, raftlog.Mark{}); err != nil {
		return err
	}
	in := &pendingRepair{from: from, h: h, done: make(chan error, 1)}
	if !rp.loop.onLoop(ctx, func() { rp.hold(in) }) {
		_ = treefiles.DiscardBuild(rp.dir)
		return ErrClosed
	}
	return rp.installer.decided(in.done)
}

// hold takes a received repair tree on the loop, to wait there.
func (rp *repair) hold(in *pendingRepair) {
	if rp.pending != nil {
		_ = treefiles.DiscardBuild(rp.dir)
		in.done <- errSnapshotBusy
		return
	}
	in.deadline = rp.loop.now() + uint64(repairWaitElections*rp.loop.config().electionTicks())
	rp.pending = in
}

// refuse discards the pending repair tree with err.
func (rp *repair) refuse(err error) {
	in := rp.pending
	rp.pending = nil
	_ = treefiles.DiscardBuild(rp.dir)
	rp.loop.logger().Warn("repair transfer refused; the leader retries", "index", in.h.Zxid, "err", err)
	in.done <- err
}

// endTurn installs the pending repair tree once this member has applied
// its index: see the file comment. It runs on the loop after every turn;
// an error stops the loop (the tree may be closed), and Open's recovery
// finishes the swap.
func (rp *repair) endTurn() error {
	in := rp.pending
	if in == nil {
		return nil
	}
	a := in.h.Zxid
	applied := rp.loop.appliedIndex()
	if a > applied {
		if rp.loop.now() > in.deadline {
			rp.refuse(fmt.Errorf("%w: tree at %d, this member applied only %d", errRepairRefused, a, applied))
		}
		return nil
	}
	ents, err := rp.reapplied(in, applied)
	if err != nil || ents == nil {
		return err
	}
	rp.pending = nil
	err = rp.installer.swap(a, hookMidRepair, func() error {
		rp.loop.callHook(hookRepairSwapped)
		return rp.reapply(ents)
	})
	in.done <- err
	if err != nil {
		return err
	}
	rp.installed.Add(1)
	rp.loop.logger().Warn("tree repaired from the leader's copy", "from", in.from, "tree_index", a, "applied", rp.loop.appliedIndex(),
		"digest", fmt.Sprintf("%x", rp.loop.treeDigest()))
	rp.loop.treeSwapped()
	rp.cons.resyncDone(a)
	return nil
}

// reapplied returns the entries (A, applied] the member re-applies over
// the pending tree at A, or nil, having refused the repair, when it cannot
// be installed here (see the file comment). An error stops the loop.
func (rp *repair) reapplied(in *pendingRepair, applied uint64) ([]*raftpb.Entry, error) {
	a := in.h.Zxid
	first, err := rp.loop.firstIndex()
	if err != nil {
		return nil, fmt.Errorf("keeper: raft storage: %w", err)
	}
	if a+1 < first {
		rp.refuse(fmt.Errorf("%w: tree at %d is below the in-memory log (first index %d)", errRepairRefused, a, first))
		return nil, nil
	}
	if term, err := rp.loop.termAt(a); err != nil || term != in.h.Term {
		rp.refuse(fmt.Errorf("%w: entry %d has term %d here (%v), %d on the leader", errRepairRefused, a, term, err, in.h.Term))
		return nil, nil
	}
	ents := []*raftpb.Entry{}
	if applied > a {
		if ents, err = rp.loop.logEntries(a+1, applied+1); err != nil || uint64(len(ents)) != applied-a {
			rp.refuse(fmt.Errorf("%w: entries %d..%d: %d of them, %v", errRepairRefused, a+1, applied, len(ents), err))
			return nil, nil
		}
		for _, e := range ents {
			if e.GetType() != raftpb.EntryNormal {
				rp.refuse(fmt.Errorf("%w: entry %d is a configuration change", errRepairRefused, e.GetIndex()))
				return nil, nil
			}
		}
	}
	return ents, nil
}

// reapply applies this member's own committed entries again to a tree just
// installed below them. Their callers were answered the first time; a
// consistency entry only records the digest at its index (which replaces
// the digest recorded there on the corrupt tree). It runs under the
// read gate's locks (installer.swap, readGate.swap), so no read sees the
// tree below its old applied index.
func (rp *repair) reapply(ents []*raftpb.Entry) error {
	t := rp.loop.tree()
	// The caller holds the read gate's visibility lock, and the watches get
	// Resynced once the tree is at its final index: the re-applied groups
	// commit without events (their events were delivered the first time).
	return t.withoutEvents(func() error {
		group := make([]committed, 0, len(ents))
		flush := func() error {
			if len(group) == 0 {
				return nil
			}
			if _, err := t.apply(group); err != nil {
				return fmt.Errorf("keeper: repair: re-apply entries %d..%d: %w", group[0].Index, group[len(group)-1].Index, err)
			}
			group = group[:0]
			return nil
		}
		for _, e := range ents {
			d, err := wire.DecodeEntry(e)
			if err != nil {
				return err
			}
			c := committed{Index: d.Index, Kind: entryNoop}
			switch d.Kind {
			case wire.EntryCheck:
				// Whether it decodes or not, the check records the digest
				// at its index if this member recorded one there before.
				group = append(group, c)
				if err := flush(); err != nil {
					return err
				}
				rp.cons.rerecord(d.Index, t.digest())
				continue
			case wire.EntryProposal:
				c.Kind, c.Data = entryOp, d.Proposal.Payload
			case wire.EntryConfChange:
				// reapplied refuses a repair whose re-applied range holds
				// one: raft applied it already.
				return fmt.Errorf("%w: entry %d is a configuration change", errRepairRefused, d.Index)
			}
			group = append(group, c)
		}
		return flush()
	})
}

// stop ends a waiting repair when the loop stops.
func (rp *repair) stop() {
	if rp.pending != nil {
		rp.refuse(ErrClosed)
	}
}

// counts are the repair transfers the members took from this one and the
// repairs installed here, since Open; any goroutine may call it.
func (rp *repair) counts() (sent, installed uint64) { return rp.sent.Load(), rp.installed.Load() }
