package zkserver

import (
	"context"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/jute"
)

// serveOp runs op, with its decoded request rec, through cl: everything
// but the writes, which pipeline.go starts. It returns the reply's record
// and a zxid to put in its header (0: the member's).
func (c *conn) serveOp(ctx context.Context, cl *keeper.Client, op jute.OpCode, rec jute.Record) (jute.Record, int64, error) {
	switch op {
	case jute.OpPing:
		return nil, 0, nil
	case jute.OpSetWatches:
		w := rec.(*jute.SetWatches)
		return nil, 0, c.setWatches(ctx, cl, w.RelativeZxid, w.DataWatches, w.ExistWatches, w.ChildWatches, nil, nil)
	case jute.OpSetWatches2:
		w := rec.(*jute.SetWatches2)
		return nil, 0, c.setWatches(ctx, cl, w.RelativeZxid, w.DataWatches, w.ExistWatches, w.ChildWatches, w.PersistentWatches, w.PersistentRecursiveWatches)
	case jute.OpExists:
		q := rec.(*jute.PathWatchRecord)
		return c.exists(ctx, cl, q.Path, q.Watch)
	case jute.OpGetData:
		q := rec.(*jute.PathWatchRecord)
		return c.getData(ctx, cl, q.Path, q.Watch)
	case jute.OpGetACL:
		q := rec.(*jute.PathRecord)
		if acl, st, ok := c.systemACL(q.Path); ok {
			return &jute.GetACLResponse{ACL: toACL(acl), Stat: st}, 0, nil
		}
		acl, st, err := cl.GetACL(ctx, q.Path)
		return &jute.GetACLResponse{ACL: toACL(acl), Stat: toStat(st)}, 0, err
	case jute.OpGetChildren, jute.OpGetChildren2:
		q := rec.(*jute.PathWatchRecord)
		names, st, err := c.children(ctx, cl, q.Path, q.Watch)
		if op == jute.OpGetChildren {
			return &jute.GetChildrenResponse{Children: names}, 0, err
		}
		return &jute.GetChildren2Response{Children: names, Stat: st}, 0, err
	case jute.OpSync:
		q := rec.(*jute.PathRecord)
		return &jute.PathRecord{Path: q.Path}, 0, cl.Sync(ctx, q.Path)
	case jute.OpMultiRead:
		return c.multiRead(ctx, cl, rec.(*jute.MultiRequest)), 0, nil
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
		// ZooKeeper answers addWatch with an ErrorResponse record, code 0.
		q := rec.(*jute.AddWatchRequest)
		return &jute.ErrorResponse{}, 0, c.addWatch(ctx, q.Path, q.Mode)
	case jute.OpRemoveWatches, jute.OpCheckWatches:
		q := rec.(*jute.WatchesRecord)
		return nil, 0, c.removeWatches(ctx, q.Path, q.Type, op == jute.OpCheckWatches)
	case jute.OpWhoAmI:
		return &jute.WhoAmIResponse{ClientInfo: c.whoAmI()}, 0, nil
	}
	// SASL, reconfig, and the server-side ops a client may not send.
	return nil, 0, keeper.ErrUnimplemented
}

// exists serves exists: NONODE for a missing node, whose exist watch is
// set all the same.
func (c *conn) exists(ctx context.Context, cl *keeper.Client, path string, watch bool) (jute.Record, int64, error) {
	if st, ok := c.systemStat(path); ok {
		return &jute.StatRecord{Stat: st}, 0, nil
	}
	var (
		st  keeper.Stat
		ok  bool
		err error
	)
	if watch {
		st, ok, _, err = cl.ExistsW(ctx, path)
	} else {
		st, ok, err = cl.Exists(ctx, path)
	}
	if err == nil && !ok {
		err = keeper.ErrNoNode
	}
	return &jute.StatRecord{Stat: toStat(st)}, 0, err
}

// getData serves getData.
func (c *conn) getData(ctx context.Context, cl *keeper.Client, path string, watch bool) (*jute.GetDataResponse, int64, error) {
	if data, st, ok := c.systemData(path); ok {
		return &jute.GetDataResponse{Data: data, Stat: st}, 0, nil
	}
	var (
		data []byte
		st   keeper.Stat
		err  error
	)
	if watch {
		data, st, _, err = cl.GetW(ctx, path)
	} else {
		data, st, err = cl.Get(ctx, path)
	}
	return &jute.GetDataResponse{Data: data, Stat: toStat(st)}, 0, err
}

// children serves getChildren and getChildren2, with /zookeeper's own.
func (c *conn) children(ctx context.Context, cl *keeper.Client, path string, watch bool) ([]string, jute.Stat, error) {
	if names, st, ok := c.systemChildren(path); ok {
		return names, st, nil
	}
	var (
		names []string
		st    keeper.Stat
		err   error
	)
	if watch {
		names, st, _, err = cl.ChildrenW(ctx, path)
	} else {
		names, st, err = cl.Children(ctx, path)
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
