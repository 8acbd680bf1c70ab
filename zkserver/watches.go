package zkserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/jute"
)

// setWatches sets again, after a reconnect, the watches a client had, as
// ZooKeeper's DataTree.setWatches judges them against relZxid, the last
// zxid the client saw: a data watch on a node changed since fires
// NodeDataChanged at once (NodeDeleted if it is gone), an exist watch on a
// node that exists now fires NodeCreated, a child watch on a node whose
// children changed since fires NodeChildrenChanged (NodeDeleted if gone);
// the others are set. Persistent watches are set as they are. The events
// fired here reach the client before the reply, as notifications.
func (c *conn) setWatches(ctx context.Context, cl *keeper.Client, relZxid int64, data, exist, child, persistent, recursive []string) error {
	var fired []keeper.Event
	fire := func(t keeper.EventType, path string) {
		fired = append(fired, keeper.Event{Type: t, Path: path})
	}
	// Data and exist watches are one kind in keeper, one per path.
	paths := map[string][2]bool{} // path → {data, exist}
	for _, p := range data {
		w := paths[p]
		w[0] = true
		paths[p] = w
	}
	for _, p := range exist {
		w := paths[p]
		w[1] = true
		paths[p] = w
	}
	for p, w := range paths {
		st, ok, _, err := cl.ExistsW(ctx, p)
		if err != nil {
			return err
		}
		armed := false
		switch {
		case w[0] && !ok:
			fire(keeper.NodeDeleted, p)
		case w[0] && int64(st.Mzxid) > relZxid:
			fire(keeper.NodeDataChanged, p)
		case w[0]:
			armed = true
		}
		switch {
		case w[1] && ok:
			fire(keeper.NodeCreated, p)
		case w[1]:
			armed = true
		}
		if !armed {
			if err := c.sess.RemoveWatches(ctx, p, keeper.DataWatch); err != nil && !errors.Is(err, keeper.ErrNoWatcher) {
				return err
			}
		}
	}
	for _, p := range child {
		_, st, _, err := cl.ChildrenW(ctx, p)
		switch {
		case errors.Is(err, keeper.ErrNoNode):
			fire(keeper.NodeDeleted, p)
		case err != nil:
			return err
		case int64(st.Pzxid) > relZxid:
			fire(keeper.NodeChildrenChanged, p)
			if err := c.sess.RemoveWatches(ctx, p, keeper.ChildWatch); err != nil && !errors.Is(err, keeper.ErrNoWatcher) {
				return err
			}
		}
	}
	for _, p := range persistent {
		if _, err := c.sess.AddWatch(ctx, p, keeper.PersistentWatch); err != nil {
			return err
		}
	}
	for _, p := range recursive {
		if _, err := c.sess.AddWatch(ctx, p, keeper.PersistentRecursive); err != nil {
			return err
		}
	}
	for _, ev := range fired {
		c.early(ev)
	}
	return nil
}

// early queues ev to go to the client before the current request's reply.
func (c *conn) early(ev keeper.Event) {
	c.pending = append(c.pending, ev)
}

// addWatch serves addWatch: a persistent watch, recursive or not.
func (c *conn) addWatch(ctx context.Context, path string, mode jute.AddWatchMode) error {
	kind := keeper.PersistentWatch
	switch mode {
	case jute.AddWatchPersistent:
	case jute.AddWatchPersistentRecursive:
		kind = keeper.PersistentRecursive
	default:
		return fmt.Errorf("%w: addWatch mode %d", keeper.ErrBadArguments, mode)
	}
	_, err := c.sess.AddWatch(ctx, path, kind)
	return err
}

// watchKinds maps ZooKeeper's watcher types to keeper's watch kinds.
var watchKinds = map[jute.WatcherType]keeper.WatchKind{
	jute.WatcherChildren:            keeper.ChildWatch,
	jute.WatcherData:                keeper.DataWatch,
	jute.WatcherAny:                 keeper.AnyWatch,
	jute.WatcherPersistent:          keeper.PersistentWatch,
	jute.WatcherPersistentRecursive: keeper.PersistentRecursive,
}

// removeWatches serves removeWatches, or checkWatches when check is set:
// NOWATCHER when the connection's session has no such watch.
func (c *conn) removeWatches(ctx context.Context, path string, t jute.WatcherType, check bool) error {
	kind, ok := watchKinds[t]
	if !ok {
		return fmt.Errorf("%w: watcher type %d", keeper.ErrBadArguments, t)
	}
	if check {
		if !c.sess.HasWatches(path, kind) {
			return fmt.Errorf("%w: %v on %s", keeper.ErrNoWatcher, kind, path)
		}
		return nil
	}
	return c.sess.RemoveWatches(ctx, path, kind)
}
