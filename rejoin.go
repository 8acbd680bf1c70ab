package keeper

// This file lets a member whose data dir was lost rejoin under its old id
// without a leader change.
//
// Raft's leader remembers each follower's match index, the last entry the
// follower acknowledged as durable, and never sends below it: a rejection
// of an append at or below the match is taken for a stale message. A member
// that lost its disk and came back empty under the same id rejects every
// append the leader sends (it holds none of the log), and the leader drops
// each rejection, for as long as it leads. A new leader starts from no
// match and would probe down and send a snapshot; keeper does not wait for
// one. When the leader gets lostLogRejects rejections in a row from a
// member, each at or below the member's match and naming a last index
// (RejectHint) below it, no message in between accepted, it takes the
// member for one that lost its log and sends it a raft snapshot by itself:
// the same transfer raft's own MsgSnap starts (raftsnap.go). The member's
// raft takes it like any snapshot from its leader and answers with the
// snapshot's index, which moves the leader's match forward, and
// replication goes on from there. Raft's progress for the member is not in
// its snapshot state meanwhile, so the transfer's outcome, reported to raft
// as for every snapshot, changes nothing there.
//
// On the member's side, raft stops with a panic when a heartbeat names a
// commit index beyond its log (the leader sends min(match, commit)); such a
// heartbeat is stepped with the commit the member already has, so it still
// answers, and the member also answers it with a rejection as above (the
// leader sends no append to draw one while no writes come).
//
// A false alarm (duplicated or delayed rejections) costs one transfer the
// member ignores: raft refuses a snapshot at or below its commit index.
//
// A member that knows it lost its log does not vote until it holds the
// log its leader said it had acknowledged (rejoin.dropVote): its
// acknowledgements counted in quorums it no longer remembers, and a vote from its empty log
// could elect a member that misses writes those quorums committed. Before
// its first heartbeat it does not know, so the window from its restart to
// that heartbeat remains; see docs/RUNBOOK.md ("Disk lost") for the
// stricter replacement by RemoveMember and AddMember.

import (
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
)

// lostLogRejects is how many rejections in a row below a member's match
// make the leader send it a snapshot.
const lostLogRejects = 3

// rejoin is the member's lost-log feature: as leader, it notices a member
// that lost its log and sends it a snapshot; as a member that lost its own,
// it answers the leader's heartbeats and withholds its vote. The loop calls
// its step hook (watch, clampHeartbeat, dropVote) for each message it is
// about to step, on the loop goroutine.
type rejoin struct {
	loop loopView
	// rejects counts, as leader, each member's rejections in a row below
	// its match.
	rejects map[uint64]int
	// lostTo is the log index a leader said this member acknowledged,
	// above what it holds; 0 when none.
	lostTo uint64
}

// init gives the feature its view of the loop; the loop calls it before it
// starts.
func (j *rejoin) init(loop loopView) { j.loop = loop }

// watch looks at a message the loop is about to step: on a leader, it
// counts a member's rejections below its match and, at lostLogRejects,
// sends it a raft snapshot. It runs on the loop goroutine.
func (j *rejoin) watch(m *raftpb.Message) {
	if !j.loop.leading() || m.GetType() != raftpb.MsgAppResp {
		return
	}
	from := m.GetFrom()
	if !m.GetReject() || j.loop.snapshotSending(from) {
		delete(j.rejects, from)
		return
	}
	var match uint64
	known := false
	j.loop.withProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
		if id == from {
			match, known = pr.Match, true
		}
	})
	if !known || m.GetIndex() > match || m.GetRejectHint() >= match {
		delete(j.rejects, from)
		return
	}
	if j.rejects == nil {
		j.rejects = make(map[uint64]int)
	}
	j.rejects[from]++
	if j.rejects[from] < lostLogRejects {
		return
	}
	delete(j.rejects, from)
	j.loop.sendSnapshotTo(from, func() {
		j.loop.logger().Warn("member lost its raft log (its last index is below what it acknowledged); sending it a snapshot",
			"member", from, "match", match, "last", m.GetRejectHint())
	})
}

// clampHeartbeat lowers the commit index a heartbeat carries to this
// member's own when it lies beyond the member's log: the leader remembers
// more of the log than the member holds. It runs on the loop goroutine.
func (j *rejoin) clampHeartbeat(m *raftpb.Message) {
	last, err := j.loop.lastIndex()
	if err != nil || m.GetCommit() <= last {
		return
	}
	if j.lostTo == 0 {
		j.loop.logger().Warn("the leader knows this member acknowledged more of the raft log than it holds (its data dir was lost or replaced); it waits for a snapshot and does not vote meanwhile",
			"leader", m.GetFrom(), "commit", m.GetCommit(), "last", last)
	}
	j.lostTo = max(j.lostTo, m.GetCommit())
	// The leader sends appends only when it has entries this member lacks
	// by its count: with no writes, none come, and nor do the rejections
	// that make it send a snapshot. Reject one here, as the member would.
	j.loop.sendMessages([]*raftpb.Message{{
		Type:       raftpb.MsgAppResp.Enum(),
		To:         new(m.GetFrom()),
		From:       new(j.loop.memberID()),
		Term:       new(m.GetTerm()),
		Index:      new(m.GetCommit()),
		Reject:     new(true),
		RejectHint: new(last),
	}})
	m.Commit = new(min(j.loop.commitIndex(), last))
}

// dropVote reports whether vote request m is to be dropped: this
// member learned it lost log it had acknowledged and does not hold it yet.
// It runs on the loop goroutine.
func (j *rejoin) dropVote(m *raftpb.Message) bool {
	if j.lostTo == 0 {
		return false
	}
	if t := m.GetType(); t != raftpb.MsgVote && t != raftpb.MsgPreVote {
		return false
	}
	if last, err := j.loop.lastIndex(); err == nil && last >= j.lostTo {
		j.lostTo = 0
		j.loop.logger().Info("this member holds the log it had lost again; it votes again")
		return false
	}
	j.loop.logger().Debug("not voting: this member lost log it had acknowledged", "candidate", m.GetFrom(), "until", j.lostTo)
	return true
}
