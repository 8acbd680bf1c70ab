package keeper

import (
	"errors"
	"sync"
)

// watchManager is what the member's tree, raft loop and Node see of its
// sessions and watches: the visibility lock vis, which orders apply's
// queueing and commit against reads (see above), and the session registry
// with its watch index. Lock order: vis, then the registry's mu.
type watchManager struct {
	vis sync.RWMutex
	sessionRegistry
}

func newWatchManager(member, nonce uint64) *watchManager {
	wm := &watchManager{}
	wm.sessionRegistry.init(member, nonce)
	return wm
}

// publish implements publishFunc: it triggers the watches and session
// changes of a group, then commits it, all under vis.
func (wm *watchManager) publish(events []treeEvent, commit func() error) error {
	wm.vis.Lock()
	defer wm.vis.Unlock()
	wm.queue(events)
	return commit()
}

// read runs fn, a read of the tree, with vis held shared: never between an
// apply group's watch events and its commit.
func (wm *watchManager) read(fn func() error) error {
	wm.vis.RLock()
	defer wm.vis.RUnlock()
	return fn()
}

// readAndRegister runs read and registers a one-shot watch of kind on path
// for s if it succeeds, or, when keepOnNoNode, if it finds no node; both
// under vis held shared, so no apply group is queued and committed in
// between.
func (wm *watchManager) readAndRegister(s *Session, path string, kind WatchKind, keepOnNoNode bool, read func() error) (*Watch, error) {
	wm.vis.RLock()
	defer wm.vis.RUnlock()
	err := read()
	if err != nil && !(keepOnNoNode && errors.Is(err, ErrNoNode)) {
		return nil, err
	}
	w, uerr := wm.addWatch(s, path, kind, oneShotBuffer)
	if uerr != nil {
		return nil, uerr
	}
	return w, err
}
