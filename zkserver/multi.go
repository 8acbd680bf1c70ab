package zkserver

import (
	"context"
	"errors"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/jute"
)

// startMulti starts a transaction: every op applies at one zxid, or none
// does.
func (c *conn) startMulti(j *job, cl *keeper.Client, q *jute.MultiRequest) {
	ops := make([]keeper.Op, len(q.Ops))
	for i, m := range q.Ops {
		op, err := multiOp(m)
		if err != nil {
			j.body, j.err = failedMulti(len(q.Ops), &keeper.MultiError{Index: i, Err: err})
			j.ready = true
			return
		}
		if p := opPath(m); isSystemPath(p) {
			j.body, j.err = failedMulti(len(q.Ops), &keeper.MultiError{Index: i, Err: errReserved(p)})
			j.ready = true
			return
		}
		ops[i] = op
	}
	c.awaitConnected(j.ctx)
	j.pending = cl.Start(j.ctx, true, ops...)
	j.finish = func(res []keeper.OpResult) (jute.Record, int64) {
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
		return out, zxid
	}
}

// failedMulti is the reply of a multi of n ops that failed with err. A
// *keeper.MultiError answers as ZooKeeper does: OK before the op that
// failed, its code at it, RUNTIMEINCONSISTENCY after it, and no error in
// the reply header. Any other error fails the request itself.
func failedMulti(n int, err error) (jute.Record, error) {
	var me *keeper.MultiError
	if !errors.As(err, &me) || n == 0 {
		return nil, err
	}
	code, fatal := errorCode(me.Err)
	if fatal {
		return nil, err
	}
	out := &jute.MultiResponse{Results: make([]jute.MultiResult, n)}
	for i := range out.Results {
		r := jute.MultiResult{Type: jute.OpError}
		switch {
		case i == me.Index:
			r.Err = code
		case i > me.Index:
			r.Err = jute.CodeRuntimeInconsistency
		}
		out.Results[i] = r
	}
	return out, nil
}

// multiOp is one op of a multi in keeper's terms.
func multiOp(m jute.MultiOp) (keeper.Op, error) {
	switch q := m.Request.(type) {
	case *jute.CreateRequest, *jute.CreateTTLRequest:
		cq, ttl := createRequest(q)
		mode, opts, err := createArgs(m.Type, cq, ttl)
		if err != nil {
			return keeper.Op{}, err
		}
		return keeper.CreateOp(cq.Path, cq.Data, mode, opts...), nil
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

// opPath is the path a multi's op names.
func opPath(m jute.MultiOp) string {
	switch q := m.Request.(type) {
	case *jute.CreateRequest:
		return q.Path
	case *jute.CreateTTLRequest:
		return q.Path
	case *jute.PathVersionRecord:
		return q.Path
	case *jute.SetDataRequest:
		return q.Path
	}
	return ""
}

// multiRead serves a multi of reads: each read on its own, its result or
// its error in its place.
func (c *conn) multiRead(ctx context.Context, cl *keeper.Client, q *jute.MultiRequest) *jute.MultiResponse {
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
			names, _, err = c.children(ctx, cl, p.Path, p.Watch)
			rec = &jute.GetChildrenResponse{Children: names}
		case jute.OpGetData:
			rec, _, err = c.getData(ctx, cl, p.Path, p.Watch)
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
