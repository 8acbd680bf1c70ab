package zkserver

import (
	"context"
	"errors"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/jute"
)

// multi serves a transaction: every op applies at one zxid, or none does.
// A failed multi answers as ZooKeeper does: OK before the op that failed,
// its code at it, RUNTIMEINCONSISTENCY after it, and no error in the
// reply header.
func (c *conn) multi(ctx context.Context, q *jute.MultiRequest) (jute.Record, int64, error) {
	ops := make([]keeper.Op, len(q.Ops))
	for i, m := range q.Ops {
		op, err := multiOp(m)
		if err != nil {
			return failedMulti(len(q.Ops), i, err)
		}
		ops[i] = op
	}
	res, err := c.client.Multi(ctx, ops...)
	var me *keeper.MultiError
	if errors.As(err, &me) {
		return failedMulti(len(q.Ops), me.Index, me.Err)
	}
	if err != nil {
		return nil, 0, err
	}
	out := &jute.MultiResponse{Results: make([]jute.MultiResult, len(res))}
	var zxid int64
	for i, r := range res {
		st := toStat(r.Stat)
		zxid = max(zxid, st.Mzxid, st.Czxid)
		mr := jute.MultiResult{Type: q.Ops[i].Type}
		switch q.Ops[i].Type {
		case jute.OpCreate:
			mr.Response = &jute.PathRecord{Path: r.Path}
		case jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
			mr.Type = jute.OpCreate2
			mr.Response = &jute.Create2Response{Path: r.Path, Stat: st}
		case jute.OpSetData:
			mr.Response = &jute.StatRecord{Stat: st}
		}
		out.Results[i] = mr
	}
	return out, zxid, nil
}

// failedMulti is the reply of a multi of n ops whose op at failed with err;
// an error with no ZooKeeper code (the quorum lost) fails the request.
func failedMulti(n, at int, err error) (jute.Record, int64, error) {
	code, fatal := errorCode(err)
	if fatal {
		return nil, 0, err
	}
	out := &jute.MultiResponse{Results: make([]jute.MultiResult, n)}
	for i := range out.Results {
		r := jute.MultiResult{Type: jute.OpError}
		switch {
		case i == at:
			r.Err = code
		case i > at:
			r.Err = jute.CodeRuntimeInconsistency
		}
		out.Results[i] = r
	}
	return out, 0, nil
}

// multiOp is one op of a multi in keeper's terms.
func multiOp(m jute.MultiOp) (keeper.Op, error) {
	switch q := m.Request.(type) {
	case *jute.CreateRequest:
		return createOp(m.Type, q, 0)
	case *jute.CreateTTLRequest:
		return createOp(m.Type, &q.CreateRequest, q.TTL)
	case *jute.PathVersionRecord:
		if m.Type == jute.OpCheck {
			return keeper.CheckOp(q.Path, q.Version), nil
		}
		return keeper.DeleteOp(q.Path, q.Version), nil
	case *jute.SetDataRequest:
		return keeper.SetOp(q.Path, q.Data, q.Version), nil
	}
	return keeper.Op{}, keeper.ErrUnimplemented
}

// multiRead serves a multi of reads: each read on its own, its result or
// its error in its place.
func (c *conn) multiRead(ctx context.Context, q *jute.MultiRequest) *jute.MultiResponse {
	out := &jute.MultiResponse{Results: make([]jute.MultiResult, len(q.Ops))}
	for i, m := range q.Ops {
		var (
			rec jute.Record
			err error
		)
		p := m.Request.(*jute.PathWatchRecord)
		switch m.Type {
		case jute.OpGetChildren:
			var names []string
			names, _, err = c.children(ctx, p.Path, p.Watch)
			rec = &jute.GetChildrenResponse{Children: names}
		case jute.OpGetData:
			var data []byte
			var st keeper.Stat
			if p.Watch {
				data, st, _, err = c.client.GetW(ctx, p.Path)
			} else {
				data, st, err = c.client.Get(ctx, p.Path)
			}
			rec = &jute.GetDataResponse{Data: data, Stat: toStat(st)}
		default:
			err = keeper.ErrUnimplemented
		}
		if err != nil {
			code, _ := errorCode(err)
			out.Results[i] = jute.MultiResult{Type: jute.OpError, Err: code}
			continue
		}
		out.Results[i] = jute.MultiResult{Type: m.Type, Response: rec}
	}
	return out
}
