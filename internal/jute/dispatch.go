package jute

import "fmt"

// NewRequest returns an empty record of the request that follows a
// RequestHeader of type op, for Decode. ok is false for an op no client
// sends a request for. Ops whose request is the header alone (OpPing,
// OpCloseSession, OpWhoAmI) return a nil record and true.
func NewRequest(op OpCode) (req Record, ok bool) {
	switch op {
	case OpPing, OpCloseSession, OpWhoAmI:
		return nil, true
	case OpCreate, OpCreate2, OpCreateContainer:
		return new(CreateRequest), true
	case OpCreateTTL:
		return new(CreateTTLRequest), true
	case OpDelete:
		return new(PathVersionRecord), true
	case OpDeleteContainer, OpSync, OpGetACL, OpGetAllChildrenNumber, OpGetEphemerals:
		return new(PathRecord), true
	case OpExists, OpGetData, OpGetChildren, OpGetChildren2:
		return new(PathWatchRecord), true
	case OpSetData:
		return new(SetDataRequest), true
	case OpSetACL:
		return new(SetACLRequest), true
	case OpMulti, OpMultiRead:
		return new(MultiRequest), true
	case OpReconfig:
		return new(ReconfigRequest), true
	case OpCheckWatches, OpRemoveWatches:
		return new(WatchesRecord), true
	case OpAddWatch:
		return new(AddWatchRequest), true
	case OpAuth:
		return new(AuthPacket), true
	case OpSetWatches:
		return new(SetWatches), true
	case OpSetWatches2:
		return new(SetWatches2), true
	case OpSASL:
		return new(GetSASLRequest), true
	}
	return nil, false
}

// NewResponse returns an empty record of the reply body ZooKeeper sends
// after a ReplyHeader with Err CodeOK for a request of type op
// (FinalRequestProcessor, release-3.9.5). ok is false for an unknown op.
// Ops answered by the header alone (delete, setWatches, ping, auth,
// closeSession, checkWatches, removeWatches, …) return a nil record and
// true. A reply whose Err is not CodeOK is always the header alone.
func NewResponse(op OpCode) (resp Record, ok bool) {
	switch op {
	case OpPing, OpCloseSession, OpDelete, OpDeleteContainer, OpCheckWatches, OpRemoveWatches,
		OpAuth, OpSetWatches, OpSetWatches2:
		return nil, true
	case OpCreate, OpSync:
		return new(PathRecord), true
	case OpCreate2, OpCreateContainer, OpCreateTTL:
		return new(Create2Response), true
	case OpExists, OpSetData, OpSetACL:
		return new(StatRecord), true
	case OpGetData, OpReconfig:
		return new(GetDataResponse), true
	case OpGetACL:
		return new(GetACLResponse), true
	case OpGetChildren:
		return new(GetChildrenResponse), true
	case OpGetChildren2:
		return new(GetChildren2Response), true
	case OpMulti, OpMultiRead:
		return new(MultiResponse), true
	case OpGetAllChildrenNumber:
		return new(GetAllChildrenNumberResponse), true
	case OpGetEphemerals:
		return new(GetEphemeralsResponse), true
	case OpAddWatch:
		return new(ErrorResponse), true
	case OpWhoAmI:
		return new(WhoAmIResponse), true
	case OpSASL:
		return new(SetSASLResponse), true
	}
	return nil, false
}

// DecodeRequest decodes the request record for op from d, which has just
// read the packet's RequestHeader, and returns it (nil for an op whose
// request is the header alone). An op with no request record returns
// ErrUnknownOp; bytes that are not the record, an error matching
// ErrMalformed. A multi under OpMulti must hold writes and one under
// OpMultiRead reads. Bytes after the record are left in d, as ZooKeeper
// leaves them; call d.End to refuse them.
//
// ZooKeeper answers a request whose record does not decode with
// MARSHALLINGERROR (−5) and keeps the connection (PrepRequestProcessor and
// FinalRequestProcessor, release-3.9.5), except an auth or sasl packet,
// which it reads itself and closes the connection on
// (ZooKeeperServer.processPacket).
func DecodeRequest(d *Decoder, op OpCode) (Record, error) {
	req, ok := NewRequest(op)
	if !ok {
		return nil, fmt.Errorf("%w: %v", ErrUnknownOp, op)
	}
	if req == nil {
		return nil, d.Err()
	}
	d.Decode(req)
	if m, ok := req.(*MultiRequest); ok && d.Err() == nil && len(m.Ops) > 0 {
		if _, read, _ := newMultiOp(m.Ops[0].Type); read != (op == OpMultiRead) {
			d.Failf("%v holds %v", op, m.Ops[0].Type)
		}
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	return req, nil
}
