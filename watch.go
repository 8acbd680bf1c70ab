package keeper

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Watches live on the member that serves their session; they are not
// replicated. The raft loop hands every apply group's change events to the
// member's watchManager before the Pebble batch that makes the group
// visible is committed (see publishFunc), and holds the manager's
// visibility lock (vis, a RWMutex) exclusively across the queueing and the
// commit. Every read on the member holds vis shared around its Pebble read,
// and a read that registers a watch (GetW, ExistsW, ChildrenW) holds it
// around both its read and its registration. Hence:
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
	Zxid int64
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

// Events returns the watch's channel.
func (w *Watch) Events() <-chan Event { return w.ch }

// Path returns the watched path.
func (w *Watch) Path() string { return w.path }

// Kind returns the watch's kind.
func (w *Watch) Kind() WatchKind { return w.kind }

// watchSet is the watches of one path and kind.
type watchSet map[*Watch]struct{}

// watchManager holds one member's watches and sessions. vis orders apply's
// queueing and commit against reads (see above); mu guards the maps and the
// sessions' states and is held only briefly, never across a commit. Lock
// order: vis, then mu.
type watchManager struct {
	vis       sync.RWMutex
	mu        sync.Mutex
	byKind    [PersistentRecursive + 1]map[string]watchSet
	sessions  map[int64]*Session
	member    uint64
	nonce     uint64
	connected bool
	applied   int64  // zxid of the last published group
	seq       uint64 // numbers triggered events, to tell a session's duplicates
}

func newWatchManager(member, nonce uint64) *watchManager {
	wm := &watchManager{sessions: make(map[int64]*Session), member: member, nonce: nonce}
	for k := range wm.byKind {
		wm.byKind[k] = make(map[string]watchSet)
	}
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

// queue triggers the watches and session changes of events.
func (wm *watchManager) queue(events []treeEvent) {
	wm.mu.Lock()
	defer wm.mu.Unlock()
	for i := range events {
		ev := &events[i]
		switch ev.Type {
		case evSessionCreated:
			if ev.Owner == wm.member && ev.Nonce == wm.nonce {
				wm.sessions[ev.Session] = &Session{id: ev.Session, state: wm.stateNow(), watches: make(map[*Watch]struct{})}
			}
		case evSessionEnded:
			if s := wm.sessions[ev.Session]; s != nil {
				st := StateClosed
				if ev.Expired {
					st = StateExpired
				}
				wm.endSession(s, st, ev.Zxid)
			}
		case evRestored:
			wm.fireAll(Restored, ev.Zxid)
		default:
			wm.trigger(ev)
		}
		wm.applied = ev.Zxid
	}
}

func (wm *watchManager) stateNow() SessionState {
	if wm.connected {
		return StateConnected
	}
	return StateDisconnected
}

// trigger fires the watches a change event concerns, as ZooKeeper's
// DataTree and WatchManager do.
func (wm *watchManager) trigger(ev *treeEvent) {
	typ := EventType(ev.Type)
	wm.seq++
	fire := func(k WatchKind, path string, once bool) {
		set := wm.byKind[k][path]
		for w := range set {
			e := Event{Type: typ, Path: ev.Path, Zxid: ev.Zxid, State: w.s.state}
			wm.deliver(w, e)
			if w.s.lastSeq != wm.seq {
				// Once per session, however many of its watches fire.
				w.s.lastSeq = wm.seq
				wm.deliverSession(w.s, e)
			}
			if once {
				wm.drop(w)
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
	if typ == NodeChildrenChanged || len(wm.byKind[PersistentRecursive]) == 0 {
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

// deliver queues ev on w without blocking; a full channel gets the
// overflow event in its reserved slot and w is dropped.
func (wm *watchManager) deliver(w *Watch, ev Event) {
	if w.done {
		return
	}
	if len(w.ch) < cap(w.ch)-1 {
		w.ch <- ev
		return
	}
	w.ch <- Event{Type: WatchOverflowed, Path: w.path, Zxid: ev.Zxid, State: w.s.state, Err: ErrWatchOverflow}
	wm.drop(w)
}

// deliverSession queues ev on s's session-wide channel, if it has one, as
// deliver does for a watch; an overflow closes that channel only.
func (wm *watchManager) deliverSession(s *Session, ev Event) {
	if s.events == nil || s.eventsDone {
		return
	}
	if len(s.events) < cap(s.events)-1 {
		s.events <- ev
		return
	}
	s.events <- Event{Type: WatchOverflowed, Zxid: ev.Zxid, State: s.state, Err: ErrWatchOverflow}
	s.eventsDone = true
	close(s.events)
}

// drop unregisters w and closes its channel.
func (wm *watchManager) drop(w *Watch) {
	if w.done {
		return
	}
	w.done = true
	if set := wm.byKind[w.kind][w.path]; set != nil {
		delete(set, w)
		if len(set) == 0 {
			delete(wm.byKind[w.kind], w.path)
		}
	}
	delete(w.s.watches, w)
	close(w.ch)
}

// register adds a watch of kind on path for s; mu is held.
func (wm *watchManager) register(s *Session, path string, kind WatchKind, buffer int) *Watch {
	w := &Watch{s: s, path: path, kind: kind, ch: make(chan Event, buffer+1)}
	set := wm.byKind[kind][path]
	if set == nil {
		set = make(watchSet)
		wm.byKind[kind][path] = set
	}
	set[w] = struct{}{}
	s.watches[w] = struct{}{}
	return w
}

// setState moves s to st and tells its watches; Expired and Closed end
// them. mu is held.
func (wm *watchManager) setState(s *Session, st SessionState, zxid int64) {
	if s.state == st || s.state.final() {
		return
	}
	s.state = st
	ev := Event{Type: SessionStateChanged, Zxid: zxid, State: st}
	for w := range s.watches {
		wm.deliver(w, ev)
	}
	wm.deliverSession(s, ev)
	if st.final() {
		for w := range s.watches {
			wm.drop(w)
		}
		if s.events != nil && !s.eventsDone {
			s.eventsDone = true
			close(s.events)
		}
	}
}

// endSession finishes s as Closed or Expired. mu is held.
func (wm *watchManager) endSession(s *Session, st SessionState, zxid int64) {
	wm.setState(s, st, zxid)
	delete(wm.sessions, s.id)
}

// setConnected records whether this member knows a leader and moves every
// live session between Connected and Disconnected. The raft loop calls it
// when its leader appears or goes.
func (wm *watchManager) setConnected(ok bool) {
	wm.mu.Lock()
	defer wm.mu.Unlock()
	if wm.connected == ok {
		return
	}
	wm.connected = ok
	st := wm.stateNow()
	for _, s := range wm.sessions {
		wm.setState(s, st, wm.applied)
	}
}

// abandoned reports whether session id, owned by this incarnation, has no
// holder any more: closed locally without the cluster hearing of it, or
// created by a NewSession that gave up before claiming it. The raft loop
// proposes closing such sessions.
func (wm *watchManager) abandoned(id int64, now uint64, grace uint64) bool {
	wm.mu.Lock()
	defer wm.mu.Unlock()
	s := wm.sessions[id]
	if s == nil {
		return true
	}
	if s.closedLocally {
		return true
	}
	if !s.claimed {
		if s.seenTick == 0 {
			s.seenTick = now
		}
		return now-s.seenTick > grace
	}
	return false
}

// closeAll ends every session as Closed when the member closes.
func (wm *watchManager) closeAll() {
	wm.mu.Lock()
	defer wm.mu.Unlock()
	for _, s := range wm.sessions {
		wm.endSession(s, StateClosed, wm.applied)
	}
}

// watchRead runs read and registers a watch of kind on path for s if it
// succeeds, or, when keepOnNoNode (exists), if it finds no node; both under
// vis held shared, so no apply group is queued and committed in between.
func (s *Session) watchRead(ctx context.Context, path string, kind WatchKind, keepOnNoNode bool, read func(t *tree) error) (*Watch, error) {
	if err := validatePath(path, false); err != nil {
		return nil, err
	}
	if err := s.checkAuth(); err != nil {
		return nil, err
	}
	if s.linearizable {
		if err := s.n.barrier(ctx); err != nil {
			return nil, connErr(err)
		}
	} else if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.usable(); err != nil {
		return nil, err
	}
	wm := s.n.watches
	wm.vis.RLock()
	defer wm.vis.RUnlock()
	err := s.n.withTree(read)
	if err != nil && !(keepOnNoNode && errors.Is(err, ErrNoNode)) {
		return nil, err
	}
	wm.mu.Lock()
	defer wm.mu.Unlock()
	if err := s.usableLocked(); err != nil {
		return nil, err
	}
	return wm.register(s, path, kind, oneShotBuffer), err
}

// resync tells every watch that the tree was replaced by a raft snapshot at
// zxid (see Resynced) and ends, as Expired, the local sessions the new tree
// no longer holds. The caller holds vis exclusively across the swap, so no
// read sees the old tree after its watch got Resynced, nor the new one
// before.
func (wm *watchManager) resync(zxid int64, live func(id int64) bool) {
	wm.mu.Lock()
	defer wm.mu.Unlock()
	wm.fireAll(Resynced, zxid)
	for id, s := range wm.sessions {
		if !live(id) {
			wm.endSession(s, StateExpired, zxid)
		}
	}
	wm.applied = zxid
}

// fireAll delivers an event of type typ at zxid to every watch (one-shot
// watches are used up) and once to each session's event channel. The caller
// holds wm.mu.
func (wm *watchManager) fireAll(typ EventType, zxid int64) {
	wm.seq++
	for k := range wm.byKind {
		once := WatchKind(k) == DataWatch || WatchKind(k) == ChildWatch
		for _, set := range wm.byKind[k] {
			for w := range set {
				e := Event{Type: typ, Path: w.path, Zxid: zxid, State: w.s.state}
				wm.deliver(w, e)
				if w.s.lastSeq != wm.seq {
					w.s.lastSeq = wm.seq
					wm.deliverSession(w.s, e)
				}
				if once {
					wm.drop(w)
				}
			}
		}
	}
}

// counts returns the number of this member's open sessions and of their
// watches.
func (wm *watchManager) counts() (sessions, watches int) {
	wm.mu.Lock()
	defer wm.mu.Unlock()
	for _, s := range wm.sessions {
		watches += len(s.watches)
	}
	return len(wm.sessions), watches
}
