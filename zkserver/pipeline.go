package zkserver

import (
	"context"
	"errors"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/jute"
)

// job is one request on its way from the reader, which decoded it and
// started it if it is a write, to the completer, which finishes it in
// order.
type job struct {
	req request
	op  jute.OpCode
	ctx context.Context
	// One of: an answer known already (err or ready set), a write started
	// (pending, with finish to build its reply), or work for the completer
	// (run), which waits for every earlier write.
	err     error
	ready   bool
	body    jute.Record // the answer of a job ready already
	close   bool        // the connection ends after the reply
	pending *keeper.Pending
	finish  func(res []keeper.OpResult) (jute.Record, int64)
	run     func(ctx context.Context) (jute.Record, int64, error)
}

// prepare decodes req and, for a write, starts it: writes are proposed as
// soon as they are read, in order, and only their results are awaited in
// order, so a connection's writes pipeline as ZooKeeper's do. Everything
// else becomes work the completer runs after the earlier writes, so a
// read sees them.
func (c *conn) prepare(req request) *job {
	op := req.hdr.Type
	j := &job{req: req, op: op}
	d := jute.NewDecoder(req.body)
	rec, err := jute.DecodeRequest(d, op)
	switch {
	case errors.Is(err, jute.ErrUnknownOp), op == jute.OpCheck:
		// ZooKeeper answers an opcode it does not know with UNIMPLEMENTED
		// and closes the connection.
		c.log.Info("zkserver: unknown opcode; closing the connection", "op", int32(op))
		j.err, j.close = keeper.ErrUnimplemented, true
		return j
	case err != nil && (op == jute.OpAuth || op == jute.OpSASL):
		c.log.Info("zkserver: malformed auth packet; closing the connection", "err", err)
		j.err, j.close = errMarshalling, true
		return j
	case err != nil:
		j.err = errMarshalling
		return j
	}
	// The connection bounds a request: a client that gives up on one
	// closes the connection, which ends it.
	j.ctx = c.ctx
	cl := c.client
	switch op {
	case jute.OpAuth:
		// Applied at once, so the writes after it are started with it.
		j.err, j.ready = c.addAuth(rec.(*jute.AuthPacket)), true
		j.close = j.err != nil
	case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
		c.startCreate(j, cl, rec)
	case jute.OpDelete:
		q := rec.(*jute.PathVersionRecord)
		c.startWrite(j, cl, []keeper.Op{keeper.DeleteOp(q.Path, q.Version)}, q.Path, func([]keeper.OpResult) (jute.Record, int64) {
			return nil, 0
		})
	case jute.OpSetData:
		q := rec.(*jute.SetDataRequest)
		c.startWrite(j, cl, []keeper.Op{keeper.SetOp(q.Path, q.Data, q.Version)}, q.Path, func(res []keeper.OpResult) (jute.Record, int64) {
			return &jute.StatRecord{Stat: toStat(res[0].Stat)}, int64(res[0].Stat.Mzxid)
		})
	case jute.OpSetACL:
		q := rec.(*jute.SetACLRequest)
		c.startWrite(j, cl, []keeper.Op{keeper.SetACLOp(q.Path, fromACL(q.ACL), q.Version)}, q.Path, func(res []keeper.OpResult) (jute.Record, int64) {
			return &jute.StatRecord{Stat: toStat(res[0].Stat)}, 0
		})
	case jute.OpMulti:
		c.startMulti(j, cl, rec.(*jute.MultiRequest))
	case jute.OpCloseSession:
		j.close = true
		j.run = func(ctx context.Context) (jute.Record, int64, error) {
			err := c.sess.Close(ctx)
			if errors.Is(err, keeper.ErrSessionExpired) || errors.Is(err, keeper.ErrSessionMoved) {
				err = nil
			}
			return nil, 0, err
		}
	default:
		j.run = func(ctx context.Context) (jute.Record, int64, error) { return c.serveOp(ctx, cl, op, rec) }
	}
	return j
}

// startWrite starts op's single-op write of j through cl, unless path is
// one of the system nodes, which are not writable; finish builds the reply
// from the result.
func (c *conn) startWrite(j *job, cl *keeper.Client, ops []keeper.Op, path string, finish func([]keeper.OpResult) (jute.Record, int64)) {
	if isSystemPath(path) {
		j.err = errReserved(path)
		return
	}
	c.awaitConnected(j.ctx)
	j.pending, j.finish = cl.Start(j.ctx, false, ops...), finish
}

// startCreate starts one of the four creates.
func (c *conn) startCreate(j *job, cl *keeper.Client, rec jute.Record) {
	q, ttl := createRequest(rec)
	mode, opts, err := createArgs(j.op, q, ttl)
	if err != nil {
		j.err = err
		return
	}
	c.startWrite(j, cl, []keeper.Op{keeper.CreateOp(q.Path, q.Data, mode, opts...)}, q.Path, func(res []keeper.OpResult) (jute.Record, int64) {
		st := toStat(res[0].Stat)
		if j.op == jute.OpCreate {
			return &jute.PathRecord{Path: res[0].Path}, st.Czxid
		}
		return &jute.Create2Response{Path: res[0].Path, Stat: st}, st.Czxid
	})
}

// complete finishes j in order and returns its reply.
func (c *conn) complete(j *job) reply {
	r := reply{hdr: jute.ReplyHeader{Xid: j.req.hdr.Xid}, op: j.op, at: j.req.at, close: j.close}
	var (
		body jute.Record
		zxid int64
		err  = j.err
	)
	switch {
	case j.err != nil || j.ready:
		body = j.body
	case j.pending != nil:
		var res []keeper.OpResult
		res, err = j.pending.Wait()
		switch {
		case err == nil:
			body, zxid = j.finish(res)
		case j.op == jute.OpMulti:
			body, err = failedMulti(len(res), err)
		}
	default:
		c.awaitConnected(j.ctx)
		body, zxid, err = j.run(j.ctx)
		if errors.Is(err, keeper.ErrConnectionLoss) && !errors.Is(err, keeper.ErrIndeterminate) {
			// The member lost its leader between the check and the
			// request, which changed nothing: once more after the wait.
			c.awaitConnected(j.ctx)
			body, zxid, err = j.run(j.ctx)
		}
	}
	r.early, c.pending = c.pending, nil
	if err != nil {
		code, fatal := errorCode(err)
		if fatal {
			// The member lost its quorum, or a write's fate is unknown:
			// like a ZooKeeper server leaving the ensemble, drop the
			// connection; the client reports connection loss and moves
			// to another member.
			c.log.Debug("zkserver: closing the connection", "op", j.op, "err", err)
			c.close()
			r.close = true
			return r
		}
		if code == jute.CodeSystemError {
			c.log.Warn("zkserver: request failed", "op", j.op, "err", err)
		}
		r.hdr.Err = code
	} else {
		r.body = body
	}
	r.hdr.Zxid = max(zxid, c.zxid())
	return r
}
