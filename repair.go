package keeper

// This file is the automatic repair of a corrupt member: a member
// whose consistency check failed replaces its tree with a verified copy of
// the leader's, streamed the way a raft snapshot is, and goes on serving.
//
// Raft cannot do this by itself: a follower ignores a snapshot at or below
// its commit index, and a corrupt member is usually fully caught up. So the
// repair is keeper's own, folded into the snapshot machinery:
//
//  1. Request. A corrupt member with Config.OnCorrupt == RepairCorrupt files
//     its corrupt report with "repair wanted" (consistency.go). The leader
//     applies the report like every member; on applying it, and every
//     repairRetryElections election timeouts while the report stands, it
//     starts a repair transfer to that member (never to itself, one per
//     member at a time, none while it is corrupt itself).
//  2. Transfer. startRepair, on the loop, takes a Pebble snapshot of the
//     leader's store at its applied index A, with A's term and the digest
//     there, and streams it off the loop with StreamTransport.SendStream,
//     exactly as a raft snapshot (raftsnap.go's transfer), under a repair
//     header (wire.RepairHeader: the cluster id, then wire.RepairMarker,
//     which never starts the marshalled MsgSnap of a raft snapshot's
//     header, then A, its term and the digest). Close cancels it with every
//     other transfer.
//  3. Build. The member's stream receiver (install.go's receiveSnapshot)
//     sees the repair marker and runs receiveRepair: the loop is asked first
//     whether a repair is wanted (see wantRepair); then the stream is built
//     into storage.BuildDir with restoreTree, verified chunk by chunk, and
//     its zxid and digest must equal the header's. Unlike a raft snapshot the
//     build carries no MetaInstalled mark: a repair leaves the raft log as it
//     is, so Open's finishInstall must not write a release mark for it.
//  4. Install at A, on the loop (tryRepair). The member's applied index P
//     may be behind A (it has not applied A yet) or past it. Behind, the
//     build waits, up to repairWaitElections election timeouts, until the
//     member has applied A itself; then, with P ≥ A, the tree is swapped for
//     the build at A with install.go's crash-safe swap (swapTree, under the
//     read locks), and the member re-applies its own committed entries
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
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/keeper-go/keeper/internal/wire"
	"github.com/keeper-go/keeper/storage"
	"go.etcd.io/raft/v3"
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

// stagedRepair is a received, verified repair tree waiting in
// storage.BuildDir for the loop.
type stagedRepair struct {
	from     uint64
	h        wire.RepairHeader
	deadline uint64     // loop tick after which a wait for A gives up
	done     chan error // buffered; the loop's verdict
}

// repairState is the repair bookkeeping; loop-owned.
type repairState struct {
	lastTry   map[uint64]uint64 // leader: member -> tick of its last repair
	staged    *stagedRepair     // member: the build waiting to be installed
	refusedAt uint64            // member: tick it last filed "repaired" on a refusal
}

// maybeRepair, on the leader's loop, starts a repair transfer to member id
// (0: to every member) still in the cluster whose standing corrupt report
// asks for one, unless one runs already or, when now is false, one started
// less than repairRetryElections election timeouts ago.
func (r *replica) maybeRepair(id uint64, now bool) {
	if r.role != raft.StateLeader || r.cons.corrupted() || r.snap.st == nil {
		return
	}
	every := uint64(repairRetryElections * r.cfg.electionTicks())
	for _, m := range r.cons.repairsWanted() {
		if (id != 0 && m != id) || m == r.id || r.snap.repairing[m] || !slices.Contains(r.members, m) {
			continue
		}
		if last, ok := r.rep.lastTry[m]; ok && !now && r.ticks-last < every {
			continue
		}
		r.startRepair(m)
	}
}

// startRepair streams the leader's tree at its applied index to member to:
// see the file comment. It runs on the loop goroutine.
func (r *replica) startRepair(to uint64) {
	s := r.snap
	t := r.sm
	if t.st == nil || len(s.sending)+len(s.repairing) >= maxTransfers {
		return
	}
	if r.rep.lastTry == nil {
		r.rep.lastTry = make(map[uint64]uint64)
	}
	r.rep.lastTry[to] = r.ticks
	applied := t.applied()
	term, err := r.ms.Term(applied)
	if err != nil {
		r.log.Warn("repair transfer: term of applied index", "index", applied, "err", err)
		return
	}
	header := wire.EncodeRepairHeader(r.clusterID, wire.RepairHeader{Zxid: applied, Term: term, Digest: t.digest()})
	h := &heldSnap{ps: t.newSnapshot(), refs: 1}
	s.repairing[to] = true
	r.log.Warn("sending the tree to repair a corrupt member", "to", to, "index", applied)
	s.wg.Add(1)
	go r.transfer(s.sendCtx, to, header, h, true)
}

// repairSent takes a finished repair transfer on the loop.
func (r *replica) repairSent(res snapResult) {
	delete(r.snap.repairing, res.to)
	unrefSnap(res.h)
	if res.err != nil {
		r.log.Warn("repair transfer failed; retrying while the member reports corrupt", "to", res.to, "err", res.err)
		return
	}
	r.snap.repairsSent.Add(1)
	r.log.Info("repair transfer taken", "to", res.to, "bytes", res.bytes)
}

// wantRepair, on the loop, says whether this member takes a repair
// transfer from member from, which must be the leader it follows. A member that verified its tree since it opened (or was last
// repaired) and is not corrupt refuses, and files a "repaired" report so
// the leader's stale view of it clears.
func (r *replica) wantRepair(from uint64) error {
	if r.cfg.OnCorrupt != RepairCorrupt {
		return fmt.Errorf("%w: OnCorrupt is %v", errRepairNotWanted, r.cfg.OnCorrupt)
	}
	if from != r.lead || from == r.id {
		return fmt.Errorf("%w: sent by member %d, the leader here is %d", errRepairNotWanted, from, r.lead)
	}
	if r.rep.staged != nil {
		return errSnapshotBusy
	}
	if !r.cons.corrupted() && r.cons.verifiedAt() != 0 {
		if r.rep.refusedAt == 0 || r.ticks-r.rep.refusedAt >= uint64(r.cfg.electionTicks()) {
			r.rep.refusedAt = max(r.ticks, 1)
			r.cons.proposeRepaired()
		}
		return fmt.Errorf("%w: its tree verified at zxid %d", errRepairNotWanted, r.cons.verifiedAt())
	}
	return nil
}

// receiveRepair receives a repair transfer (receiveSnapshot has checked the
// cluster id and holds the one-receiver slot): header is the stream
// header's body after the cluster id. See the file comment.
func (r *replica) receiveRepair(from uint64, header []byte, body io.Reader) error {
	s := r.snap
	h, err := wire.DecodeRepairHeader(header)
	if err != nil {
		return err
	}
	verdict := make(chan error, 1)
	if !r.onLoop(s.ctx, func() { verdict <- r.wantRepair(from) }) {
		return ErrClosed
	}
	select {
	case err := <-verdict:
		if err != nil {
			return err
		}
	case <-r.donec:
		return ErrClosed
	}
	r.log.Warn("receiving the leader's tree to repair this member", "from", from, "index", h.Zxid)
	if err := storage.DiscardBuild(s.dir); err != nil {
		return err
	}
	info, err := restoreTree(s.ctx, body, storage.BuildDir(s.dir), RestoreOptions{
		KeepClusterID: true,
		checkHeader: func(b BackupInfo) error {
			if b.ClusterID != r.clusterID || b.Zxid != h.Zxid {
				return corruptf("repair stream of cluster %x at zxid %d, expected cluster %x at %d", b.ClusterID, b.Zxid, r.clusterID, h.Zxid)
			}
			return nil
		},
	})
	if err == nil && info.Backup.Digest != h.Digest {
		err = corruptf("repair stream digest %x, header says %x", info.Backup.Digest, h.Digest)
	}
	if err != nil {
		_ = storage.DiscardBuild(s.dir)
		return fmt.Errorf("keeper: receive repair tree at %d: %w", h.Zxid, err)
	}
	in := &stagedRepair{from: from, h: h, done: make(chan error, 1)}
	if !r.onLoop(s.ctx, func() { r.stageRepair(in) }) {
		_ = storage.DiscardBuild(s.dir)
		return ErrClosed
	}
	return r.decided(in.done)
}

// stageRepair takes a received repair tree on the loop.
func (r *replica) stageRepair(in *stagedRepair) {
	if r.rep.staged != nil {
		_ = storage.DiscardBuild(r.snap.dir)
		in.done <- errSnapshotBusy
		return
	}
	in.deadline = r.ticks + uint64(repairWaitElections*r.cfg.electionTicks())
	r.rep.staged = in
}

// refuseRepair discards the staged repair tree with err.
func (r *replica) refuseRepair(err error) {
	in := r.rep.staged
	r.rep.staged = nil
	_ = storage.DiscardBuild(r.snap.dir)
	r.log.Warn("repair transfer refused; the leader retries", "index", in.h.Zxid, "err", err)
	in.done <- err
}

// tryRepair installs the staged repair tree once this member has applied
// its index: see the file comment. It runs on the loop after every turn; an
// error stops the loop (the tree may be closed), and Open's recovery
// finishes the swap.
func (r *replica) tryRepair() error {
	in := r.rep.staged
	if in == nil {
		return nil
	}
	a := in.h.Zxid
	applied := r.sm.applied()
	if a > applied {
		if r.ticks > in.deadline {
			r.refuseRepair(fmt.Errorf("%w: tree at %d, this member applied only %d", errRepairRefused, a, applied))
		}
		return nil
	}
	first, err := r.ms.FirstIndex()
	if err != nil {
		return fmt.Errorf("keeper: raft storage: %w", err)
	}
	if a+1 < first {
		r.refuseRepair(fmt.Errorf("%w: tree at %d is below the in-memory log (first index %d)", errRepairRefused, a, first))
		return nil
	}
	if term, err := r.ms.Term(a); err != nil || term != in.h.Term {
		r.refuseRepair(fmt.Errorf("%w: entry %d has term %d here (%v), %d on the leader", errRepairRefused, a, term, err, in.h.Term))
		return nil
	}
	var ents []*raftpb.Entry
	if applied > a {
		if ents, err = r.ms.Entries(a+1, applied+1, math.MaxUint64); err != nil || uint64(len(ents)) != applied-a {
			r.refuseRepair(fmt.Errorf("%w: entries %d..%d: %d of them, %v", errRepairRefused, a+1, applied, len(ents), err))
			return nil
		}
		for _, e := range ents {
			if e.GetType() != raftpb.EntryNormal {
				r.refuseRepair(fmt.Errorf("%w: entry %d is a configuration change", errRepairRefused, e.GetIndex()))
				return nil
			}
		}
	}
	r.rep.staged = nil
	err = r.swapTree(a, hookMidRepair, func() error {
		r.callHook(hookRepairSwapped)
		return r.reapply(ents)
	})
	in.done <- err
	if err != nil {
		return err
	}
	r.snap.repairsInstalled.Add(1)
	r.log.Warn("tree repaired from the leader's copy", "from", in.from, "tree_index", a, "applied", r.sm.applied(),
		"digest", fmt.Sprintf("%x", r.sm.digest()))
	r.publish()
	r.releaseReads()
	r.cons.resyncDone(a)
	return nil
}

// reapply applies this member's own committed entries again to a tree just
// installed below them. Their callers were answered the first time; a
// consistency entry only records the digest at its index (which replaces
// the digest recorded there on the corrupt tree). It runs under the
// member's read locks (swapTree), so no read sees the tree below its old
// applied index.
func (r *replica) reapply(ents []*raftpb.Entry) error {
	// The caller holds the watch visibility lock, and the watches get
	// Resynced once the tree is at its final index: the re-applied groups
	// commit without events (their events were delivered the first time).
	pub := r.sm.publish
	r.sm.publish = nil
	defer func() { r.sm.publish = pub }()
	group := make([]committed, 0, len(ents))
	flush := func() error {
		if len(group) == 0 {
			return nil
		}
		if _, err := r.sm.apply(group); err != nil {
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
			r.cons.rerecord(d.Index, r.sm.digest())
			continue
		case wire.EntryProposal:
			c.Kind, c.Data = entryOp, d.Proposal.Payload
		case wire.EntryConfChange:
			// tryRepair refuses a repair whose re-applied range holds one:
			// raft applied it already.
			return fmt.Errorf("%w: entry %d is a configuration change", errRepairRefused, d.Index)
		}
		group = append(group, c)
	}
	return flush()
}

// repairStop ends a waiting repair when the loop stops.
func (r *replica) repairStop() {
	if r.rep.staged != nil {
		r.refuseRepair(ErrClosed)
	}
}
