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
// log its leader said it had acknowledged (lostLogVotes): its acknowledgements
// counted in quorums it no longer remembers, and a vote from its empty log
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

// watchLostLog looks at a message the loop is about to step: on a leader, it
// counts a member's rejections below its match and, at lostLogRejects,
// sends it a raft snapshot. It runs on the loop goroutine.
func (r *replica) watchLostLog(m *raftpb.Message) {
	if r.role != raft.StateLeader || m.GetType() != raftpb.MsgAppResp {
		return
	}
	from := m.GetFrom()
	if !m.GetReject() || r.snap.sending[from] {
		delete(r.lostRejects, from)
		return
	}
	var match uint64
	known := false
	r.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
		if id == from {
			match, known = pr.Match, true
		}
	})
	if !known || m.GetIndex() > match || m.GetRejectHint() >= match {
		delete(r.lostRejects, from)
		return
	}
	if r.lostRejects == nil {
		r.lostRejects = make(map[uint64]int)
	}
	r.lostRejects[from]++
	if r.lostRejects[from] < lostLogRejects {
		return
	}
	delete(r.lostRejects, from)
	snap, err := r.raftSnapshot()
	if err != nil {
		return // logged by raftSnapshot where it matters; raft asks again
	}
	r.log.Warn("member lost its raft log (its last index is below what it acknowledged); sending it a snapshot",
		"member", from, "match", match, "last", m.GetRejectHint())
	r.sendSnapshot(&raftpb.Message{
		Type:     raftpb.MsgSnap.Enum(),
		To:       new(from),
		From:     new(r.id),
		Term:     new(r.term),
		Snapshot: snap,
	})
}

// clampHeartbeat lowers the commit index a heartbeat carries to this
// member's own when it lies beyond the member's log: the leader remembers
// more of the log than the member holds. It runs on the loop goroutine.
func (r *replica) clampHeartbeat(m *raftpb.Message) {
	last, err := r.ms.LastIndex()
	if err != nil || m.GetCommit() <= last {
		return
	}
	if r.lostLogTo == 0 {
		r.log.Warn("the leader knows this member acknowledged more of the raft log than it holds (its data dir was lost or replaced); it waits for a snapshot and does not vote meanwhile",
			"leader", m.GetFrom(), "commit", m.GetCommit(), "last", last)
	}
	r.lostLogTo = max(r.lostLogTo, m.GetCommit())
	// The leader sends appends only when it has entries this member lacks
	// by its count: with no writes, none come, and nor do the rejections
	// that make it send a snapshot. Reject one here, as the member would.
	r.send([]*raftpb.Message{{
		Type:       raftpb.MsgAppResp.Enum(),
		To:         new(m.GetFrom()),
		From:       new(r.id),
		Term:       new(m.GetTerm()),
		Index:      new(m.GetCommit()),
		Reject:     new(true),
		RejectHint: new(last),
	}})
	m.Commit = new(min(r.commit, last))
}

// lostLogVotes reports whether vote request m is to be dropped: this
// member learned it lost log it had acknowledged and does not hold it yet.
// It runs on the loop goroutine.
func (r *replica) lostLogVotes(m *raftpb.Message) bool {
	if r.lostLogTo == 0 {
		return false
	}
	if t := m.GetType(); t != raftpb.MsgVote && t != raftpb.MsgPreVote {
		return false
	}
	if last, err := r.ms.LastIndex(); err == nil && last >= r.lostLogTo {
		r.lostLogTo = 0
		r.log.Info("this member holds the log it had lost again; it votes again")
		return false
	}
	r.log.Debug("not voting: this member lost log it had acknowledged", "candidate", m.GetFrom(), "until", r.lostLogTo)
	return true
}
