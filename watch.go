package keeper

import (
	"context"
	"fmt"
)

// Watches live on the member that serves their session; they are not
// replicated. The raft loop hands every apply group's change events to the
// member's read gate before the Pebble batch that makes the group visible
// is committed (see readGate.publish), and the gate holds its visibility
// lock exclusively across the queueing and the commit. Every read on the
// member holds that lock shared around its Pebble read, and a read that
// registers a watch (GetW, ExistsW, ChildrenW) holds it around both its
// read and its registration. Hence:
//
//   - the event for zxid z is queued before any read on this member can
//     observe state ≥ z (DESIGN invariant 6);
//   - once an event is received, every later read sees its change (the
//     read waits for the commit that follows the queueing);
//   - a watching read either sees the state before z and gets z's event, or
//     sees z and gets no event for it: never neither.
//
// Every watch has its own bounded channel, filled in zxid order. Apply never
// blocks on it: when a channel is one slot from full, its last slot takes a
// WatchOverflowed event, the watch is dropped and the channel closed. Only
// the slow watch is dropped; the session and its other watches carry on.

// EventType says what an Event reports.
type EventType int

const (
	// NodeCreated: the watched path was created (ExistsW, persistent
	// watches).
	NodeCreated EventType = iota + 1
	// NodeDeleted: the watched path was deleted (GetW, ExistsW, ChildrenW,
	// persistent watches).
	NodeDeleted
	// NodeDataChanged: the watched path's data was set (GetW, ExistsW,
	// persistent watches).
	NodeDataChanged
	// NodeChildrenChanged: a child of the watched path was created or
	// deleted (ChildrenW, non-recursive persistent watches).
	NodeChildrenChanged
	// SessionStateChanged: the session's state changed; Event.State is the
	// new state. Every watch of the session gets it.
	SessionStateChanged
	// WatchRemoved: RemoveWatches or RemoveAllWatches removed the watch;
	// its channel is closed after this event.
	WatchRemoved
	// WatchOverflowed: the watch's consumer fell behind by its whole buffer;
	// the watch was dropped (Event.Err is ErrWatchOverflow) and its channel
	// is closed after this event. Events after Event.Zxid were not delivered.
	WatchOverflowed
	// Resynced: this member fell too far behind the leader and replaced its
	// whole tree with a raft snapshot at Event.Zxid; the individual changes
	// between the watch's last event and Event.Zxid were not seen and are
	// not reported. Re-read what the watch covers. A one-shot watch is used
	// up by it (its channel is closed after it); a persistent watch stays.
	// Event.Path is the watch's path.
	Resynced
	// Restored: Node.RestoreOnline replaced the whole tree, or one subtree,
	// with a backup's at Event.Zxid. Every watch of every session on every
	// member gets it, whatever its path, before any read on that member can
	// see the restored tree; the individual changes are not reported.
	// Re-read what the watch covers. A one-shot watch is used up by it (its
	// channel is closed after it); a persistent watch stays. Event.Path is
	// the watch's path.
	Restored
)

func (t EventType) String() string {
	switch t {
	case NodeCreated:
		return "NodeCreated"
	case NodeDeleted:
		return "NodeDeleted"
	case NodeDataChanged:
		return "NodeDataChanged"
	case NodeChildrenChanged:
		return "NodeChildrenChanged"
	case SessionStateChanged:
		return "SessionStateChanged"
	case WatchRemoved:
		return "WatchRemoved"
	case WatchOverflowed:
		return "WatchOverflowed"
	case Resynced:
		return "Resynced"
	case Restored:
		return "Restored"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is one notification delivered on a Watch's channel.
type Event struct {
	// Type is what happened.
	Type EventType
	// Path is the znode the event is about (for recursive watches, the
	// descendant that changed); empty for SessionStateChanged.
	Path string
	// Zxid is the zxid of the change; for state events, the member's
	// applied zxid when the state changed.
	Zxid Zxid
	// State is the session's state when the event was queued.
	State SessionState
	// Err is ErrWatchOverflow for WatchOverflowed, else nil.
	Err error
}

// WatchKind names the kinds of watch: the one-shot kinds set by reads and
// the persistent kinds set by AddWatch. AnyWatch serves RemoveWatches only.
type WatchKind int

const (
	// AnyWatch matches every kind in RemoveWatches.
	AnyWatch WatchKind = iota
	// DataWatch is the one-shot watch of GetW and ExistsW.
	DataWatch
	// ChildWatch is the one-shot watch of ChildrenW.
	ChildWatch
	// PersistentWatch stays after firing and gets NodeCreated, NodeDeleted,
	// NodeDataChanged and NodeChildrenChanged for its path.
	PersistentWatch
	// PersistentRecursive stays after firing and gets NodeCreated,
	// NodeDeleted and NodeDataChanged for its path and every descendant,
	// never NodeChildrenChanged (ZooKeeper: it would be redundant).
	PersistentRecursive
)

func (k WatchKind) String() string {
	switch k {
	case AnyWatch:
		return "AnyWatch"
	case DataWatch:
		return "DataWatch"
	case ChildWatch:
		return "ChildWatch"
	case PersistentWatch:
		return "PersistentWatch"
	case PersistentRecursive:
		return "PersistentRecursive"
	}
	return fmt.Sprintf("WatchKind(%d)", int(k))
}

// Buffer sizes of watch channels; each has one more slot, kept for the
// WatchOverflowed event.
const (
	oneShotBuffer = 16
	// DefaultWatchBuffer is SessionOptions.WatchBuffer's default.
	DefaultWatchBuffer = 1024
)

// Watch is one registered watch. Its events arrive on Events in zxid order;
// the channel is closed when the watch ends: after the event of a one-shot
// watch, after WatchRemoved or WatchOverflowed, and when the session
// expires or closes (after the SessionStateChanged event saying so).
type Watch struct {
	s    *Session
	path string
	kind WatchKind
	ch   chan Event
	done bool // guarded by the manager's mu
}

// Events returns the watch's channel; nil for a watch of a session whose
// events arrive on its session-wide channel only (SessionOptions.EventsOnly).
func (w *Watch) Events() <-chan Event { return w.ch }

// Path returns the watched path.
func (w *Watch) Path() string { return w.path }

// Kind returns the watch's kind.
func (w *Watch) Kind() WatchKind { return w.kind }

// watchSet is the watches of one path and kind.
type watchSet map[*Watch]struct{}

// watchIndex is the member's watches by kind and path. The session
// registry's mu guards it (see sessionRegistry).
type watchIndex struct {
	byKind [PersistentRecursive + 1]map[string]watchSet
	seq    uint64 // numbers triggered events, to tell a session's duplicates
}

func (x *watchIndex) init() {
	for k := range x.byKind {
		x.byKind[k] = make(map[string]watchSet)
	}
}

// trigger fires the watches a change event concerns, as ZooKeeper's
// DataTree and WatchManager do.
func (x *watchIndex) trigger(ev *treeEvent) {
	typ := EventType(ev.Type)
	x.seq++
	fire := func(k WatchKind, path string, once bool) {
		set := x.byKind[k][path]
		if once && set != nil {
			// Every watch of the set ends: the set leaves the index whole
			// (drop then finds none to delete each watch from).
			delete(x.byKind[k], path)
		}
		for w := range set {
			if w.s.fireLocked(w, Event{Type: typ, Path: ev.Path, Zxid: Zxid(ev.Zxid)}, x.seq) || once {
				x.drop(w)
			}
		}
	}
	switch typ {
	case NodeCreated, NodeDataChanged:
		fire(DataWatch, ev.Path, true)
	case NodeDeleted:
		fire(DataWatch, ev.Path, true)
		fire(ChildWatch, ev.Path, true)
	case NodeChildrenChanged:
		fire(ChildWatch, ev.Path, true)
	}
	fire(PersistentWatch, ev.Path, false)
	if typ == NodeChildrenChanged || len(x.byKind[PersistentRecursive]) == 0 {
		return
	}
	for p := ev.Path; ; {
		fire(PersistentRecursive, p, false)
		if p == "/" {
			break
		}
		p, _ = parentOf(p)
	}
}

// deliver queues ev on w without blocking. A channel one slot from full
// gets the overflow event in its reserved slot instead, and deliver reports
// true: the index then drops w. The registry's mu is held.
func (w *Watch) deliver(ev Event) (overflowed bool) {
	if w.done || w.ch == nil {
		return false
	}
	if len(w.ch) < cap(w.ch)-1 {
		w.ch <- ev
		return false
	}
	w.ch <- Event{Type: WatchOverflowed, Path: w.path, Zxid: ev.Zxid, State: ev.State, Err: ErrWatchOverflow}
	return true
}

// drop unregisters w and closes its channel.
func (x *watchIndex) drop(w *Watch) {
	if w.done {
		return
	}
	w.done = true
	if set := x.byKind[w.kind][w.path]; set != nil {
		delete(set, w)
		if len(set) == 0 {
			delete(x.byKind[w.kind], w.path)
		}
	}
	w.s.forgetLocked(w)
	if w.ch != nil {
		close(w.ch)
	}
}

// register adds a watch of kind on path for s.
func (x *watchIndex) register(s *Session, path string, kind WatchKind, buffer int) *Watch {
	w := &Watch{s: s, path: path, kind: kind}
	if !s.eventsOnly {
		w.ch = make(chan Event, buffer+1)
	}
	set := x.byKind[kind][path]
	if set == nil {
		set = make(watchSet)
		x.byKind[kind][path] = set
	}
	set[w] = struct{}{}
	s.addLocked(w)
	return w
}

// remove removes s's watches of kind (AnyWatch: all kinds) on path, in the
// order of their kinds; each gets a WatchRemoved event at zxid and its
// channel closes. It returns ErrNoWatcher if there were none.
func (x *watchIndex) remove(s *Session, path string, kind WatchKind, zxid int64) error {
	found := x.find(s, path, kind)
	if len(found) == 0 {
		return fmt.Errorf("%w: %v on %s", ErrNoWatcher, kind, path)
	}
	for _, w := range found {
		s.notifyLocked(w, Event{Type: WatchRemoved, Path: path, Zxid: Zxid(zxid)})
		x.drop(w)
	}
	return nil
}

// find returns s's watches of kind (AnyWatch: all kinds) on path, in the
// order of their kinds.
func (x *watchIndex) find(s *Session, path string, kind WatchKind) []*Watch {
	var found []*Watch
	for k := DataWatch; k <= PersistentRecursive; k++ {
		if kind != AnyWatch && k != kind {
			continue
		}
		for w := range x.byKind[k][path] {
			if w.s == s {
				found = append(found, w)
			}
		}
	}
	return found
}

// fireAll delivers an event of type typ at zxid to every watch (one-shot
// watches are used up) and once to each session's event channel.
func (x *watchIndex) fireAll(typ EventType, zxid int64) {
	x.seq++
	for k := range x.byKind {
		once := WatchKind(k) == DataWatch || WatchKind(k) == ChildWatch
		for _, set := range x.byKind[k] {
			for w := range set {
				if w.s.fireLocked(w, Event{Type: typ, Path: w.path, Zxid: Zxid(zxid)}, x.seq) || once {
					x.drop(w)
				}
			}
		}
	}
}

// watchRead runs read and registers a watch of kind on path for c's session if it
// succeeds, or, when keepOnNoNode (exists), if it finds no node; both under
// the read gate's visibility lock held shared, so no apply group is queued
// and committed in between.
func (c *Client) watchRead(ctx context.Context, path string, kind WatchKind, keepOnNoNode bool, read func(t *tree) error) (*Watch, error) {
	s := c.sess
	if s == nil {
		return nil, fmt.Errorf("%w: a watch needs a client bound to a session", ErrBadArguments)
	}
	if err := validatePath(path, false); err != nil {
		return nil, err
	}
	if err := c.checkAuth(); err != nil {
		return nil, err
	}
	if err := c.awaitRead(ctx); err != nil {
		return nil, err
	}
	if err := s.usable(); err != nil {
		return nil, err
	}
	return c.n.gate.readAndRegister(s, path, kind, keepOnNoNode, func() error { return c.n.withTree(read) })
}

// size is the number of watches in the index.
func (x *watchIndex) size() int {
	n := 0
	for _, paths := range x.byKind {
		for _, set := range paths {
			n += len(set)
		}
	}
	return n
}
