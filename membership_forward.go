package keeper

// This file lets AddMember, PromoteMember, RemoveMember and
// TransferLeadership run on any member: a member that does not lead sends
// the request to the leader it knows over the Transport, as a small frame
// beside the raft messages, and waits for the leader's reply.
//
// The request and reply travel as membership frames (wire.MemberFrame,
// internal/wire/memberframe.go): a transport frame whose cluster id is
// followed by wire.MemberFrameMarker. A reply's index is the log index at
// which the change applied (0 for a refusal); the requester returns once it
// applied that index itself. The request id is the requester's next
// change id (membership.nextID, random per Open), so it is unique per
// requester; the leader keys requests by (requester, request id).
//
// The Transport may drop, duplicate and reorder frames. The requester
// resends the same request every election timeout until a reply comes. The
// leader runs a request once: a duplicate of the request it is running gets
// nothing (the reply comes when the change applies or fails), one of a
// request it finished recently gets the same reply again (the last
// fwdResultCache results are kept). The leader checks its records before it
// checks that it leads, so a member that proposed a change and then lost
// leadership answers with the change's outcome (ErrIndeterminate), not with
// ErrNotLeader.
//
// A reply's code names the sentinel error; the requester rebuilds an error
// that matches it with errors.Is and carries the leader's text. ErrNotLeader
// replies name the leader, and the requester follows them.
//
// TransferLeadership needs no reply: the requester sends a transfer request
// (raft's own forwarding of MsgTransferLeader cannot be used: it carries the
// transferee as sender, which deliver rejects as a spoofed frame) and
// watches its own Status for the new leader.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/keeper-go/keeper/internal/wire"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// fwdResultCache is how many finished requests the leader remembers.
const fwdResultCache = 64

// fwdReplyQueue is how many replies a waiting requester buffers.
const fwdReplyQueue = 8

// codeErrors maps each reply code but wire.ReplyOK and wire.ReplyOther to
// its sentinel.
var codeErrors = [...]error{
	wire.ReplyNotLeader:     ErrNotLeader,
	wire.ReplyMemberExists:  ErrMemberExists,
	wire.ReplyUnknownMember: ErrUnknownMember,
	wire.ReplyUnsafe:        ErrUnsafeConfChange,
	wire.ReplyInProgress:    ErrConfChangeInProgress,
	wire.ReplyIndeterminate: ErrIndeterminate,
	wire.ReplyBadArguments:  ErrBadArguments,
	wire.ReplyNoLeader:      ErrNoLeader,
	wire.ReplyNotReady:      ErrConfChangeInProgress,
	wire.ReplyOther:         nil,
}

// codeOf is the reply code for err. The order matters where one error
// matches two sentinels: errConfNotReady matches ErrConfChangeInProgress,
// an indeterminate outcome may wrap ErrClosed.
func codeOf(err error) wire.ReplyCode {
	switch {
	case err == nil:
		return wire.ReplyOK
	case errors.Is(err, errConfNotReady):
		return wire.ReplyNotReady
	case errors.Is(err, ErrIndeterminate):
		return wire.ReplyIndeterminate
	}
	for code, sentinel := range codeErrors {
		if sentinel != nil && wire.ReplyCode(code) != wire.ReplyNotReady && errors.Is(err, sentinel) {
			return wire.ReplyCode(code)
		}
	}
	return wire.ReplyOther
}

// remoteError is an error the leader returned to a forwarded request: its
// text is the leader's, and it matches the same sentinel.
type remoteError struct {
	sentinel error
	text     string
}

func (e *remoteError) Error() string { return e.text }
func (e *remoteError) Unwrap() error { return e.sentinel }

// replyErr rebuilds the error a reply carries, nil for success.
func replyErr(f wire.MemberFrame) error {
	if f.Code == wire.ReplyOK {
		return nil
	}
	text := f.Text
	if text == "" {
		text = "keeper: membership change refused by the leader"
	}
	return &remoteError{sentinel: codeErrors[f.Code], text: text}
}

// fwdKey names a forwarded request on the leader.
type fwdKey struct{ from, id uint64 }

// fwdState is the loop-owned state of forwarded requests on the leader:
// the recent results, oldest first in order.
type fwdState struct {
	done  map[fwdKey]wire.MemberFrame
	order []fwdKey
}

// remember records a finished request's reply, forgetting the oldest
// beyond fwdResultCache.
func (s *fwdState) remember(k fwdKey, reply wire.MemberFrame) {
	if s.done == nil {
		s.done = make(map[fwdKey]wire.MemberFrame)
	}
	if _, ok := s.done[k]; !ok {
		if len(s.order) == fwdResultCache {
			delete(s.done, s.order[0])
			s.order = slices.Delete(s.order, 0, 1)
		}
		s.order = append(s.order, k)
	}
	s.done[k] = reply
}

// forwarding is the forwarding part of the membership feature: on the
// leader, the requests other members forwarded to it; on any member, its
// own calls waiting for the leader's reply. finished is loop-owned; waits is
// guarded by mu, as transport goroutines hand it replies.
type forwarding struct {
	m        *membership
	loop     loopView
	finished fwdState // the leader's record of requests it finished

	mu    sync.Mutex
	waits map[uint64]chan fwdReply // request id -> its waiting call
}

// init ties the forwarding to its feature and the loop; membership.init
// calls it.
func (f *forwarding) init(m *membership, loop loopView) {
	f.m, f.loop = m, loop
}

// confChange is an operation's raft change type and the check that must
// pass on the leader's loop before it is proposed. Local and forwarded calls
// both take them from here.
func confChange(op wire.MemberOp, id uint64) (typ raftpb.ConfChangeType, check func(m *membership) error) {
	switch op {
	case wire.MemberAddLearner:
		return raftpb.ConfChangeType_ConfChangeAddLearnerNode, func(m *membership) error { return m.checkAdd(id) }
	case wire.MemberAddVoter:
		return raftpb.ConfChangeType_ConfChangeAddNode, func(m *membership) error { return m.checkAdd(id) }
	case wire.MemberPromote:
		return raftpb.ConfChangeType_ConfChangeAddNode, func(m *membership) error { return m.checkPromote(id) }
	default:
		return raftpb.ConfChangeType_ConfChangeRemoveNode, func(m *membership) error { return m.checkRemove(id) }
	}
}

// deliver handles a membership frame (b starts at the marker) from a
// transport goroutine: a reply goes to its waiting caller, a request to the
// loop. Either is dropped if nobody can take it now; the requester resends.
func (f *forwarding) deliver(loop loopView, from uint64, b []byte) {
	fr, err := wire.DecodeMemberFrame(b)
	if err != nil {
		loop.logger().Warn("dropping membership frame", "from", from, "err", err)
		return
	}
	if fr.Kind == wire.MemberReply {
		f.toWaiter(from, fr)
		return
	}
	loop.tryOnLoop(func() { f.serve(from, fr) })
}

// toWaiter hands reply f to the call waiting for it, if any and if it has
// room.
func (f *forwarding) toWaiter(from uint64, reply wire.MemberFrame) {
	f.mu.Lock()
	ch := f.waits[reply.ID]
	f.mu.Unlock()
	if ch != nil {
		select {
		case ch <- fwdReply{from: from, frame: reply}:
		default:
		}
	}
}

// fwdReply is a reply as a waiting requester receives it.
type fwdReply struct {
	from  uint64
	frame wire.MemberFrame
}

// serve runs a forwarded request on the loop.
func (f *forwarding) serve(from uint64, q wire.MemberFrame) {
	if q.Op == wire.MemberTransfer {
		if f.loop.leading() && q.Target != f.loop.memberID() && slices.Contains(f.loop.voters(), q.Target) {
			f.loop.transferLeader(q.Target)
		}
		return
	}
	k := fwdKey{from, q.ID}
	if f.m.running(k) {
		return // running: the reply comes when it ends
	}
	if reply, ok := f.finished.done[k]; ok {
		f.loop.sendMemberFrame(from, reply)
		return
	}
	if !f.loop.leading() {
		f.reply(k, notLeader(f.loop.leaderID()), false, 0)
		return
	}
	if q.Target == 0 {
		f.reply(k, fmt.Errorf("%w: member id 0", ErrBadArguments), true, 0)
		return
	}
	typ, check := confChange(q.Op, q.Target)
	if _, err := f.m.propose(q.Target, typ, check, k); err != nil {
		// A leader not ready yet is asked again; anything else is final.
		f.reply(k, err, err != errConfNotReady, 0)
	}
}

// reply sends the reply to forwarded request k (index: where the change
// applied) and, if final, keeps it for a duplicate of the request.
func (f *forwarding) reply(k fwdKey, err error, final bool, index uint64) {
	reply := wire.MemberFrame{Kind: wire.MemberReply, ID: k.id, Code: codeOf(err), Index: index}
	if err != nil {
		reply.Text = err.Error()
	}
	if reply.Code == wire.ReplyNotLeader {
		reply.Leader = f.loop.leaderID()
	}
	if final {
		f.finished.remember(k, reply)
	}
	f.loop.sendMemberFrame(k.from, reply)
}

// wait registers a call waiting for the replies to request id; the
// returned function ends the wait.
func (f *forwarding) wait(id uint64) (<-chan fwdReply, func()) {
	replies := make(chan fwdReply, fwdReplyQueue)
	f.mu.Lock()
	if f.waits == nil {
		f.waits = make(map[uint64]chan fwdReply)
	}
	f.waits[id] = replies
	f.mu.Unlock()
	return replies, func() {
		f.mu.Lock()
		delete(f.waits, id)
		f.mu.Unlock()
	}
}

// forward runs a membership change on the leader from a member that does
// not lead (see the file comment). sent records the members the request
// went to that may have proposed it: a refusal saying the change is already
// in place, from another member, then means the change may have applied
// under the first one, so the call reports ErrIndeterminate.
func (f *forwarding) forward(ctx context.Context, op wire.MemberOp, id uint64) error {
	self := f.loop.memberID()
	reqID := f.m.nextID()
	replies, done := f.wait(reqID)
	defer done()
	interval := f.loop.tickInterval()
	election := time.Duration(f.loop.config().electionTicks()) * interval
	noLeaderSince := time.Now()
	sent := map[uint64]bool{}
	var target, hint, hintFrom uint64
	wait := time.NewTimer(0)
	defer wait.Stop()
	for {
		select {
		case <-wait.C:
			target = f.loop.published().Leader
			if hint != raft.None && (target == raft.None || target == hintFrom) {
				// A member this one still takes for the leader named another.
				target = hint
			}
			hint, hintFrom = raft.None, raft.None
			if target != raft.None {
				noLeaderSince = time.Now()
			}
			switch {
			case target == self:
				// This member leads now: run the change here.
				err := f.m.changeHere(ctx, op, id)
				if errors.Is(err, ErrNotLeader) {
					wait.Reset(interval)
					continue
				}
				return f.settle(ctx, op, id, sent, self, 0, err)
			case target == raft.None:
				if len(sent) == 0 && time.Since(noLeaderSince) > election {
					return fmt.Errorf("%w: membership change not sent", ErrNoLeader)
				}
				wait.Reset(interval)
				continue
			}
			f.loop.sendMemberFrame(target, wire.MemberFrame{Kind: wire.MemberRequest, ID: reqID, Op: op, Target: id})
			sent[target] = true
			wait.Reset(election)
		case rep := <-replies:
			fr := rep.frame
			switch fr.Code {
			case wire.ReplyNotLeader:
				// It has no record of the request, so it never proposed it.
				delete(sent, rep.from)
				if fr.Leader != rep.from {
					hint, hintFrom = fr.Leader, rep.from
				}
				stopTimer(wait)
				wait.Reset(interval)
			case wire.ReplyNotReady:
				stopTimer(wait)
				wait.Reset(interval)
			default:
				return f.settle(ctx, op, id, sent, rep.from, fr.Index, replyErr(fr))
			}
		case <-ctx.Done():
			if len(sent) > 0 {
				return fmt.Errorf("%w: %w", ErrIndeterminate, ctx.Err())
			}
			return ctx.Err()
		case <-f.loop.stopped():
			if len(sent) > 0 {
				return f.loop.stoppedErr()
			}
			return f.loop.closedErr()
		}
	}
}

// stopTimer stops t and drains its channel, so Reset starts afresh.
func stopTimer(t *time.Timer) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
}

// settle turns the leader's answer to a forwarded change into the call's
// result. A success waits until this member applied index, where the
// change applied, so Members here shows it (if ctx ends first the call
// still returns nil: the change applied on the leader). A refusal saying
// the change is already in place, given while another member that may have
// proposed it had the request, is indeterminate.
func (f *forwarding) settle(ctx context.Context, op wire.MemberOp, id uint64, sent map[uint64]bool, from, index uint64, err error) error {
	if err != nil {
		if !alreadyDone(op, err) {
			return err
		}
		for m := range sent {
			if m != from {
				return fmt.Errorf("%w: the change may have applied under leader %d: %w", ErrIndeterminate, m, err)
			}
		}
		return err
	}
	if op == wire.MemberRemove && id == f.loop.memberID() {
		return nil // a removed member may never learn its removal
	}
	tick := time.NewTicker(f.loop.tickInterval())
	defer tick.Stop()
	for uint64(f.loop.published().Applied) < index {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return nil
		case <-f.loop.stopped():
			return nil
		}
	}
	return nil
}

// alreadyDone reports whether err is op's refusal for a change already in
// place: adding a member, removing or promoting a non-member (or a voter).
func alreadyDone(op wire.MemberOp, err error) bool {
	switch op {
	case wire.MemberAddLearner, wire.MemberAddVoter:
		return errors.Is(err, ErrMemberExists)
	case wire.MemberPromote, wire.MemberRemove:
		return errors.Is(err, ErrUnknownMember)
	}
	return false
}

// transferFrom asks the leader to hand leadership to to, from a member that
// does not lead; TransferLeadership calls it again while it waits. It runs
// on the loop.
func (f *forwarding) transferFrom(to uint64) {
	if lead := f.loop.leaderID(); lead != raft.None && lead != f.loop.memberID() {
		f.loop.sendMemberFrame(lead, wire.MemberFrame{Kind: wire.MemberRequest, ID: f.m.nextID(), Op: wire.MemberTransfer, Target: to})
	}
}
