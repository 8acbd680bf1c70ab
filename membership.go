package keeper

// This file changes the cluster's membership at run time: add a member (as
// a learner, then promote it, or as a voter straight away), remove one, and
// hand leadership to another voter. Every change is one raft ConfChangeV2
// with a single step, so raft applies it without a joint configuration.
//
// The calls may be made on any member: a member that does not lead sends
// the request to the leader over the Transport (membership_forward.go). The
// leader runs one change at a time; a call returns once the change applied
// on the leader and, called elsewhere, on the calling member too. The Transport is the host's: before AddMember the host must make
// the new member reachable under its id (transport.Memory: an Endpoint per
// id; TCP: its address in the host's peer table), and after RemoveMember the
// host Closes the removed member and may forget its address.
//
// A new member is opened with Config{Join: true, ClusterID: <the cluster's
// Status().ClusterID>, Dir: <empty>, Peers: <current members and itself>}:
// it starts with an empty log and learns the membership from the leader,
// which sends it the log from the start. That needs the leader's log from
// index 1 (a cluster younger than Config.KeepEntries) until raft snapshots
// can carry a tree to a new member.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/keeper-go/keeper/internal/wire"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
)

// MemberKind says how AddMember adds a member.
type MemberKind int

const (
	// AsLearner adds a non-voting member: it receives the log but counts for
	// no quorum, so a new member catching up cannot stall the cluster. The
	// safe way in: AddMember(AsLearner), wait until it caught up, then
	// PromoteMember.
	AsLearner MemberKind = iota
	// AsVoter adds a voting member at once. Until it has caught up, the
	// cluster needs a quorum among the others.
	AsVoter
)

func (k MemberKind) String() string {
	switch k {
	case AsLearner:
		return "learner"
	case AsVoter:
		return "voter"
	}
	return fmt.Sprintf("MemberKind(%d)", int(k))
}

// Member is one member of the cluster as of this member's applied index.
type Member struct {
	ID      uint64
	Learner bool
}

// promoteLag is how far, in log entries, a learner may be behind the
// leader's commit index and still be promoted.
const promoteLag = 1000

// confWait is a membership change waiting to apply on the leader.
type confWait struct {
	id   uint64 // carried in the change's Context
	term uint64
	done chan error
	// remote names the forwarded request the change runs for
	// (membership_forward.go); zero for a call made on the leader.
	remote fwdKey
	tick   uint64 // loop tick a forwarded change was proposed at
}

// Members returns the cluster's members as of this member's applied index,
// sorted by id.
func (n *Node) Members() []Member {
	st := n.r.status.Load()
	learners := st.Learners
	ms := make([]Member, 0, len(st.Members))
	for _, id := range st.Members {
		ms = append(ms, Member{ID: id, Learner: slices.Contains(learners, id)})
	}
	return ms
}

// AddMember adds member id to the cluster as kind. It may be called on any
// member: off the leader it sends the request to the leader (see
// PromoteMember). It fails with ErrMemberExists if id is a member already,
// ErrConfChangeInProgress while another change is pending.
func (n *Node) AddMember(ctx context.Context, id uint64, kind MemberKind) error {
	op := wire.MemberAddLearner
	if kind == AsVoter {
		op = wire.MemberAddVoter
	}
	return n.changeConf(ctx, op, id)
}

// PromoteMember makes learner id a voter. It refuses an id that is not a
// learner (ErrUnknownMember) and a learner the leader has not heard from
// within the election timeout or that is more than a thousand entries
// behind (ErrUnsafeConfChange): wait for it to catch up and retry.
//
// Like AddMember and RemoveMember it may be called on any member. Off the
// leader, the call sends the request to the leader this member knows,
// follows it when leadership moves, resends it every election timeout until
// ctx ends (the leader runs it once however often it arrives), and returns
// the leader's result with the same errors as on the leader, once the change
// applied on the leader and on this member (or ctx ended after it applied on
// the leader). If no leader is known for an election timeout before the
// request was sent, it returns ErrNoLeader; once sent, an end of ctx without
// a reply returns ErrIndeterminate.
func (n *Node) PromoteMember(ctx context.Context, id uint64) error {
	return n.changeConf(ctx, wire.MemberPromote, id)
}

// RemoveMember removes member id. It refuses an unknown id
// (ErrUnknownMember), the last voter, and the leader (ErrUnsafeConfChange:
// TransferLeadership first, then remove it). It may be called on any member
// (see PromoteMember), the removed one included. The removed member stops
// taking part; the host Closes it.
func (n *Node) RemoveMember(ctx context.Context, id uint64) error {
	return n.changeConf(ctx, wire.MemberRemove, id)
}

// checkAdd is AddMember's check on the leader's loop.
func (r *replica) checkAdd(id uint64) error {
	if slices.Contains(r.members, id) {
		return fmt.Errorf("%w: %d", ErrMemberExists, id)
	}
	return nil
}

// checkPromote is PromoteMember's check on the leader's loop.
func (r *replica) checkPromote(id uint64) error {
	if !slices.Contains(r.conf.GetLearners(), id) {
		return fmt.Errorf("%w: %d is not a learner", ErrUnknownMember, id)
	}
	var match uint64
	r.rn.WithProgress(func(pid uint64, _ raft.ProgressType, pr tracker.Progress) {
		if pid == id {
			match = pr.Match
		}
	})
	t, heard := r.heard[id]
	if !heard || r.ticks-t > uint64(r.cfg.electionTicks()) {
		return fmt.Errorf("%w: learner %d is not reachable", ErrUnsafeConfChange, id)
	}
	if match+promoteLag < r.commit {
		return fmt.Errorf("%w: learner %d holds the log to %d, the leader committed %d", ErrUnsafeConfChange, id, match, r.commit)
	}
	return nil
}

// checkRemove is RemoveMember's check on the leader's loop.
func (r *replica) checkRemove(id uint64) error {
	if !slices.Contains(r.members, id) {
		return fmt.Errorf("%w: %d", ErrUnknownMember, id)
	}
	if id == r.id {
		return fmt.Errorf("%w: the leader cannot remove itself; transfer leadership first", ErrUnsafeConfChange)
	}
	voters := r.conf.GetVoters()
	if slices.Contains(voters, id) && len(voters) == 1 {
		return fmt.Errorf("%w: %d is the last voter", ErrUnsafeConfChange, id)
	}
	return nil
}

// TransferLeadership hands leadership to voter to and waits until this
// member sees to lead, or ctx ends. It may be called on any member: off the
// leader it asks the leader this member knows, and fails with ErrNotLeader
// when no leader is known. to == the leader is a no-op; an id that is not a
// voter in this member's membership fails with ErrUnknownMember.
func (n *Node) TransferLeadership(ctx context.Context, to uint64) error {
	if n.isClosed() {
		return ErrClosed
	}
	errc := make(chan error, 1)
	ok := n.r.onLoop(ctx, func() {
		r := n.r
		switch {
		case to == r.lead && r.lead != raft.None:
			errc <- nil
		case !slices.Contains(r.conf.GetVoters(), to):
			errc <- fmt.Errorf("%w: %d is not a voter", ErrUnknownMember, to)
		case r.role == raft.StateLeader:
			r.rn.TransferLeader(to)
			errc <- nil
		case r.lead == raft.None:
			errc <- notLeader(r.lead)
		default:
			r.transferFrom(to)
			errc <- nil
		}
	})
	if !ok {
		return n.loopErr(ctx)
	}
	if err := <-errc; err != nil {
		return err
	}
	tick := time.NewTicker(n.r.ticker)
	defer tick.Stop()
	retry := time.Duration(2*n.r.cfg.electionTicks()) * n.r.ticker
	last := time.Now()
	for {
		st := n.r.status.Load()
		if st.Leader == to {
			return nil
		}
		if time.Since(last) > retry {
			// raft gives a transfer up after an election timeout; ask again.
			last = time.Now()
			n.r.onLoop(ctx, func() {
				if n.r.role == raft.StateLeader {
					n.r.rn.TransferLeader(to)
				} else {
					n.r.transferFrom(to)
				}
			})
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-n.r.donec:
			return n.r.closedErr()
		}
	}
}

// changeConf runs op on id: here if this member leads, else through the
// leader (membership_forward.go).
func (n *Node) changeConf(ctx context.Context, op wire.MemberOp, id uint64) error {
	if n.isClosed() {
		return ErrClosed
	}
	if id == 0 {
		return fmt.Errorf("%w: member id 0", ErrBadArguments)
	}
	if n.r.status.Load().Role == RoleLeader {
		err := n.changeConfHere(ctx, op, id)
		if !errors.Is(err, ErrNotLeader) {
			return err
		}
	}
	return n.forwardConf(ctx, op, id)
}

// changeConfHere proposes op on id as one single-step configuration change
// once its check passes on the leader's loop, and waits for it to apply
// here. While the leader has not yet applied an entry of its own term it
// retries every tick (raft would silently drop the change meanwhile). Off
// the leader it returns ErrNotLeader, having done nothing.
func (n *Node) changeConfHere(ctx context.Context, op wire.MemberOp, id uint64) error {
	typ, check := confChange(op, id)
	for {
		errc := make(chan error, 1)
		var w *confWait
		ok := n.r.onLoop(ctx, func() {
			var err error
			w, err = n.r.proposeConf(id, typ, check)
			errc <- err
		})
		if !ok {
			return n.loopErr(ctx)
		}
		err := <-errc
		if err == errConfNotReady {
			select {
			case <-time.After(n.r.ticker):
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err != nil {
			return err
		}
		select {
		case err := <-w.done:
			if err == nil {
				n.r.waitPublished(ctx)
			}
			return err
		case <-ctx.Done():
			n.r.onLoop(context.Background(), func() {
				if n.r.pendingConf == w {
					n.r.pendingConf = nil
				}
			})
			return fmt.Errorf("%w: %w", ErrIndeterminate, ctx.Err())
		case <-n.r.donec:
			select {
			case err := <-w.done:
				return err
			default:
			}
			return n.r.stoppedErr()
		}
	}
}

// waitPublished returns once the loop has published the Status of the Ready
// it is handling (or ctx ends, or the loop stops): a change applied in that
// Ready, such as a membership change whose caller was just told, is then
// visible to Status and Members.
func (r *replica) waitPublished(ctx context.Context) {
	ran := make(chan struct{})
	if !r.onLoop(ctx, func() { close(ran) }) {
		return
	}
	select {
	case <-ran:
	case <-ctx.Done():
	case <-r.donec:
	}
}

// errConfNotReady: the leader has not applied an entry of its term yet.
var errConfNotReady = fmt.Errorf("%w: leader not ready for a membership change", ErrConfChangeInProgress)

// loopErr is the error for a call whose function never reached the loop.
func (n *Node) loopErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return n.r.closedErr()
}

func notLeader(lead uint64) error {
	return &NotLeaderError{Leader: lead}
}

// proposeConf runs on the loop: it checks the leader can take the change
// now and proposes it.
func (r *replica) proposeConf(id uint64, typ raftpb.ConfChangeType, check func(r *replica) error) (*confWait, error) {
	if r.role != raft.StateLeader {
		return nil, notLeader(r.lead)
	}
	if r.pendingConf != nil {
		return nil, ErrConfChangeInProgress
	}
	if err := check(r); err != nil {
		return nil, err
	}
	// raft accepts one pending change and turns any other into an empty
	// entry; a new leader counts its whole log as possibly pending. Having
	// applied an entry of its own term with nothing of ours pending rules
	// both out.
	applied := r.sm.applied()
	if t, err := r.ms.Term(applied); err != nil || t != r.term || applied < r.commit {
		return nil, errConfNotReady
	}
	w := &confWait{id: r.seq.Add(1), term: r.term, done: make(chan error, 1)}
	cc := &raftpb.ConfChangeV2{
		Changes: []*raftpb.ConfChangeSingle{{Type: typ.Enum(), NodeId: new(id)}},
		Context: wire.EncodeConfContext(w.id),
	}
	if err := r.rn.ProposeConfChange(cc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoLeader, err)
	}
	r.pendingConf = w
	return w, nil
}

// confApplied completes the waiting change whose context cc carries.
func (r *replica) confApplied(index uint64, cc raftpb.ConfChangeI) {
	w := r.pendingConf
	if w == nil {
		return
	}
	if id, err := wire.DecodeConfContext(cc.AsV2().GetContext()); err == nil && id == w.id {
		r.endConfWait(nil, index)
	}
}

// expireConfWait fails the waiting change once the term moved or this
// member stopped leading: it may or may not apply under the next leader.
func (r *replica) expireConfWait() {
	w := r.pendingConf
	switch {
	case w == nil:
	case w.term != r.term:
		r.failConfWait(fmt.Errorf("%w: term moved from %d to %d during a membership change", ErrIndeterminate, w.term, r.term))
	case r.role != raft.StateLeader:
		r.failConfWait(fmt.Errorf("%w: lost leadership during a membership change", ErrIndeterminate))
	case w.remote.from != 0 && r.ticks-w.tick > uint64(pendingTimeoutElections*r.cfg.electionTicks()):
		// Nobody's context bounds a forwarded change; this does.
		r.failConfWait(fmt.Errorf("%w: membership change not applied after %d ticks", ErrIndeterminate, r.ticks-w.tick))
	}
}

func (r *replica) failConfWait(err error) {
	if r.pendingConf != nil {
		r.endConfWait(err, 0)
	}
}

// endConfWait ends the waiting change with err (index: where it applied):
// its caller is told, or the member that forwarded it is sent the reply.
func (r *replica) endConfWait(err error, index uint64) {
	w := r.pendingConf
	r.pendingConf = nil
	w.done <- err
	if w.remote.from != 0 {
		r.replyConf(w.remote, err, true, index)
	}
}
