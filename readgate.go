package keeper

import (
	"errors"
	"sync"
)

// readGate orders everything that reads the member's tree against what
// changes it or takes it away. It owns two locks:
//
//   - visMu, the visibility lock. publish holds it exclusively across an
//     apply group's queueing of watch events and the Pebble commit that makes
//     the group visible; read and readAndRegister hold it shared around a
//     read of the tree (and the watch registration), so no read runs between
//     a group's events and its commit (see watch.go for what that gives).
//   - useMu, the use lock. use holds it shared around anything that touches
//     the tree's store (reads, Backup, the reaper's scan); shut holds it
//     exclusively while the Node marks itself closed, so no read ever touches
//     a closed store.
//
// swap holds both exclusively while the installer or a repair replaces the
// tree's store, then tells the session registry (resync) before letting
// readers in again: no read sees the old tree after its watch got Resynced,
// nor the new one before.
//
// Lock order: visMu, then useMu, then the session registry's mu (queue,
// addWatch and resync take it inside the gate) and the tree's snapMu (an
// online restore's commit, run by publish, takes it inside visMu; a Backup's
// Pebble snapshot inside useMu). Nothing takes visMu while holding useMu.
//
// The tree publishes through the gate (publisher), the raft loop's installer
// swaps through it and the Node reads, registers watches and shuts through
// it; each gets the gate when it is built.
type readGate struct {
	visMu sync.RWMutex
	useMu sync.RWMutex
	reg   *sessionRegistry // told of published events and of swaps
}

func newReadGate(reg *sessionRegistry) *readGate {
	return &readGate{reg: reg}
}

// publisher is what the tree sees of the read gate: publish receives an
// apply group's events and the commit that makes the group visible to
// readers. It must queue the events and then call commit exactly once,
// returning its error.
type publisher interface {
	publish(events []treeEvent, commit func() error) error
}

// publish queues events with the session registry (watches triggered,
// sessions created and ended), then runs commit, both with visMu held
// exclusively.
func (g *readGate) publish(events []treeEvent, commit func() error) error {
	g.visMu.Lock()
	defer g.visMu.Unlock()
	g.reg.queue(events)
	return commit()
}

// read runs fn, a read of the tree, with visMu held shared: never between
// an apply group's watch events and its commit. fn takes useMu through use.
func (g *readGate) read(fn func() error) error {
	g.visMu.RLock()
	defer g.visMu.RUnlock()
	return fn()
}

// readAndRegister runs read and registers a one-shot watch of kind on path
// for s if it succeeds, or, when keepOnNoNode, if it finds no node; both
// under visMu held shared, so no apply group is queued and committed in
// between.
func (g *readGate) readAndRegister(s *Session, path string, kind WatchKind, keepOnNoNode bool, read func() error) (*Watch, error) {
	g.visMu.RLock()
	defer g.visMu.RUnlock()
	err := read()
	if err != nil && !(keepOnNoNode && errors.Is(err, ErrNoNode)) {
		return nil, err
	}
	w, uerr := g.reg.addWatch(s, path, kind, oneShotBuffer)
	if uerr != nil {
		return nil, uerr
	}
	return w, err
}

// use runs fn, which touches the tree's store, with useMu held shared.
func (g *readGate) use(fn func() error) error {
	g.useMu.RLock()
	defer g.useMu.RUnlock()
	return fn()
}

// shut runs fn with useMu held exclusively: it waits for every use in
// progress, and fn (the Node marking itself closed) finishes before any
// new one starts.
func (g *readGate) shut(fn func()) {
	g.useMu.Lock()
	defer g.useMu.Unlock()
	fn()
}

// swap runs replace, which replaces the tree's store, with visMu and then
// useMu held exclusively. When replace succeeds it returns the new tree's
// applied zxid and which sessions it holds, and the registry is resynced
// (see sessionRegistry.resync) before the locks are released. It runs on
// the raft loop goroutine.
func (g *readGate) swap(replace func() (zxid int64, live func(id int64) bool, err error)) error {
	g.visMu.Lock()
	defer g.visMu.Unlock()
	g.useMu.Lock()
	defer g.useMu.Unlock()
	zxid, live, err := replace()
	if err != nil {
		return err
	}
	g.reg.resync(zxid, live)
	return nil
}
