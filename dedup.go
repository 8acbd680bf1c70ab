package keeper

import (
	"math/rand/v2"
	"sync/atomic"

	"github.com/keeper-go/keeper/internal/wire"
	"go.etcd.io/raft/v3/raftpb"
)

// The Transport may duplicate frames, so a proposal a follower forwards to
// the leader (a raft MsgProp) can arrive twice; raft would append it twice
// and the write would apply twice. Two rules stop that before an entry
// enters the log:
//
//   - only the leader accepts proposals from other members; a follower drops
//     them instead of relaying them (a member forwards only its own), so a
//     duplicate can only reach the member the original went to;
//   - the leader remembers the (member, sequence) of recent proposals it
//     received from other members and drops entries it has seen. The memory
//     lives as long as the process, across terms, because the original and
//     its duplicate both go to the same member.
//
// Each Open starts its sequence numbers at a random point (dedup.init), so
// proposals of different incarnations of one member do not collide.

// dedupWindow is how many recent proposals per member the leader remembers.
// A duplicate delayed past that many later proposals from the same member
// would be appended again; the transports deliver far sooner.
const dedupWindow = 1 << 14

// dedup is the member's feature that keeps a write from applying twice: it
// numbers this member's proposals and, as leader, filters the proposals
// other members forward. The loop calls init before it starts and filter
// (its step hook) for each MsgProp it is about to step; any goroutine may
// call next.
type dedup struct {
	loop loopView
	seq  atomic.Uint64 // the last sequence number handed out
	seen proposalSeen  // loop-owned
}

// init gives the feature its view of the loop and starts the sequence at a
// random point; the loop calls it before it starts.
func (dd *dedup) init(loop loopView) {
	dd.loop = loop
	dd.seq.Store(rand.Uint64() >> 1)
}

// next is the sequence number of this member's next proposal.
func (dd *dedup) next() uint64 { return dd.seq.Add(1) }

// proposalSeen remembers recent forwarded proposals per member.
type proposalSeen struct {
	members map[uint64]*seenRing
}

// seenRing is one member's recent sequence numbers: a set and the FIFO that
// evicts from it.
type seenRing struct {
	set  map[uint64]struct{}
	ring []uint64
	next int
}

// fresh reports whether (member, seq) was not seen before, and records it.
func (p *proposalSeen) fresh(member, seq uint64) bool {
	if p.members == nil {
		p.members = make(map[uint64]*seenRing)
	}
	r := p.members[member]
	if r == nil {
		r = &seenRing{set: make(map[uint64]struct{})}
		p.members[member] = r
	}
	if _, ok := r.set[seq]; ok {
		return false
	}
	if len(r.ring) < dedupWindow {
		r.ring = append(r.ring, seq)
	} else {
		delete(r.set, r.ring[r.next])
		r.ring[r.next] = seq
		r.next = (r.next + 1) % dedupWindow
	}
	r.set[seq] = struct{}{}
	return true
}

// filter applies the two rules to a MsgProp received from another member;
// it reports whether anything is left to step. It runs on the loop.
func (dd *dedup) filter(m *raftpb.Message) bool {
	self := dd.loop.memberID()
	if m.GetFrom() == self {
		return true
	}
	if dd.loop.leaderID() != self {
		return false
	}
	kept := m.Entries[:0]
	for _, e := range m.Entries {
		if e.GetType() != raftpb.EntryNormal {
			kept = append(kept, e) // configuration changes are not filtered
			continue
		}
		d, err := wire.DecodeEntry(e)
		switch {
		case err != nil:
			continue
		case d.Kind == wire.EntryCheck && !filterCheckProposal(m.GetFrom(), d.Check):
			continue
		case d.Kind == wire.EntryProposal && (d.Proposal.Member != m.GetFrom() || !dd.seen.fresh(d.Proposal.Member, d.Proposal.Seq)):
			continue
		}
		kept = append(kept, e)
	}
	m.Entries = kept
	return len(kept) > 0
}
