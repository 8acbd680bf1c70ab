package keeper

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"
)

// sessionRegistry holds the sessions this member's incarnation created (or
// that moved here) and the watch index. mu guards both and the sessions'
// own states (the Session methods named ...Locked run with it held); it is
// held only briefly, never across a commit.
type sessionRegistry struct {
	mu        sync.Mutex
	sessions  map[int64]*Session
	index     watchIndex
	member    uint64
	nonce     uint64
	connected bool
	applied   int64 // zxid of the last published group
	// start is the registry's epoch for the resumable sessions' touch
	// clock (monotonic).
	start time.Time
	// unheld holds, for resumable sessions this member owns but holds no
	// handle of (an earlier incarnation's), the clock when first looked
	// at: their clients have that long plus the timeout to resume them.
	unheld map[int64]int64
	// deferWakes is set while queue runs: the EventsOnly queues it pushes
	// to gather in wakes, to be signalled once it released mu, so that the
	// thousands of consumers one change can wake run after the loop has
	// queued the change's every event, not in its way (see wake).
	deferWakes bool
	wakes      []*eventQueue
}

func newSessionRegistry(member, nonce uint64) *sessionRegistry {
	sr := &sessionRegistry{sessions: make(map[int64]*Session), member: member, nonce: nonce, start: time.Now(), unheld: make(map[int64]int64)}
	sr.index.init()
	return sr
}

// clock is the touch clock of resumable sessions: nanoseconds since the
// registry began, monotonic.
func (sr *sessionRegistry) clock() int64 { return int64(time.Since(sr.start)) }

// wake signals the consumer of q, an EventsOnly session's queue that got
// events or ended, or, while queue runs, lists q to be signalled when it
// is done. mu is held.
func (sr *sessionRegistry) wake(q *eventQueue) {
	switch {
	case !sr.deferWakes:
		q.signal()
	case !q.listed:
		q.listed = true
		sr.wakes = append(sr.wakes, q)
	}
}

// queue triggers the watches and session changes of events, then wakes
// the consumers of the EventsOnly sessions that got events. A consumer
// takes every event queued by then whether or not its signal came yet, so
// signalling after mu is released changes no order.
func (sr *sessionRegistry) queue(events []treeEvent) {
	for _, q := range sr.queueUnsignalled(events) {
		q.signal()
	}
}

// queueUnsignalled is queue's work under mu; it returns the queues to
// signal.
func (sr *sessionRegistry) queueUnsignalled(events []treeEvent) (wakes []*eventQueue) {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	sr.deferWakes = true
	defer func() {
		sr.deferWakes = false
		wakes, sr.wakes = sr.wakes, nil
		for _, q := range wakes {
			q.listed = false
		}
	}()
	sr.queueLocked(events)
	return nil
}

func (sr *sessionRegistry) queueLocked(events []treeEvent) {
	for i := range events {
		ev := &events[i]
		switch ev.Type {
		case evSessionCreated:
			if ev.Owner == sr.member && ev.Nonce == sr.nonce {
				sr.sessions[ev.Session] = newLocalSession(sr, ev.Session, sr.stateNow())
			}
		case evSessionMoved:
			delete(sr.unheld, ev.Session)
			if s := sr.sessions[ev.Session]; s != nil {
				sr.endSession(s, StateMoved, ev.Zxid)
			}
			if ev.Owner == sr.member && ev.Nonce == sr.nonce {
				sr.sessions[ev.Session] = newLocalSession(sr, ev.Session, sr.stateNow())
			}
		case evSessionEnded:
			delete(sr.unheld, ev.Session)
			if s := sr.sessions[ev.Session]; s != nil {
				st := StateClosed
				if ev.Expired {
					st = StateExpired
				}
				sr.endSession(s, st, ev.Zxid)
			}
		case evRestored:
			sr.index.fireAll(Restored, ev.Zxid)
		default:
			sr.index.trigger(ev)
		}
		sr.applied = ev.Zxid
	}
}

func (sr *sessionRegistry) stateNow() SessionState {
	if sr.connected {
		return StateConnected
	}
	return StateDisconnected
}

// locked runs f with mu held: the sessions' own methods named ...Locked
// run inside it.
func (sr *sessionRegistry) locked(f func()) {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	f()
}

// claim hands the session created at id to the NewSession call that
// created it, after setup ran on it under mu; nil if the session ended
// already.
func (sr *sessionRegistry) claim(id int64, setup func(s *Session)) *Session {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	s := sr.sessions[id]
	if s != nil {
		setup(s)
	}
	return s
}

// rehandle replaces this incarnation's live, claimed handle of session id
// by a new one, set up by setup, for ResumeSession: the old handle turns
// StateMoved (its watches end), as a ZooKeeper server closes a session's
// old connection when its client reconnects. It returns nil, changing
// nothing, if this incarnation holds no such handle.
func (sr *sessionRegistry) rehandle(id int64, setup func(s *Session)) *Session {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	old := sr.sessions[id]
	if old == nil || !old.claimed || old.state.final() {
		return nil
	}
	sr.setState(old, StateMoved, sr.applied)
	s := newLocalSession(sr, id, sr.stateNow())
	setup(s)
	sr.sessions[id] = s
	return s
}

// resumablesDue sets, for each check, whether resumable session id, owned
// by this member, should end (see resumableDue), with mu taken and the
// clock read once for all.
func (sr *sessionRegistry) resumablesDue(checks []dueCheck) {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	now := sr.clock()
	for i := range checks {
		c := &checks[i]
		c.close, c.expire = sr.resumableDue(c.id, c.timeout, now)
	}
}

// resumableDue reports whether resumable session id, owned by this member,
// should end: close when its handle was closed here without the cluster
// hearing of it, expire when its client was not heard from for timeout
// (touches of its handle; for a session with no handle here, since the
// registry first looked at it). now is the clock; mu is held.
func (sr *sessionRegistry) resumableDue(id int64, timeout time.Duration, now int64) (close, expire bool) {
	last := now
	if s := sr.sessions[id]; s != nil {
		if s.closedLocally {
			return true, false
		}
		last = s.touched.Load()
		if !s.claimed {
			// Created or moved here by a call that gave up: its client
			// never got it, so the clock runs from when it was made.
			last = now
			if seen, ok := sr.unheld[id]; ok {
				last = seen
			} else {
				sr.unheld[id] = now
			}
		}
	} else if seen, ok := sr.unheld[id]; ok {
		last = seen
	} else {
		sr.unheld[id] = now
	}
	return false, time.Duration(now-last) >= timeout
}

// addWatch registers a watch of kind on path for s with a channel of
// buffer events, if s is usable.
func (sr *sessionRegistry) addWatch(s *Session, path string, kind WatchKind, buffer int) (*Watch, error) {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if err := s.usableLocked(); err != nil {
		return nil, err
	}
	return sr.index.register(s, path, kind, buffer), nil
}

// removeWatches removes s's watches of kind on path, if s is usable (see
// watchIndex.remove).
func (sr *sessionRegistry) removeWatches(s *Session, path string, kind WatchKind) error {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if err := s.usableLocked(); err != nil {
		return err
	}
	return sr.index.remove(s, path, kind, sr.applied)
}

// hasWatches reports whether s has a watch of kind (AnyWatch: any) on path.
func (sr *sessionRegistry) hasWatches(s *Session, path string, kind WatchKind) bool {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	return len(sr.index.find(s, path, kind)) > 0
}

// watchesOf returns s's live watches, sorted by path and then kind.
func (sr *sessionRegistry) watchesOf(s *Session) []*Watch {
	sr.mu.Lock()
	out := make([]*Watch, 0, len(s.watches))
	for w := range s.watches {
		out = append(out, w)
	}
	sr.mu.Unlock()
	slices.SortFunc(out, func(a, b *Watch) int {
		if c := strings.Compare(a.path, b.path); c != 0 {
			return c
		}
		return cmp.Compare(a.kind, b.kind)
	})
	return out
}

// closeLocally ends s as Closed here when Close could not end it in the
// cluster (yet); the raft loop proposes the close again.
func (sr *sessionRegistry) closeLocally(s *Session) {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	s.closeLocallyLocked(sr.applied, sr.index.drop)
}

// setState moves s to st and tells its watches; Expired and Closed end
// them. mu is held.
func (sr *sessionRegistry) setState(s *Session, st SessionState, zxid int64) {
	s.setStateLocked(st, zxid, sr.index.drop)
}

// endSession finishes s as Closed or Expired. mu is held.
func (sr *sessionRegistry) endSession(s *Session, st SessionState, zxid int64) {
	sr.setState(s, st, zxid)
	delete(sr.sessions, int64(s.ID()))
}

// setConnected records whether this member knows a leader and moves every
// live session between Connected and Disconnected. The raft loop calls it
// when its leader appears or goes.
func (sr *sessionRegistry) setConnected(ok bool) {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if sr.connected == ok {
		return
	}
	sr.connected = ok
	st := sr.stateNow()
	for _, s := range sr.sessions {
		sr.setState(s, st, sr.applied)
	}
	if ok {
		// As a new ZooKeeper leader does, give every resumable session a
		// full timeout from here: while no leader was known its client
		// could not reach it, and nothing expires a session meanwhile.
		now := sr.clock()
		for _, s := range sr.sessions {
			if s.password != nil {
				s.touched.Store(now)
			}
		}
		for id := range sr.unheld {
			sr.unheld[id] = now
		}
	}
}

// abandoned reports whether session id, owned by this incarnation, has no
// holder any more: closed locally without the cluster hearing of it, or
// created by a NewSession that gave up before claiming it. The raft loop
// proposes closing such sessions.
func (sr *sessionRegistry) abandoned(id int64, now uint64, grace uint64) bool {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	s := sr.sessions[id]
	return s == nil || s.unheldLocked(now, grace)
}

// closeAll ends every session as Closed when the member closes.
func (sr *sessionRegistry) closeAll() {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	for _, s := range sr.sessions {
		sr.endSession(s, StateClosed, sr.applied)
	}
}

// resync tells every watch that the tree was replaced by a raft snapshot at
// zxid (see Resynced) and ends, as Expired, the local sessions the new tree
// no longer holds. The read gate calls it from swap, with its locks held
// exclusively across the swap, so no read sees the old tree after its
// watch got Resynced, nor the new one before.
func (sr *sessionRegistry) resync(zxid int64, live func(id int64) bool) {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	sr.index.fireAll(Resynced, zxid)
	for id, s := range sr.sessions {
		if !live(id) {
			sr.endSession(s, StateExpired, zxid)
		}
	}
	sr.applied = zxid
}

// counts returns the number of this member's open sessions and of their
// watches.
func (sr *sessionRegistry) counts() (sessions, watches int) {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	return len(sr.sessions), sr.index.size()
}
