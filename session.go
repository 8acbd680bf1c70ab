package keeper

import (
	"bytes"
	"context"
	cryptorand "crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Sessions.
//
// A session is created and ended through raft: its id is the zxid of the
// entry that created it, and its record (timeout, owner member, owner
// incarnation) is replicated in the tree, in the digest, so it survives
// restarts and replicas agree on it. A session lives on the member that
// created it (its owner) and is served only there: its watches are that
// member's, and its state follows that member's link to the quorum.
//
// Liveness and renewals. In-process, a session cannot outlive its member,
// so a session is alive exactly while its owner member is: the leader renews
// every session of a member whenever it hears from that member, which raft's
// heartbeat responses and append acknowledgements do many times a second.
// Renewals therefore cost no log entry and no extra frame: they ride on
// raft's own traffic. The leader alone decides expiry, in its raft loop: a
// session whose owner it has not heard from for the session's timeout is
// expired by a close entry carrying Expire, which deletes its ephemerals at
// one zxid on every replica. A new leader starts every session's clock
// afresh, so a leader change expires no healthy session. The leader's own
// sessions never expire: a leader cut off from the quorum steps down.
//
// A member that restarts finds sessions of its previous incarnation in the
// tree (their nonce differs from its own); it proposes closing them, as
// nothing can hold them any more. It does the same for sessions closed
// locally while no leader was known.
//
// The client view follows ZooKeeper's client state machine: Connected while
// the member knows a leader; Disconnected at once when it knows none (a
// partitioned follower after its election timeout, a leader that lost the
// quorum after check-quorum): writes and reads then fail with
// ErrConnectionLoss. On healing the session is Connected again, or, if the
// cluster expired it meanwhile, Expired when the member applies the expiry.

// SessionState is a session's state as its client sees it.
type SessionState int

const (
	// StateConnected: the serving member is part of a quorum with a leader.
	StateConnected SessionState = iota + 1
	// StateDisconnected: the serving member knows no leader; calls fail
	// with ErrConnectionLoss until it does again.
	StateDisconnected
	// StateExpired: the cluster expired the session; its ephemerals are gone.
	// Final.
	StateExpired
	// StateClosed: Close ended the session, or its member closed. Final.
	StateClosed
	// StateMoved: the session's client resumed it on another member
	// (Node.ResumeSession); this member's handle of it is done, calls
	// through it fail with ErrSessionMoved. Final for the handle only: the
	// session lives on where it moved.
	StateMoved
)

func (s SessionState) String() string {
	switch s {
	case StateConnected:
		return "Connected"
	case StateDisconnected:
		return "Disconnected"
	case StateExpired:
		return "Expired"
	case StateClosed:
		return "Closed"
	case StateMoved:
		return "Moved"
	}
	return fmt.Sprintf("SessionState(%d)", int(s))
}

func (s SessionState) final() bool {
	return s == StateExpired || s == StateClosed || s == StateMoved
}

// SessionOptions configure NewSession.
type SessionOptions struct {
	// Timeout is the requested session timeout. It is clamped into
	// [Config.MinSessionTimeout, Config.MaxSessionTimeout], as ZooKeeper
	// negotiates it; zero asks for the minimum.
	Timeout time.Duration
	// WatchBuffer is the channel buffer of each persistent watch (AddWatch)
	// and of the session-wide channel, in events. Default
	// DefaultWatchBuffer. One-shot watches need few.
	WatchBuffer int
	// Events gives the session a session-wide channel (Session.Events)
	// carrying every state change and, once per change however many of
	// the session's watches fire for it, every watch event, in the order
	// they were queued: zxid order, state changes in place.
	Events bool
	// EventsOnly, with Events, queues every event of the session for one
	// consumer, as a ZooKeeper connection has: the session's watches get
	// no channels of their own (Watch.Events is nil), and instead of the
	// Events channel, with its fixed buffer, the events wait in a queue
	// that grows with a burst and costs nothing when idle; the consumer
	// takes them with TakeEvents when EventsReady signals.
	EventsOnly bool
	// Resumable makes a session for a client outside this process, as a
	// ZooKeeper client holds one over its connection: it gets a random
	// password (Session.Password), it lives while its client is heard from
	// (Session.Touch) within its timeout rather than while this member
	// lives, and its client can resume it on any member of the cluster with
	// Node.ResumeSession, which moves it there.
	Resumable bool
}

// Session is a ZooKeeper session served by one member: the tree operations
// of Client, run as the session (ephemeral creates belong to it), plus
// watches. A Session is safe for concurrent use.
type Session struct {
	// Client carries the tree operations, run as this session. Derived
	// clients (WithAuth, Linearizable) stay bound to the session.
	Client

	id      int64
	timeout time.Duration
	buffer  int
	reg     *sessionRegistry // the member's registry of sessions and watches

	// Guarded by reg's mu; the methods named ...Locked run with it held.
	state         SessionState
	watches       map[*Watch]struct{}
	claimed       bool   // NewSession returned it
	closedLocally bool   // Close gave up before the cluster ended it
	seenTick      uint64 // loop tick it was first found unclaimed
	events        chan Event
	eventsDone    bool   // events overflowed or the session ended
	lastSeq       uint64 // last triggered event queued on events

	eventsOnly bool        // watches deliver on queue only (SessionOptions.EventsOnly)
	queue      *eventQueue // an EventsOnly session's events

	stateNow atomic.Int32 // state, for State without the registry's lock

	password []byte       // a resumable session's; nil otherwise
	touched  atomic.Int64 // a resumable session's last touch, reg.clock()
}

// NewSession creates a session on this member through raft and returns it
// Connected. Its ephemerals die with it; its watches live on this member.
// It fails with ErrConnectionLoss when no leader is known, and with an error
// matching ErrIndeterminate when the outcome is unknown (a session created
// that way is closed by the member soon after).
func (n *Node) NewSession(ctx context.Context, opts SessionOptions) (*Session, error) {
	if n.isClosed() {
		return nil, ErrClosed
	}
	timeout := n.r.cfg.clampSessionTimeout(opts.Timeout)
	r := request{Kind: reqCreateSession, Time: time.Now().UnixMilli(), Timeout: timeout.Milliseconds(), Owner: n.ID(), Nonce: n.nonce}
	if opts.Resumable {
		r.Password = make([]byte, sessionPasswordLen)
		if _, err := cryptorand.Read(r.Password); err != nil {
			return nil, fmt.Errorf("keeper: session password: %w", err)
		}
	}
	return n.proposeSession(ctx, &r, timeout, opts)
}

// proposeSession proposes r, which creates a session or moves one here,
// and returns the local session it made, claimed for its caller.
func (n *Node) proposeSession(ctx context.Context, r *request, timeout time.Duration, opts SessionOptions) (*Session, error) {
	payload, err := encodeRequest(nil, r)
	if err != nil {
		return nil, err
	}
	res, err := n.propose(ctx, payload)
	if err != nil {
		return nil, connErr(err)
	}
	if res.Err != nil {
		return nil, res.Err
	}
	s := n.watches.claim(res.Session, func(s *Session) { s.claimLocked(n, timeout, r.Password, opts) })
	if s == nil {
		// Ended already (the member is closing).
		return nil, fmt.Errorf("%w: session %#x ended before it was returned", ErrSessionClosed, res.Session)
	}
	return s, nil
}

// ResumeSession resumes, on this member, the resumable session id whose
// password is password, as a ZooKeeper client reconnecting to another
// server does. If another member (or an earlier incarnation of this one)
// holds it, the session moves here through raft: that member's handle
// turns StateMoved and its calls fail with ErrSessionMoved; its watches
// end, so the client sets them again. If this member holds it already, the
// same happens without a move (after a read barrier, so that the client
// reads its own earlier writes, as after a move): the old handle turns
// StateMoved and a new one is returned. A session that does not exist,
// is not resumable or has another password gets ErrSessionExpired, as
// ZooKeeper answers all three. opts gives the returned handle's watch
// buffer and events channel; the session keeps its negotiated timeout.
func (n *Node) ResumeSession(ctx context.Context, id SessionID, password []byte, opts SessionOptions) (*Session, error) {
	if n.isClosed() {
		return nil, ErrClosed
	}
	var rec *sessionRec
	if err := n.withTree(func(t *tree) (err error) {
		rec, err = t.storedSession(int64(id))
		return err
	}); err != nil {
		return nil, err
	}
	if rec == nil || !rec.resumable() || subtle.ConstantTimeCompare(rec.Password, password) != 1 {
		return nil, fmt.Errorf("%w: session %#x", ErrSessionExpired, int64(id))
	}
	timeout := time.Duration(rec.Timeout) * time.Millisecond
	if rec.Owner == n.ID() && rec.Nonce == n.nonce {
		// No move through raft orders this resume after the session's
		// earlier writes, some of which may still be on their way (a
		// write whose answer the client lost): wait until this member has
		// applied everything committed, as a move would.
		if err := n.barrier(ctx); err != nil {
			return nil, connErr(err)
		}
		if s := n.watches.rehandle(int64(id), func(s *Session) { s.claimLocked(n, timeout, rec.Password, opts) }); s != nil {
			return s, nil
		}
	}
	r := request{Kind: reqMoveSession, Time: time.Now().UnixMilli(), Session: int64(id), Owner: n.ID(), Nonce: n.nonce, Password: rec.Password}
	return n.proposeSession(ctx, &r, timeout, opts)
}

// newLocalSession is the session created at id on this member, as its
// create entry applies; NewSession claims it.
func newLocalSession(reg *sessionRegistry, id int64, st SessionState) *Session {
	s := &Session{id: id, reg: reg, state: st, watches: make(map[*Watch]struct{})}
	s.stateNow.Store(int32(st))
	return s
}

// claimLocked sets the session up for the NewSession or ResumeSession call
// on n that made it; password is a resumable session's.
func (s *Session) claimLocked(n *Node, timeout time.Duration, password []byte, opts SessionOptions) {
	s.Client = Client{n: n, session: s.id, sess: s}
	s.timeout = timeout
	s.password = bytes.Clone(password)
	s.touched.Store(s.reg.clock())
	s.buffer = opts.WatchBuffer
	if s.buffer <= 0 {
		s.buffer = DefaultWatchBuffer
	}
	switch {
	case opts.Events && opts.EventsOnly:
		s.queue = newEventQueue()
		s.eventsOnly = true
	case opts.Events:
		s.events = make(chan Event, s.buffer+1)
	}
	s.claimed = true
}

// Events returns the session-wide event channel if SessionOptions.Events
// was set without EventsOnly, else nil. It is closed after the session's final state event,
// or after a WatchOverflowed event if its consumer fell a whole buffer
// behind (the session and its watches carry on).
func (s *Session) Events() <-chan Event { return s.events }

// connErr maps "no leader" to ErrConnectionLoss for session callers.
func connErr(err error) error {
	if errors.Is(err, ErrNoLeader) {
		return fmt.Errorf("%w: %w", ErrConnectionLoss, err)
	}
	return err
}

// ID returns the session id: the zxid of the entry that created it.
func (s *Session) ID() SessionID { return SessionID(s.id) }

// Timeout returns the negotiated session timeout.
func (s *Session) Timeout() time.Duration { return s.timeout }

// Password returns a resumable session's password (a copy), which
// ResumeSession needs; nil for a session that is not resumable.
func (s *Session) Password() []byte { return bytes.Clone(s.password) }

// Touch records that the client of a resumable session was heard from now
// (a ZooKeeper client's ping or request). The member holding the session
// expires it when its client was not heard from for the session's
// timeout. Touch does nothing for a session that is not resumable, which
// lives as long as its member.
func (s *Session) Touch() {
	if s.password != nil {
		s.touched.Store(s.reg.clock())
	}
}

// State returns the session's current state.
func (s *Session) State() SessionState { return SessionState(s.stateNow.Load()) }

// usable returns the error a call on the session fails with, if any.
func (s *Session) usable() error {
	var err error
	s.reg.locked(func() { err = s.usableLocked() })
	return err
}

func (s *Session) usableLocked() error {
	if s.n.isClosed() {
		return ErrClosed
	}
	switch s.state {
	case StateDisconnected:
		return fmt.Errorf("%w: member %d knows no leader", ErrConnectionLoss, s.n.ID())
	case StateExpired:
		return fmt.Errorf("%w: session %#x", ErrSessionExpired, s.id)
	case StateClosed:
		return fmt.Errorf("%w: session %#x", ErrSessionClosed, s.id)
	case StateMoved:
		return fmt.Errorf("%w: session %#x", ErrSessionMoved, s.id)
	}
	return nil
}

// Close ends the session through raft: its ephemerals are deleted at one
// zxid, watchers told, and its watches end with a SessionStateChanged
// event to StateClosed. Closing a closed session returns nil; an expired
// one, ErrSessionExpired; one that moved to another member,
// ErrSessionMoved (it lives on there). If the cluster cannot be reached the session is
// closed here anyway and the error returned; the member closes it in the
// cluster once it can (or the leader expires it).
func (s *Session) Close(ctx context.Context) error {
	switch s.State() {
	case StateClosed:
		return nil
	case StateExpired:
		return fmt.Errorf("%w: session %#x", ErrSessionExpired, s.id)
	case StateMoved:
		return fmt.Errorf("%w: session %#x", ErrSessionMoved, s.id)
	}
	r := request{Kind: reqCloseSession, Time: time.Now().UnixMilli(), Session: s.id}
	if s.password != nil {
		// Only while it is still here: a client may have resumed it
		// elsewhere.
		r.IfOwner, r.IfNonce = s.n.ID(), s.n.nonce
	}
	payload, err := encodeRequest(nil, &r)
	if err == nil {
		var res *applyResult
		res, err = s.n.propose(ctx, payload)
		if err == nil && res.Err != nil && !errors.Is(res.Err, ErrSessionExpired) {
			err = res.Err
		}
		err = connErr(err)
	}
	s.reg.closeLocally(s)
	return err
}

// closeLocallyLocked ends the session as Closed at zxid if the cluster did
// not end it (yet): the raft loop proposes the close again.
func (s *Session) closeLocallyLocked(zxid int64, drop func(*Watch)) {
	if !s.state.final() {
		s.closedLocally = true
		s.setStateLocked(StateClosed, zxid, drop)
	}
}

// unheldLocked reports whether nothing holds the session any more: closed
// here without the cluster hearing of it, or not claimed by its NewSession
// call for grace ticks since now was first seen.
func (s *Session) unheldLocked(now, grace uint64) bool {
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

// setStateLocked moves the session to st and tells its watches and its
// session-wide channel; Expired and Closed end them (drop unregisters a
// watch from the registry).
func (s *Session) setStateLocked(st SessionState, zxid int64, drop func(*Watch)) {
	if s.state == st || s.state.final() {
		return
	}
	s.state = st
	s.stateNow.Store(int32(st))
	ev := Event{Type: SessionStateChanged, Zxid: Zxid(zxid), State: st}
	for w := range s.watches {
		if w.deliver(ev) {
			drop(w)
		}
	}
	s.queueLocked(ev)
	if st.final() {
		for w := range s.watches {
			drop(w)
		}
		if s.events != nil && !s.eventsDone {
			s.eventsDone = true
			close(s.events)
		}
		if s.queue != nil {
			s.queue.end()
			s.reg.wake(s.queue)
		}
	}
}

// fireLocked queues ev, stamped with the session's state, on its watch w
// and, once per triggered event seq however many of its watches fire, on
// the session-wide channel. It reports whether w overflowed: the registry
// then drops it.
func (s *Session) fireLocked(w *Watch, ev Event, seq uint64) (overflowed bool) {
	ev.State = s.state
	overflowed = w.deliver(ev)
	if s.lastSeq != seq {
		s.lastSeq = seq
		s.queueLocked(ev)
	}
	return overflowed
}

// notifyLocked queues ev, stamped with the session's state, on its watch w
// and on the session-wide channel; the caller drops w after.
func (s *Session) notifyLocked(w *Watch, ev Event) {
	ev.State = s.state
	w.deliver(ev)
	s.queueLocked(ev)
}

// queueLocked queues ev on the session-wide channel, if it has one, as
// Watch.deliver does for a watch; an overflow closes that channel only.
func (s *Session) queueLocked(ev Event) {
	if s.queue != nil {
		s.queue.push(ev, s.state)
		s.reg.wake(s.queue)
		return
	}
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

// addLocked and forgetLocked keep the session's set of its watches.
func (s *Session) addLocked(w *Watch)    { s.watches[w] = struct{}{} }
func (s *Session) forgetLocked(w *Watch) { delete(s.watches, w) }

// Ephemerals returns the sorted paths of the session's ephemeral znodes
// that start with prefix ("/" for all), as ZooKeeper's getEphemerals.
func (s *Session) Ephemerals(ctx context.Context, prefix string) (paths []string, err error) {
	err = s.read(ctx, func(t *tree) error {
		paths, err = t.ephemerals(s.id, prefix)
		return err
	})
	return paths, err
}

// GetW is Get that also sets a one-shot data watch on path, fired by its
// next NodeDataChanged or NodeDeleted. No watch is set if Get fails. The
// watch belongs to the session the client is bound to (a Session, or a
// client derived from one, with its identities); a client of no session
// gets ErrBadArguments.
func (c *Client) GetW(ctx context.Context, path string) (data []byte, stat Stat, w *Watch, err error) {
	w, err = c.watchRead(ctx, path, DataWatch, false, func(t *tree) error {
		data, stat, err = t.get(path, c.auth)
		return err
	})
	return data, stat, w, err
}

// ExistsW is Exists that also sets a one-shot data watch on path, fired by
// its next NodeCreated, NodeDataChanged or NodeDeleted. The watch is set
// whether or not path exists. Like GetW, it needs a client bound to a
// session.
func (c *Client) ExistsW(ctx context.Context, path string) (stat Stat, ok bool, w *Watch, err error) {
	w, err = c.watchRead(ctx, path, DataWatch, true, func(t *tree) error {
		stat, err = t.exists(path)
		return err
	})
	if errors.Is(err, ErrNoNode) {
		return Stat{}, false, w, nil
	}
	return stat, err == nil, w, err
}

// ChildrenW is Children that also sets a one-shot child watch on path,
// fired by its next NodeChildrenChanged or NodeDeleted. No watch is set if
// Children fails. Like GetW, it needs a client bound to a session.
func (c *Client) ChildrenW(ctx context.Context, path string) (names []string, stat Stat, w *Watch, err error) {
	w, err = c.watchRead(ctx, path, ChildWatch, false, func(t *tree) error {
		names, stat, err = t.children(path, c.auth)
		return err
	})
	return names, stat, w, err
}

// AddWatch sets a persistent watch (kind PersistentWatch or
// PersistentRecursive) on path, which need not exist, as ZooKeeper's
// addWatch. It stays until removed, overflowed or the session ends.
func (s *Session) AddWatch(ctx context.Context, path string, kind WatchKind) (*Watch, error) {
	if kind != PersistentWatch && kind != PersistentRecursive {
		return nil, fmt.Errorf("%w: AddWatch takes PersistentWatch or PersistentRecursive, not %v", ErrBadArguments, kind)
	}
	if err := validatePath(path, false); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.reg.addWatch(s, path, kind, s.buffer)
}

// RemoveWatches removes the session's watches of kind (AnyWatch: all
// kinds) on path; each gets a WatchRemoved event and its channel closes.
// It returns ErrNoWatcher if there were none.
func (s *Session) RemoveWatches(ctx context.Context, path string, kind WatchKind) error {
	if err := validatePath(path, false); err != nil {
		return err
	}
	if kind < AnyWatch || kind > PersistentRecursive {
		return fmt.Errorf("%w: unknown watch kind %d", ErrBadArguments, int(kind))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.reg.removeWatches(s, path, kind)
}

// HasWatches reports whether the session has a watch of kind (AnyWatch:
// any kind) on path on this member, as ZooKeeper's checkWatches asks.
func (s *Session) HasWatches(path string, kind WatchKind) bool {
	return s.reg.hasWatches(s, path, kind)
}

// Watches returns the session's watches on this member, sorted by path and
// then by kind, as ZooKeeper's wchc and wchp commands list a connection's.
// A session whose client set the same watch twice has it twice here.
func (s *Session) Watches() []*Watch {
	return s.reg.watchesOf(s)
}

// RemoveAllWatches removes every watch of the session on path, as
// RemoveWatches with AnyWatch.
func (s *Session) RemoveAllWatches(ctx context.Context, path string) error {
	return s.RemoveWatches(ctx, path, AnyWatch)
}
