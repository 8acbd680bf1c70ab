package keeper

// This file lets AddMember, PromoteMember, RemoveMember and
// TransferLeadership run on any member: a member that does not lead sends
// the request to the leader it knows over the Transport, as a small frame
// beside the raft messages, and waits for the leader's reply.
//
// A membership frame is the cluster id (8 bytes, big-endian), the marker
// byte 0x00 (a marshalled raft message never starts with it: field 0 is not
// a valid protobuf tag), a kind byte, a version byte and a fixed body:
//
//	request: request id (8) | op (1) | target member id (8)
//	reply:   request id (8) | code (1) | leader id (8) | index (8) | text length (2) | text
//
// A reply's index is the log index at which the change applied (0 for a
// refusal); the requester returns once it applied that index itself.
//
// All integers are big-endian. The request id is the requester's next
// sequence number (replica.seq, random per Open), so it is unique per
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
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// memberMarker follows the cluster id in a membership frame.
const memberMarker = 0x00

// memberFrameVersion follows the kind byte.
const memberFrameVersion = 1

// Kinds of membership frames.
const (
	memberKindRequest = 1
	memberKindReply   = 2
)

// Lengths of membership frames, counted from the marker.
const (
	memberRequestLen = 1 + 1 + 1 + 8 + 1 + 8
	memberReplyHead  = 1 + 1 + 1 + 8 + 1 + 8 + 8 + 2
	// maxReplyText bounds a reply's error text; longer texts are cut.
	maxReplyText = 512
)

// fwdResultCache is how many finished requests the leader remembers.
const fwdResultCache = 64

// fwdReplyQueue is how many replies a waiting requester buffers.
const fwdReplyQueue = 8

// errBadMemberFrame reports a membership frame that cannot be decoded.
var errBadMemberFrame = fmt.Errorf("keeper: bad membership frame: %w", ErrCorrupt)

// confOp is a membership operation.
type confOp uint8

const (
	opAddLearner confOp = 1
	opAddVoter   confOp = 2
	opPromote    confOp = 3
	opRemove     confOp = 4
	opTransfer   confOp = 5
)

func (op confOp) String() string {
	switch op {
	case opAddLearner:
		return "add learner"
	case opAddVoter:
		return "add voter"
	case opPromote:
		return "promote"
	case opRemove:
		return "remove"
	case opTransfer:
		return "transfer leadership"
	}
	return fmt.Sprintf("confOp(%d)", uint8(op))
}

// Reply codes: 0 is success, one code per sentinel error.
const (
	codeOK            = 0
	codeNotLeader     = 1 // ErrNotLeader; the reply names the leader
	codeMemberExists  = 2
	codeUnknownMember = 3
	codeUnsafe        = 4
	codeInProgress    = 5 // ErrConfChangeInProgress: another change is pending
	codeIndeterminate = 6
	codeBadArguments  = 7
	codeNoLeader      = 8
	codeNotReady      = 9 // the leader has not applied an entry of its term; resend
	codeOther         = 10
	maxCode           = codeOther
)

// codeErrors maps each code but codeOK and codeOther to its sentinel.
var codeErrors = [...]error{
	codeNotLeader:     ErrNotLeader,
	codeMemberExists:  ErrMemberExists,
	codeUnknownMember: ErrUnknownMember,
	codeUnsafe:        ErrUnsafeConfChange,
	codeInProgress:    ErrConfChangeInProgress,
	codeIndeterminate: ErrIndeterminate,
	codeBadArguments:  ErrBadArguments,
	codeNoLeader:      ErrNoLeader,
	codeNotReady:      ErrConfChangeInProgress,
	codeOther:         nil,
}

// codeOf is the reply code for err. The order matters where one error
// matches two sentinels: errConfNotReady matches ErrConfChangeInProgress,
// an indeterminate outcome may wrap ErrClosed.
func codeOf(err error) uint8 {
	switch {
	case err == nil:
		return codeOK
	case errors.Is(err, errConfNotReady):
		return codeNotReady
	case errors.Is(err, ErrIndeterminate):
		return codeIndeterminate
	}
	for code, sentinel := range codeErrors {
		if sentinel != nil && code != codeNotReady && errors.Is(err, sentinel) {
			return uint8(code)
		}
	}
	return codeOther
}

// memberFrame is a decoded membership frame (after the cluster id).
type memberFrame struct {
	kind uint8
	id   uint64 // request id
	// request
	op     confOp
	target uint64
	// reply
	code   uint8
	leader uint64
	index  uint64 // where the change applied
	text   string
}

// encodeMemberFrame returns the frame for f, prefixed with clusterID.
func encodeMemberFrame(clusterID uint64, f memberFrame) []byte {
	b := make([]byte, 0, 8+memberReplyHead+len(f.text))
	b = binary.BigEndian.AppendUint64(b, clusterID)
	b = append(b, memberMarker, f.kind, memberFrameVersion)
	b = binary.BigEndian.AppendUint64(b, f.id)
	if f.kind == memberKindRequest {
		b = append(b, byte(f.op))
		return binary.BigEndian.AppendUint64(b, f.target)
	}
	text := f.text
	if len(text) > maxReplyText {
		text = text[:maxReplyText]
	}
	b = append(b, f.code)
	b = binary.BigEndian.AppendUint64(b, f.leader)
	b = binary.BigEndian.AppendUint64(b, f.index)
	b = binary.BigEndian.AppendUint16(b, uint16(len(text)))
	return append(b, text...)
}

// decodeMemberFrame decodes b, a frame without its cluster id (b starts at
// the marker). It returns an error matching errBadMemberFrame for anything
// encodeMemberFrame would not produce.
func decodeMemberFrame(b []byte) (memberFrame, error) {
	var f memberFrame
	if len(b) < 3 || b[0] != memberMarker {
		return f, fmt.Errorf("%w: no marker", errBadMemberFrame)
	}
	if b[2] != memberFrameVersion {
		return f, fmt.Errorf("%w: version %d", errBadMemberFrame, b[2])
	}
	f.kind = b[1]
	switch f.kind {
	case memberKindRequest:
		if len(b) != memberRequestLen {
			return f, fmt.Errorf("%w: request of %d bytes", errBadMemberFrame, len(b))
		}
		f.id = binary.BigEndian.Uint64(b[3:])
		f.op = confOp(b[11])
		f.target = binary.BigEndian.Uint64(b[12:])
		if f.op < opAddLearner || f.op > opTransfer {
			return f, fmt.Errorf("%w: op %d", errBadMemberFrame, f.op)
		}
	case memberKindReply:
		if len(b) < memberReplyHead {
			return f, fmt.Errorf("%w: reply of %d bytes", errBadMemberFrame, len(b))
		}
		f.id = binary.BigEndian.Uint64(b[3:])
		f.code = b[11]
		f.leader = binary.BigEndian.Uint64(b[12:])
		f.index = binary.BigEndian.Uint64(b[20:])
		n := int(binary.BigEndian.Uint16(b[28:]))
		if f.code > maxCode {
			return f, fmt.Errorf("%w: code %d", errBadMemberFrame, f.code)
		}
		if n > maxReplyText || len(b) != memberReplyHead+n {
			return f, fmt.Errorf("%w: text of %d bytes in a reply of %d", errBadMemberFrame, n, len(b))
		}
		f.text = string(b[memberReplyHead:])
	default:
		return f, fmt.Errorf("%w: kind %d", errBadMemberFrame, f.kind)
	}
	return f, nil
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
func (f memberFrame) replyErr() error {
	if f.code == codeOK {
		return nil
	}
	text := f.text
	if text == "" {
		text = "keeper: membership change refused by the leader"
	}
	return &remoteError{sentinel: codeErrors[f.code], text: text}
}

// fwdKey names a forwarded request on the leader.
type fwdKey struct{ from, id uint64 }

// fwdState is the loop-owned state of forwarded requests on the leader:
// the recent results, oldest first in order.
type fwdState struct {
	done  map[fwdKey]memberFrame
	order []fwdKey
}

// remember records a finished request's reply, forgetting the oldest
// beyond fwdResultCache.
func (s *fwdState) remember(k fwdKey, reply memberFrame) {
	if s.done == nil {
		s.done = make(map[fwdKey]memberFrame)
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

// confChange is an operation's raft change type and the check that must
// pass on the leader's loop before it is proposed. Local and forwarded calls
// both take them from here.
func confChange(op confOp, id uint64) (typ raftpb.ConfChangeType, check func(r *replica) error) {
	switch op {
	case opAddLearner:
		return raftpb.ConfChangeType_ConfChangeAddLearnerNode, func(r *replica) error { return r.checkAdd(id) }
	case opAddVoter:
		return raftpb.ConfChangeType_ConfChangeAddNode, func(r *replica) error { return r.checkAdd(id) }
	case opPromote:
		return raftpb.ConfChangeType_ConfChangeAddNode, func(r *replica) error { return r.checkPromote(id) }
	default:
		return raftpb.ConfChangeType_ConfChangeRemoveNode, func(r *replica) error { return r.checkRemove(id) }
	}
}

// deliverMember handles a membership frame (b starts at the marker) from a
// transport goroutine: a reply goes to its waiting caller, a request to the
// loop. Either is dropped if nobody can take it now; the requester resends.
func (r *replica) deliverMember(from uint64, b []byte) {
	f, err := decodeMemberFrame(b)
	if err != nil {
		r.log.Warn("dropping membership frame", "from", from, "err", err)
		return
	}
	if f.kind == memberKindReply {
		r.fwdMu.Lock()
		ch := r.fwdWaits[f.id]
		r.fwdMu.Unlock()
		if ch != nil {
			select {
			case ch <- fwdReply{from: from, frame: f}:
			default:
			}
		}
		return
	}
	select {
	case r.callc <- func() { r.serveConf(from, f) }:
	default:
	}
}

// fwdReply is a reply as a waiting requester receives it.
type fwdReply struct {
	from  uint64
	frame memberFrame
}

// serveConf runs a forwarded request on the loop.
func (r *replica) serveConf(from uint64, q memberFrame) {
	if q.op == opTransfer {
		if r.role == raft.StateLeader && q.target != r.id && slices.Contains(r.conf.GetVoters(), q.target) {
			r.rn.TransferLeader(q.target)
		}
		return
	}
	k := fwdKey{from, q.id}
	if w := r.cons.conf; w != nil && w.remote == k {
		return // running: the reply comes when it ends
	}
	if reply, ok := r.fwd.done[k]; ok {
		r.tr.Send(from, encodeMemberFrame(r.clusterID, reply))
		return
	}
	if r.role != raft.StateLeader {
		r.replyConf(k, notLeader(r.lead), false, 0)
		return
	}
	if q.target == 0 {
		r.replyConf(k, fmt.Errorf("%w: member id 0", ErrBadArguments), true, 0)
		return
	}
	typ, check := confChange(q.op, q.target)
	w, err := r.proposeConf(q.target, typ, check)
	if err != nil {
		// A leader not ready yet is asked again; anything else is final.
		r.replyConf(k, err, err != errConfNotReady, 0)
		return
	}
	w.remote = k
	w.tick = r.ticks
}

// replyConf sends the reply to forwarded request k (index: where the change
// applied) and, if final, keeps it for a duplicate of the request.
func (r *replica) replyConf(k fwdKey, err error, final bool, index uint64) {
	reply := memberFrame{kind: memberKindReply, id: k.id, code: codeOf(err), index: index}
	if err != nil {
		reply.text = err.Error()
	}
	if reply.code == codeNotLeader {
		reply.leader = r.lead
	}
	if final {
		r.fwd.remember(k, reply)
	}
	r.tr.Send(k.from, encodeMemberFrame(r.clusterID, reply))
}

// forwardConf runs a membership change on the leader from a member that
// does not lead (see the file comment). sent records the members the
// request went to that may have proposed it: a refusal saying the change is
// already in place, from another member, then means the change may have
// applied under the first one, so the call reports ErrIndeterminate.
func (n *Node) forwardConf(ctx context.Context, op confOp, id uint64) error {
	r := n.r
	reqID := r.seq.Add(1)
	replies := make(chan fwdReply, fwdReplyQueue)
	r.fwdMu.Lock()
	if r.fwdWaits == nil {
		r.fwdWaits = make(map[uint64]chan fwdReply)
	}
	r.fwdWaits[reqID] = replies
	r.fwdMu.Unlock()
	defer func() {
		r.fwdMu.Lock()
		delete(r.fwdWaits, reqID)
		r.fwdMu.Unlock()
	}()
	election := time.Duration(r.cfg.electionTicks()) * r.ticker
	noLeaderSince := time.Now()
	sent := map[uint64]bool{}
	var target, hint, hintFrom uint64
	wait := time.NewTimer(0)
	defer wait.Stop()
	for {
		select {
		case <-wait.C:
			target = r.status.Load().Leader
			if hint != raft.None && (target == raft.None || target == hintFrom) {
				// A member this one still takes for the leader named another.
				target = hint
			}
			hint, hintFrom = raft.None, raft.None
			if target != raft.None {
				noLeaderSince = time.Now()
			}
			switch {
			case target == r.id:
				// This member leads now: run the change here.
				err := n.changeConfHere(ctx, op, id)
				if errors.Is(err, ErrNotLeader) {
					wait.Reset(r.ticker)
					continue
				}
				return n.settleConf(ctx, op, id, sent, r.id, 0, err)
			case target == raft.None:
				if len(sent) == 0 && time.Since(noLeaderSince) > election {
					return fmt.Errorf("%w: membership change not sent", ErrNoLeader)
				}
				wait.Reset(r.ticker)
				continue
			}
			r.tr.Send(target, encodeMemberFrame(r.clusterID, memberFrame{kind: memberKindRequest, id: reqID, op: op, target: id}))
			sent[target] = true
			wait.Reset(election)
		case rep := <-replies:
			f := rep.frame
			switch f.code {
			case codeNotLeader:
				// It has no record of the request, so it never proposed it.
				delete(sent, rep.from)
				if f.leader != rep.from {
					hint, hintFrom = f.leader, rep.from
				}
				stopTimer(wait)
				wait.Reset(r.ticker)
			case codeNotReady:
				stopTimer(wait)
				wait.Reset(r.ticker)
			default:
				return n.settleConf(ctx, op, id, sent, rep.from, f.index, f.replyErr())
			}
		case <-ctx.Done():
			if len(sent) > 0 {
				return fmt.Errorf("%w: %w", ErrIndeterminate, ctx.Err())
			}
			return ctx.Err()
		case <-r.donec:
			if len(sent) > 0 {
				return r.stoppedErr()
			}
			return r.closedErr()
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

// settleConf turns the leader's answer to a forwarded change into the
// call's result. A success waits until this member applied index, where
// the change applied, so Members here shows it (if ctx ends first the call
// still returns nil: the change applied on the leader). A refusal saying
// the change is already in place, given while another member that may have
// proposed it had the request, is indeterminate.
func (n *Node) settleConf(ctx context.Context, op confOp, id uint64, sent map[uint64]bool, from, index uint64, err error) error {
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
	if op == opRemove && id == n.r.id {
		return nil // a removed member may never learn its removal
	}
	tick := time.NewTicker(n.r.ticker)
	defer tick.Stop()
	for n.r.status.Load().Applied < index {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return nil
		case <-n.r.donec:
			return nil
		}
	}
	return nil
}

// alreadyDone reports whether err is op's refusal for a change already in
// place: adding a member, removing or promoting a non-member (or a voter).
func alreadyDone(op confOp, err error) bool {
	switch op {
	case opAddLearner, opAddVoter:
		return errors.Is(err, ErrMemberExists)
	case opPromote, opRemove:
		return errors.Is(err, ErrUnknownMember)
	}
	return false
}

// transferFrom asks the leader to hand leadership to to, from a member that
// does not lead; TransferLeadership calls it again while it waits.
func (r *replica) transferFrom(to uint64) {
	if r.lead != raft.None && r.lead != r.id {
		r.tr.Send(r.lead, encodeMemberFrame(r.clusterID, memberFrame{kind: memberKindRequest, id: r.seq.Add(1), op: opTransfer, target: to}))
	}
}
