package keeper

// This file changes the cluster's membership at run time: add a member (as
// a learner, then promote it, or as a voter straight away), remove one, and
// hand leadership to another voter. Every change is one raft ConfChangeV2
// with a single step, so raft applies it without a joint configuration.
//
// The calls may be made on any member: a member that does not lead sends
// the request to the leader over the Transport (membership_forward.go). The
// leader runs one change at a time; a call returns once the change applied
// on the leader and, called elsewhere, on the calling member too. The
// Transport is the host's: before AddMember the host must make the new
// member reachable under its id (transport.Memory: an Endpoint per id; TCP:
// its address in the host's peer table), and after RemoveMember the host
// Closes the removed member and may forget its address.
//
// A new member is opened with Config{Join: true, ClusterID: <the cluster's
// Status().ClusterID>, Dir: <empty>, Peers: <current members and itself>}:
// it starts with an empty log and learns the membership from the leader,
// which sends it the log, or a raft snapshot of the tree (raftsnap.go) when
// the log it needs was released.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
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

// membership is the member's membership-change feature: the changes this
// member runs as leader, one at a time, and, through its forwarding part
// (membership_forward.go), the calls made on a member that does not lead.
// The loop calls init before it starts, tick every tick, applied for each
// configuration change it applies, deliver for each membership frame (from
// the transport's goroutine) and stop on its way out; the Node's calls run
// on their callers' goroutines and reach the loop through loopView's onLoop.
// Fields not marked otherwise are owned by the loop.
type membership struct {
	loop loopView
	// ids numbers the changes this member proposes and the requests it
	// forwards; it starts at a random point per Open, so the ids of one
	// incarnation do not collide with the last one's. Any goroutine.
	ids atomic.Uint64
	// pending is the change this member proposed and waits for.
	pending *confWait
	fwd     forwarding // membership_forward.go
}

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

// init gives the feature its view of the loop; the loop calls it before it
// starts.
func (m *membership) init(loop loopView) {
	m.loop = loop
	m.ids.Store(rand.Uint64() >> 1)
	m.fwd.init(m, loop)
}

// deliver hands a membership frame from a transport goroutine to the
// forwarding part. The transport may deliver before the loop starts, so
// the loop is passed in rather than read from the feature.
func (m *membership) deliver(loop loopView, from uint64, b []byte) {
	m.fwd.deliver(loop, from, b)
}

// nextID is a fresh change or request id; any goroutine may call it.
func (m *membership) nextID() uint64 { return m.ids.Add(1) }

// Members returns the cluster's members as of this member's applied index,
// sorted by id.
func (n *Node) Members() []Member {
	return n.r.membership.list()
}

// list is Members.
func (m *membership) list() []Member {
	st := m.loop.published()
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

// changeConf runs op on id (see membership.change).
func (n *Node) changeConf(ctx context.Context, op wire.MemberOp, id uint64) error {
	if n.isClosed() {
		return ErrClosed
	}
	return n.r.membership.change(ctx, op, id)
}

// checkAdd is AddMember's check on the leader's loop.
func (m *membership) checkAdd(id uint64) error {
	if slices.Contains(m.loop.memberIDs(), id) {
		return fmt.Errorf("%w: %d", ErrMemberExists, id)
	}
	return nil
}

// checkPromote is PromoteMember's check on the leader's loop.
func (m *membership) checkPromote(id uint64) error {
	if !slices.Contains(m.loop.learners(), id) {
		return fmt.Errorf("%w: %d is not a learner", ErrUnknownMember, id)
	}
	var match uint64
	m.loop.withProgress(func(pid uint64, _ raft.ProgressType, pr tracker.Progress) {
		if pid == id {
			match = pr.Match
		}
	})
	t, heard := m.loop.lastHeard(id)
	if !heard || m.loop.now()-t > uint64(m.loop.config().electionTicks()) {
		return fmt.Errorf("%w: learner %d is not reachable", ErrUnsafeConfChange, id)
	}
	if commit := m.loop.commitIndex(); match+promoteLag < commit {
		return fmt.Errorf("%w: learner %d holds the log to %d, the leader committed %d", ErrUnsafeConfChange, id, match, commit)
	}
	return nil
}

// checkRemove is RemoveMember's check on the leader's loop.
func (m *membership) checkRemove(id uint64) error {
	if !slices.Contains(m.loop.memberIDs(), id) {
		return fmt.Errorf("%w: %d", ErrUnknownMember, id)
	}
	if id == m.loop.memberID() {
		return fmt.Errorf("%w: the leader cannot remove itself; transfer leadership first", ErrUnsafeConfChange)
	}
	voters := m.loop.voters()
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
	return n.r.membership.transfer(ctx, to)
}

// transfer is TransferLeadership.
func (m *membership) transfer(ctx context.Context, to uint64) error {
	errc := make(chan error, 1)
	ok := m.loop.onLoop(ctx, func() {
		lead := m.loop.leaderID()
		switch {
		case to == lead && lead != raft.None:
			errc <- nil
		case !slices.Contains(m.loop.voters(), to):
			errc <- fmt.Errorf("%w: %d is not a voter", ErrUnknownMember, to)
		case m.loop.leading():
			m.loop.transferLeader(to)
			errc <- nil
		case lead == raft.None:
			errc <- notLeader(lead)
		default:
			m.fwd.transferFrom(to)
			errc <- nil
		}
	})
	if !ok {
		return m.loopErr(ctx)
	}
	if err := <-errc; err != nil {
		return err
	}
	interval := m.loop.tickInterval()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	retry := time.Duration(2*m.loop.config().electionTicks()) * interval
	last := time.Now()
	for {
		st := m.loop.published()
		if st.Leader == to {
			return nil
		}
		if time.Since(last) > retry {
			// raft gives a transfer up after an election timeout; ask again.
			last = time.Now()
			m.loop.onLoop(ctx, func() {
				if m.loop.leading() {
					m.loop.transferLeader(to)
				} else {
					m.fwd.transferFrom(to)
				}
			})
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-m.loop.stopped():
			return m.loop.closedErr()
		}
	}
}

// change runs op on id: here if this member leads, else through the leader
// (membership_forward.go).
func (m *membership) change(ctx context.Context, op wire.MemberOp, id uint64) error {
	if id == 0 {
		return fmt.Errorf("%w: member id 0", ErrBadArguments)
	}
	if m.loop.published().Role == RoleLeader {
		err := m.changeHere(ctx, op, id)
		if !errors.Is(err, ErrNotLeader) {
			return err
		}
	}
	return m.fwd.forward(ctx, op, id)
}

// changeHere proposes op on id as one single-step configuration change
// once its check passes on the leader's loop, and waits for it to apply
// here. While the leader has not yet applied an entry of its own term it
// retries every tick (raft would silently drop the change meanwhile). Off
// the leader it returns ErrNotLeader, having done nothing.
func (m *membership) changeHere(ctx context.Context, op wire.MemberOp, id uint64) error {
	typ, check := confChange(op, id)
	for {
		errc := make(chan error, 1)
		var w *confWait
		ok := m.loop.onLoop(ctx, func() {
			var err error
			w, err = m.propose(id, typ, check, fwdKey{})
			errc <- err
		})
		if !ok {
			return m.loopErr(ctx)
		}
		err := <-errc
		if err == errConfNotReady {
			select {
			case <-time.After(m.loop.tickInterval()):
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
				m.waitPublished(ctx)
			}
			return err
		case <-ctx.Done():
			m.loop.onLoop(context.Background(), func() {
				if m.pending == w {
					m.pending = nil
				}
			})
			return fmt.Errorf("%w: %w", ErrIndeterminate, ctx.Err())
		case <-m.loop.stopped():
			select {
			case err := <-w.done:
				return err
			default:
			}
			return m.loop.stoppedErr()
		}
	}
}

// waitPublished returns once the loop has published the Status of the Ready
// it is handling (or ctx ends, or the loop stops): a change applied in that
// Ready, such as a membership change whose caller was just told, is then
// visible to Status and Members.
func (m *membership) waitPublished(ctx context.Context) {
	ran := make(chan struct{})
	if !m.loop.onLoop(ctx, func() { close(ran) }) {
		return
	}
	select {
	case <-ran:
	case <-ctx.Done():
	case <-m.loop.stopped():
	}
}

// errConfNotReady: the leader has not applied an entry of its term yet.
var errConfNotReady = fmt.Errorf("%w: leader not ready for a membership change", ErrConfChangeInProgress)

// loopErr is the error for a call whose function never reached the loop.
func (m *membership) loopErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return m.loop.closedErr()
}

func notLeader(lead uint64) error {
	return &NotLeaderError{Leader: lead}
}

// propose runs on the loop: it checks the leader can take the change now
// and proposes it. remote names the forwarded request it runs for, zero for
// a call made here.
func (m *membership) propose(id uint64, typ raftpb.ConfChangeType, check func(m *membership) error, remote fwdKey) (*confWait, error) {
	if !m.loop.leading() {
		return nil, notLeader(m.loop.leaderID())
	}
	if m.pending != nil {
		return nil, ErrConfChangeInProgress
	}
	if err := check(m); err != nil {
		return nil, err
	}
	// raft accepts one pending change and turns any other into an empty
	// entry; a new leader counts its whole log as possibly pending. Having
	// applied an entry of its own term with nothing of ours pending rules
	// both out.
	applied, term := m.loop.appliedIndex(), m.loop.currentTerm()
	if t, err := m.loop.termAt(applied); err != nil || t != term || applied < m.loop.commitIndex() {
		return nil, errConfNotReady
	}
	w := &confWait{id: m.nextID(), term: term, done: make(chan error, 1), remote: remote, tick: m.loop.now()}
	cc := &raftpb.ConfChangeV2{
		Changes: []*raftpb.ConfChangeSingle{{Type: typ.Enum(), NodeId: new(id)}},
		Context: wire.EncodeConfContext(w.id),
	}
	if err := m.loop.proposeConfChange(cc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoLeader, err)
	}
	m.pending = w
	return w, nil
}

// running reports whether the waiting change runs for forwarded request k.
func (m *membership) running(k fwdKey) bool {
	return m.pending != nil && m.pending.remote == k
}

// applied completes the waiting change whose context cc carries; the loop
// calls it for each configuration change it applies, at index.
func (m *membership) applied(index uint64, cc raftpb.ConfChangeI) {
	w := m.pending
	if w == nil {
		return
	}
	if id, err := wire.DecodeConfContext(cc.AsV2().GetContext()); err == nil && id == w.id {
		m.end(nil, index)
	}
}

// tick fails the waiting change once the term moved or this member stopped
// leading: it may or may not apply under the next leader. The loop calls it
// every tick.
func (m *membership) tick() {
	w := m.pending
	switch {
	case w == nil:
	case w.term != m.loop.currentTerm():
		m.fail(fmt.Errorf("%w: term moved from %d to %d during a membership change", ErrIndeterminate, w.term, m.loop.currentTerm()))
	case !m.loop.leading():
		m.fail(fmt.Errorf("%w: lost leadership during a membership change", ErrIndeterminate))
	case w.remote != (fwdKey{}) && m.loop.now()-w.tick > uint64(pendingTimeoutElections*m.loop.config().electionTicks()):
		// Nobody's context bounds a forwarded change; this does.
		m.fail(fmt.Errorf("%w: membership change not applied after %d ticks", ErrIndeterminate, m.loop.now()-w.tick))
	}
}

// stop fails the waiting change as the loop exits.
func (m *membership) stop() {
	m.fail(fmt.Errorf("%w: member %d closed during a membership change: %w", ErrIndeterminate, m.loop.memberID(), ErrClosed))
}

func (m *membership) fail(err error) {
	if m.pending != nil {
		m.end(err, 0)
	}
}

// end ends the waiting change with err (index: where it applied): its
// caller is told, or the member that forwarded it is sent the reply.
func (m *membership) end(err error, index uint64) {
	w := m.pending
	m.pending = nil
	w.done <- err
	if w.remote != (fwdKey{}) {
		m.fwd.reply(w.remote, err, true, index)
	}
}
