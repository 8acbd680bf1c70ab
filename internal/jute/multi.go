package jute

// MultiHeader precedes each op of a multi request and each result of its
// reply; one with Done set ends the list. In a request, ZooKeeper writes
// {type, false, −1} before each op and {−1, true, −1} at the end; in a
// reply, {type, false, 0} before each result, {OpError, false, code} before
// a failed op's ErrorResponse, and {−1, true, −1} at the end
// (MultiOperationRecord.java, MultiResponse.java, release-3.9.5).
type MultiHeader struct {
	Type OpCode
	Done bool
	Err  Code
}

// encodeMultiEnd appends the header that ends a multi's list.
func encodeMultiEnd(e *Encoder) {
	h := MultiHeader{Type: -1, Done: true, Err: -1}
	h.Encode(e)
}

// Encode appends type, done and err.
func (r *MultiHeader) Encode(e *Encoder) {
	e.Int32(int32(r.Type))
	e.Bool(r.Done)
	e.Int32(int32(r.Err))
}

// Decode reads type, done and err.
func (r *MultiHeader) Decode(d *Decoder) {
	r.Type = OpCode(d.Int32())
	r.Done = d.Bool()
	r.Err = Code(d.Int32())
}

// MultiOp is one op of a MultiRequest: its type and its request record.
type MultiOp struct {
	Type    OpCode
	Request Record
}

// MultiRequest is the request of OpMulti (3.4: create, create2,
// createContainer, createTTL, delete, setData, check, applied atomically)
// and of OpMultiRead (3.6: getChildren, getData, each answered on its own).
// One record holds ops of one kind: a mix of reads and writes is refused, as
// ZooKeeper refuses it ("Mixing different kind of ops").
type MultiRequest struct {
	Ops []MultiOp
}

// Encode appends a MultiHeader {type, false, −1} and the request of each
// op, then the end header {−1, true, −1}.
func (r *MultiRequest) Encode(e *Encoder) {
	for _, op := range r.Ops {
		h := MultiHeader{Type: op.Type, Err: -1}
		h.Encode(e)
		op.Request.Encode(e)
	}
	encodeMultiEnd(e)
}

// Decode reads headers and requests up to a header with done set (whose
// type and err, like ZooKeeper, it does not check). An op type that may not
// stand in a multi, or a mix of reads and writes, is an error.
func (r *MultiRequest) Decode(d *Decoder) {
	r.Ops = nil
	var h MultiHeader
	h.Decode(d)
	read := false
	for d.Err() == nil && !h.Done {
		req, isRead, ok := newMultiOp(h.Type)
		switch {
		case !ok:
			d.Failf("op type %d in a multi", int32(h.Type))
			return
		case len(r.Ops) > 0 && isRead != read:
			d.Failf("a multi mixes reads and writes")
			return
		}
		read = isRead
		req.Decode(d)
		r.Ops = append(r.Ops, MultiOp{Type: h.Type, Request: req})
		h.Decode(d)
	}
}

// newMultiOp returns an empty request record for an op that may stand in a
// multi, and whether it is a read.
func newMultiOp(op OpCode) (req Record, read, ok bool) {
	switch op {
	case OpCreate, OpCreate2, OpCreateContainer:
		return new(CreateRequest), false, true
	case OpCreateTTL:
		return new(CreateTTLRequest), false, true
	case OpDelete:
		return new(DeleteRequest), false, true
	case OpSetData:
		return new(SetDataRequest), false, true
	case OpCheck:
		return new(CheckVersionRequest), false, true
	case OpGetChildren:
		return new(GetChildrenRequest), true, true
	case OpGetData:
		return new(GetDataRequest), true, true
	}
	return nil, false, false
}

// MultiResult is one result of a MultiResponse. Type is the op's result
// type: OpCreate (CreateResponse), OpCreate2 (Create2Response, also for
// createContainer and createTTL), OpDelete and OpCheck (no record),
// OpSetData (SetDataResponse), OpGetChildren (GetChildrenResponse), OpGetData
// (GetDataResponse), or OpError, whose Err is the op's code and whose
// Response is nil.
type MultiResult struct {
	Type     OpCode
	Err      Code
	Response Record
}

// MultiResponse is the reply to OpMulti and OpMultiRead: one result per op.
// A multi that failed answers every op with OpError: CodeOK before the op
// that failed, its code at it, CodeRuntimeInconsistency after it
// (DataTree.processTxn); its ReplyHeader's Err is still CodeOK
// (FinalRequestProcessor sets none for a multi, release-3.9.5).
type MultiResponse struct {
	Results []MultiResult
}

// Encode appends a MultiHeader and the record of each result, then the end
// header {−1, true, −1}. An OpError result is written as {−1, false, Err}
// and ErrorResponse{Err}; any other as {Type, false, 0} and its Response,
// if any.
func (r *MultiResponse) Encode(e *Encoder) {
	for _, res := range r.Results {
		h := MultiHeader{Type: res.Type}
		if res.Type == OpError {
			h.Err = res.Err
		}
		h.Encode(e)
		switch {
		case res.Type == OpError:
			rec := ErrorResponse{Err: res.Err}
			rec.Encode(e)
		case res.Response != nil:
			res.Response.Encode(e)
		}
	}
	encodeMultiEnd(e)
}

// Decode reads headers and results up to a header with done set. Like
// ZooKeeper it takes a failed op's code from its ErrorResponse, not from the
// header. An unknown result type is an error.
func (r *MultiResponse) Decode(d *Decoder) {
	r.Results = nil
	var h MultiHeader
	h.Decode(d)
	for d.Err() == nil && !h.Done {
		res := MultiResult{Type: h.Type}
		switch h.Type {
		case OpError:
			var rec ErrorResponse
			rec.Decode(d)
			res.Err = rec.Err
		case OpDelete, OpCheck:
		default:
			rec, ok := newMultiResult(h.Type)
			if !ok {
				d.Failf("result type %d in a multi", int32(h.Type))
				return
			}
			rec.Decode(d)
			res.Response = rec
		}
		r.Results = append(r.Results, res)
		h.Decode(d)
	}
}

// newMultiResult returns an empty record for a multi result type that has
// one.
func newMultiResult(op OpCode) (Record, bool) {
	switch op {
	case OpCreate:
		return new(CreateResponse), true
	case OpCreate2:
		return new(Create2Response), true
	case OpSetData:
		return new(SetDataResponse), true
	case OpGetChildren:
		return new(GetChildrenResponse), true
	case OpGetData:
		return new(GetDataResponse), true
	}
	return nil, false
}
