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

func (r *MultiHeader) fields(w walker) {
	w.int32((*int32)(&r.Type))
	w.boolean(&r.Done)
	w.int32((*int32)(&r.Err))
}

// encodeMultiEnd appends the header that ends a multi's list.
func encodeMultiEnd(e *Encoder) {
	e.Encode(&MultiHeader{Type: -1, Done: true, Err: -1})
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
//
// Encoding writes a MultiHeader {type, false, −1} and the request of each
// op, then the end header {−1, true, −1}. Decoding reads headers and
// requests up to a header with done set (whose type and err, like
// ZooKeeper, it does not check); an op type that may not stand in a multi,
// or a mix of reads and writes, is an error.
type MultiRequest struct {
	Ops []MultiOp
}

func (r *MultiRequest) fields(w walker) {
	switch w := w.(type) {
	case *Encoder:
		for _, op := range r.Ops {
			w.Encode(&MultiHeader{Type: op.Type, Err: -1})
			w.Encode(op.Request)
		}
		encodeMultiEnd(w)
	case *Decoder:
		r.decode(w)
	}
}

func (r *MultiRequest) decode(d *Decoder) {
	r.Ops = nil
	read := false
	decodeMulti(d, func(h *MultiHeader) {
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
		d.Decode(req)
		r.Ops = append(r.Ops, MultiOp{Type: h.Type, Request: req})
	})
}

// decodeMulti reads a multi's list: a MultiHeader and, until one has done
// set or an error is met, the item it announces (read by item) and the next
// header.
func decodeMulti(d *Decoder, item func(h *MultiHeader)) {
	var h MultiHeader
	for d.Decode(&h) == nil && !h.Done {
		item(&h)
	}
}

// newMultiOp returns an empty request record for an op that may stand in a
// multi, and whether it is a read.
func newMultiOp(op OpCode) (req Record, read, ok bool) {
	switch op {
	case OpCheck:
		return new(CheckVersionRequest), false, true
	case OpCreate, OpCreate2, OpCreateContainer, OpCreateTTL, OpDelete, OpSetData:
		req, _ = NewRequest(op)
		return req, false, true
	case OpGetChildren, OpGetData:
		req, _ = NewRequest(op)
		return req, true, true
	}
	return nil, false, false
}

// MultiResult is one result of a MultiResponse. Type is the op's result
// type: OpCreate (CreateResponse), OpCreate2 (Create2Response, also for
// createContainer and createTTL; ZooKeeper before 3.8.2 and 3.9.0 answers a
// create2 op as a create, ZOOKEEPER-4026), OpDelete and OpCheck (no record),
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
//
// Encoding writes a MultiHeader and the record of each result, then the end
// header {−1, true, −1}: an OpError result as {−1, false, Err} and
// ErrorResponse{Err}, any other as {Type, false, 0} and its Response, if
// any. Decoding reads headers and results up to a header with done set; like
// ZooKeeper it takes a failed op's code from its ErrorResponse, not from the
// header. An unknown result type is an error.
type MultiResponse struct {
	Results []MultiResult
}

func (r *MultiResponse) fields(w walker) {
	switch w := w.(type) {
	case *Encoder:
		for _, res := range r.Results {
			if res.Type == OpError {
				w.Encode(&MultiHeader{Type: OpError, Err: res.Err})
				w.Encode(&ErrorResponse{Err: res.Err})
				continue
			}
			w.Encode(&MultiHeader{Type: res.Type})
			w.Encode(res.Response)
		}
		encodeMultiEnd(w)
	case *Decoder:
		r.decode(w)
	}
}

func (r *MultiResponse) decode(d *Decoder) {
	r.Results = nil
	decodeMulti(d, func(h *MultiHeader) {
		res := MultiResult{Type: h.Type}
		if h.Type == OpError {
			var rec ErrorResponse
			d.Decode(&rec)
			res.Err = rec.Err
		} else {
			rec, ok := newMultiResult(h.Type)
			if !ok {
				d.Failf("result type %d in a multi", int32(h.Type))
				return
			}
			if rec != nil {
				d.Decode(rec)
				res.Response = rec
			}
		}
		r.Results = append(r.Results, res)
	})
}

// newMultiResult returns an empty record for the result of an op that may
// stand in a multi: its reply's record; check has none.
func newMultiResult(op OpCode) (Record, bool) {
	switch op {
	case OpCreate, OpCreate2, OpDelete, OpSetData, OpGetChildren, OpGetData:
		return NewResponse(op)
	case OpCheck:
		return nil, true
	}
	return nil, false
}
