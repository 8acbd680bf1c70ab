package zkserver

import (
	"context"
	"errors"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/jute"
)

// handle serves one request and returns its reply.
func (c *conn) handle(req request) reply {
	op := req.hdr.Type
	r := reply{hdr: jute.ReplyHeader{Xid: req.hdr.Xid}, op: op}
	d := jute.NewDecoder(req.body)
	rec, err := jute.DecodeRequest(d, op)
	switch {
	case errors.Is(err, jute.ErrUnknownOp), op == jute.OpCheck:
		// ZooKeeper answers an opcode it does not know with UNIMPLEMENTED
		// and closes the connection.
		c.log.Info("zkserver: unknown opcode; closing the connection", "op", int32(op))
		r.hdr.Zxid, r.hdr.Err, r.close = c.zxid(), jute.CodeUnimplemented, true
		return r
	case err != nil && (op == jute.OpAuth || op == jute.OpSASL):
		c.log.Info("zkserver: malformed auth packet; closing the connection", "err", err)
		r.hdr.Zxid, r.hdr.Err, r.close = c.zxid(), jute.CodeMarshallingError, true
		return r
	case err != nil:
		r.hdr.Zxid, r.hdr.Err = c.zxid(), jute.CodeMarshallingError
		return r
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.opTimeout())
	defer cancel()
	body, zxid, err := c.serveOp(ctx, op, rec)
	r.early, c.pending = c.pending, nil
	if err != nil {
		code, fatal := errorCode(err)
		if fatal {
			// The member lost its quorum, or a write's fate is unknown:
			// like a ZooKeeper server leaving the ensemble, drop the
			// connection; the client reports connection loss and moves
			// to another member.
			c.log.Debug("zkserver: closing the connection", "op", op, "err", err)
			c.close()
			r.close = true
			return r
		}
		if code == jute.CodeSystemError {
			c.log.Warn("zkserver: request failed", "op", op, "err", err)
		}
		r.hdr.Err = code
		if op == jute.OpAuth {
			r.close = true
		}
	} else {
		r.body = body
	}
	if op == jute.OpCloseSession {
		r.close = true
	}
	r.hdr.Zxid = max(zxid, c.zxid())
	return r
}

// opTimeout bounds one request: the session's timeout, after which the
// client has given up on it anyway.
func (c *conn) opTimeout() time.Duration { return max(c.timeout, time.Second) }

// serveOp runs op with its decoded request rec and returns the reply's
// record and the zxid of a write (0 for a read).
func (c *conn) serveOp(ctx context.Context, op jute.OpCode, rec jute.Record) (jute.Record, int64, error) {
	cl := c.client
	switch op {
	case jute.OpPing:
		return nil, 0, nil
	case jute.OpAuth:
		return nil, 0, c.addAuth(rec.(*jute.AuthPacket))
	case jute.OpSetWatches:
		w := rec.(*jute.SetWatches)
		return nil, 0, c.setWatches(ctx, w.RelativeZxid, w.DataWatches, w.ExistWatches, w.ChildWatches, nil, nil)
	case jute.OpSetWatches2:
		w := rec.(*jute.SetWatches2)
		return nil, 0, c.setWatches(ctx, w.RelativeZxid, w.DataWatches, w.ExistWatches, w.ChildWatches, w.PersistentWatches, w.PersistentRecursiveWatches)
	case jute.OpCloseSession:
		err := c.sess.Close(ctx)
		if errors.Is(err, keeper.ErrSessionExpired) || errors.Is(err, keeper.ErrSessionMoved) {
			err = nil
		}
		return nil, 0, err
	case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
		return c.create(ctx, op, rec)
	case jute.OpDelete:
		q := rec.(*jute.PathVersionRecord)
		if isSystemPath(q.Path) {
			return nil, 0, errReserved(q.Path)
		}
		return nil, 0, cl.Delete(ctx, q.Path, q.Version)
	case jute.OpExists:
		q := rec.(*jute.PathWatchRecord)
		if st, ok := c.systemStat(q.Path); ok {
			return &jute.StatRecord{Stat: st}, 0, nil
		}
		var (
			st  keeper.Stat
			ok  bool
			err error
		)
		if q.Watch {
			st, ok, _, err = cl.ExistsW(ctx, q.Path)
		} else {
			st, ok, err = cl.Exists(ctx, q.Path)
		}
		if err == nil && !ok {
			err = keeper.ErrNoNode
		}
		return &jute.StatRecord{Stat: toStat(st)}, 0, err
	case jute.OpGetData:
		q := rec.(*jute.PathWatchRecord)
		if data, st, ok := c.systemData(q.Path); ok {
			return &jute.GetDataResponse{Data: data, Stat: st}, 0, nil
		}
		var (
			data []byte
			st   keeper.Stat
			err  error
		)
		if q.Watch {
			data, st, _, err = cl.GetW(ctx, q.Path)
		} else {
			data, st, err = cl.Get(ctx, q.Path)
		}
		return &jute.GetDataResponse{Data: data, Stat: toStat(st)}, 0, err
	case jute.OpSetData:
		q := rec.(*jute.SetDataRequest)
		if isSystemPath(q.Path) {
			return nil, 0, errReserved(q.Path)
		}
		st, err := cl.Set(ctx, q.Path, q.Data, q.Version)
		return &jute.StatRecord{Stat: toStat(st)}, int64(st.Mzxid), err
	case jute.OpGetACL:
		q := rec.(*jute.PathRecord)
		if _, st, ok := c.systemData(q.Path); ok {
			return &jute.GetACLResponse{ACL: toACL(keeper.OpenACL()), Stat: st}, 0, nil
		}
		acl, st, err := cl.GetACL(ctx, q.Path)
		return &jute.GetACLResponse{ACL: toACL(acl), Stat: toStat(st)}, 0, err
	case jute.OpSetACL:
		q := rec.(*jute.SetACLRequest)
		if isSystemPath(q.Path) {
			return nil, 0, errReserved(q.Path)
		}
		acl, err := fromACL(q.ACL)
		if err != nil {
			return nil, 0, err
		}
		st, err := cl.SetACL(ctx, q.Path, acl, q.Version)
		return &jute.StatRecord{Stat: toStat(st)}, 0, err
	case jute.OpGetChildren, jute.OpGetChildren2:
		q := rec.(*jute.PathWatchRecord)
		names, st, err := c.children(ctx, q.Path, q.Watch)
		if op == jute.OpGetChildren {
			return &jute.GetChildrenResponse{Children: names}, 0, err
		}
		return &jute.GetChildren2Response{Children: names, Stat: st}, 0, err
	case jute.OpSync:
		q := rec.(*jute.PathRecord)
		return &jute.PathRecord{Path: q.Path}, 0, cl.Sync(ctx, q.Path)
	case jute.OpMulti:
		return c.multi(ctx, rec.(*jute.MultiRequest))
	case jute.OpMultiRead:
		return c.multiRead(ctx, rec.(*jute.MultiRequest)), 0, nil
	case jute.OpGetAllChildrenNumber:
		q := rec.(*jute.PathRecord)
		n, err := cl.AllChildrenNumber(ctx, q.Path)
		return &jute.GetAllChildrenNumberResponse{TotalNumber: int32(n)}, 0, err
	case jute.OpGetEphemerals:
		q := rec.(*jute.PathRecord)
		prefix := q.Path
		if prefix == "" {
			prefix = "/"
		}
		paths, err := c.sess.Ephemerals(ctx, prefix)
		if paths == nil {
			paths = []string{}
		}
		return &jute.GetEphemeralsResponse{Ephemerals: paths}, 0, err
	case jute.OpAddWatch:
		q := rec.(*jute.AddWatchRequest)
		return nil, 0, c.addWatch(ctx, q.Path, q.Mode)
	case jute.OpRemoveWatches, jute.OpCheckWatches:
		q := rec.(*jute.WatchesRecord)
		return nil, 0, c.removeWatches(ctx, q.Path, q.Type, op == jute.OpCheckWatches)
	case jute.OpWhoAmI:
		return &jute.WhoAmIResponse{ClientInfo: c.whoAmI()}, 0, nil
	}
	// SASL, reconfig, and the server-side ops a client may not send.
	return nil, 0, keeper.ErrUnimplemented
}

// children serves getChildren and getChildren2, with /zookeeper's own.
func (c *conn) children(ctx context.Context, path string, watch bool) ([]string, jute.Stat, error) {
	if names, st, ok := c.systemChildren(path); ok {
		return names, st, nil
	}
	var (
		names []string
		st    keeper.Stat
		err   error
	)
	if watch {
		names, st, _, err = c.client.ChildrenW(ctx, path)
	} else {
		names, st, err = c.client.Children(ctx, path)
	}
	if names == nil {
		names = []string{}
	}
	jst := toStat(st)
	if path == systemRoot && err == nil {
		names, jst = withSystemChildren(names, jst)
	}
	return names, jst, err
}

// create serves the four create opcodes.
func (c *conn) create(ctx context.Context, op jute.OpCode, rec jute.Record) (jute.Record, int64, error) {
	var q *jute.CreateRequest
	var ttl int64
	if op == jute.OpCreateTTL {
		t := rec.(*jute.CreateTTLRequest)
		q, ttl = &t.CreateRequest, t.TTL
	} else {
		q = rec.(*jute.CreateRequest)
	}
	mode, opts, err := createArgs(op, q, ttl)
	if err != nil {
		return nil, 0, err
	}
	if isSystemPath(q.Path) {
		return nil, 0, errReserved(q.Path)
	}
	path, kst, err := c.client.Create2(ctx, q.Path, q.Data, mode, opts...)
	if err != nil {
		return nil, 0, err
	}
	st := toStat(kst)
	if op == jute.OpCreate {
		return &jute.PathRecord{Path: path}, st.Czxid, nil
	}
	return &jute.Create2Response{Path: path, Stat: st}, st.Czxid, nil
}
