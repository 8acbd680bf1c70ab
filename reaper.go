package keeper

import (
	"context"
	"time"
)

// reaper is the leader's periodic task that deletes container znodes whose
// last child went (Cversion > 0, no children), as ZooKeeper's
// ContainerManager, and TTL znodes with no children left unchanged for
// their TTL. It runs on every member but acts only while its member leads.
// Each removal is proposed through raft as an ordinary delete carrying the
// version the reaper saw, so a change racing with it wins: a set bumps the
// version (BadVersion), a new child makes the delete fail (NotEmpty). The
// deletes fire the usual NodeDeleted and NodeChildrenChanged watches.
type reaper struct {
	n      *Node
	every  time.Duration
	cancel context.CancelFunc
	donec  chan struct{}
}

// startReaper starts n's reaper goroutine; stop ends it.
func startReaper(n *Node, every time.Duration) *reaper {
	ctx, cancel := context.WithCancel(context.Background())
	rp := &reaper{n: n, every: every, cancel: cancel, donec: make(chan struct{})}
	go rp.run(ctx)
	return rp
}

func (rp *reaper) stop() {
	rp.cancel()
	<-rp.donec
}

func (rp *reaper) run(ctx context.Context) {
	defer close(rp.donec)
	t := time.NewTicker(rp.every)
	defer t.Stop()
	// The reaper acts as the super user: a container's parent may deny the
	// world DELETE.
	c := &Client{n: rp.n, auth: []Identity{{Scheme: schemeSuper}}}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if rp.n.Status().Role != RoleLeader {
			continue
		}
		for _, d := range rp.due(time.Now().UnixMilli()) {
			dctx, cancel := context.WithTimeout(ctx, 10*rp.every)
			err := c.Delete(dctx, d.path, d.version)
			cancel()
			if err != nil {
				rp.n.r.log.Debug("reaper delete", "path", d.path, "err", err)
			}
		}
	}
}

type reapable struct {
	path    string
	version int32
}

// due lists the znodes to delete now (nowMs: the leader's clock).
func (rp *reaper) due(nowMs int64) []reapable {
	var out []reapable
	_ = rp.n.withTree(func(t *tree) error {
		cs, err := t.containers()
		if err != nil {
			return err
		}
		ts, err := t.ttlNodes()
		if err != nil {
			return err
		}
		for _, in := range append(cs, ts...) {
			z, err := t.read(in.Path)
			if err != nil || z.stat.NumChildren != 0 {
				continue
			}
			switch {
			case z.mode == Container && z.stat.Cversion > 0:
			case z.mode.IsTTL() && nowMs-z.stat.Mtime > z.ttl:
			default:
				continue
			}
			out = append(out, reapable{path: in.Path, version: z.stat.Version})
		}
		return nil
	})
	return out
}
