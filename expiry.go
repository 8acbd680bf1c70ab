package keeper

import (
	"time"

	"github.com/keeper-go/keeper/internal/wire"
)

// This file is the raft loop's part of sessions (see session.go for the
// model): the leader's expiry of sessions whose member it no longer hears,
// and every member's closing of its own sessions that nothing holds. Both
// propose ordinary close entries from the loop; the apply decides.

// sessionCheckEvery is how often, in ticks, the loop looks at sessions; it
// is the precision of expiry.
const sessionCheckEvery = 5

// closeRetryTicks is how long the loop waits for a close it proposed to
// apply before proposing it again (the proposal may have been lost).
const closeRetryTicks = 100

// sessionHost is the member-local side of sessions the loop talks to (the
// sessionRegistry).
type sessionHost interface {
	// setConnected says whether the member knows a leader.
	setConnected(ok bool)
	// abandoned reports whether a session of this incarnation has no holder.
	abandoned(id int64, now, grace uint64) bool
	// resumablesDue sets, for each check of a resumable session this
	// member owns, whether the session should be closed or expired: all
	// of them in one call, since a member serving many clients owns
	// thousands.
	resumablesDue(checks []dueCheck)
}

// dueCheck is one resumable session sessionHost.resumablesDue looks at:
// its id and timeout, and its answers.
type dueCheck struct {
	id            int64
	timeout       time.Duration
	close, expire bool
}

// sessionExpiry is the raft loop's session feature. It lives on the loop
// goroutine; the loop calls tick every sessionCheckEvery ticks,
// roleChanged after a Ready that changed the role and leaderChanged after
// one that changed the leader.
type sessionExpiry struct {
	loop  loopView
	host  sessionHost // the member's local sessions
	nonce uint64      // this incarnation's session nonce
	// leaderSince is the tick this member last became leader: every
	// session's clock starts there at the latest.
	leaderSince uint64
	closing     map[int64]uint64 // session -> tick its close was proposed
	connected   bool             // last told to host
	due         []dueCheck       // tick's, kept for the next
}

func newSessionExpiry(loop loopView, host sessionHost, nonce uint64) *sessionExpiry {
	return &sessionExpiry{loop: loop, host: host, nonce: nonce, closing: make(map[int64]uint64)}
}

// tick expires, as leader, the sessions of members not heard from for their
// timeout, and closes this member's abandoned sessions.
func (e *sessionExpiry) tick() {
	sessions := e.loop.sessions()
	if e.loop.leaderID() == 0 {
		return
	}
	now := e.loop.now()
	leader := e.loop.leading()
	self := e.loop.memberID()
	grace := uint64(2 * closeRetryTicks)
	e.due = e.due[:0]
	for id, s := range sessions {
		if t, ok := e.closing[id]; ok && now-t < closeRetryTicks {
			continue
		}
		switch {
		case s.Owner == self && s.resumable():
			// Its client keeps it alive, wherever it connects; this member
			// serves it now, so it watches the client's touches.
			e.due = append(e.due, dueCheck{id: id, timeout: time.Duration(s.Timeout) * time.Millisecond})
		case s.Owner == self:
			if s.Nonce != e.nonce || e.host.abandoned(id, now, grace) {
				e.proposeClose(id, false, s)
			}
		case leader:
			heard, _ := e.loop.lastHeard(s.Owner)
			last := max(heard, e.leaderSince)
			if time.Duration(now-last)*e.loop.tickInterval() >= time.Duration(s.Timeout)*time.Millisecond {
				e.loop.logger().Debug("expiring session", "session", id, "owner", s.Owner)
				e.proposeClose(id, true, s)
			}
		}
	}
	if len(e.due) > 0 {
		e.host.resumablesDue(e.due)
		for _, d := range e.due {
			if d.close || d.expire {
				e.loop.logger().Debug("ending resumable session", "session", d.id, "expire", d.expire)
				e.proposeClose(d.id, d.expire, sessions[d.id])
			}
		}
	}
	for id := range e.closing {
		if sessions[id] == nil {
			delete(e.closing, id)
		}
	}
}

// proposeClose proposes ending session id, as rec shows it, from the loop;
// no caller waits. The close is conditional on rec's owner: a session that
// moved meanwhile lives on.
func (e *sessionExpiry) proposeClose(id int64, expire bool, rec *sessionRec) {
	req := request{Kind: reqCloseSession, Time: time.Now().UnixMilli(), Session: id, Expire: expire, IfOwner: rec.Owner, IfNonce: rec.Nonce}
	if err := e.loop.proposeEntry(wire.EncodeEnvelope(e.loop.memberID(), 0, appendRequest(nil, &req))); err != nil {
		e.loop.logger().Debug("propose session close", "session", id, "err", err)
		return
	}
	e.closing[id] = e.loop.now()
}

// roleChanged resets the expiry clocks when this member becomes leader:
// every session gets a fresh full timeout (the loop forgets when it last
// heard each member at the same moment).
func (e *sessionExpiry) roleChanged(wasLeader bool) {
	if e.loop.leading() && !wasLeader {
		e.leaderSince = e.loop.now()
		clear(e.closing)
	}
}

// leaderChanged tells the session host whether a leader is known.
func (e *sessionExpiry) leaderChanged() {
	ok := e.loop.leaderID() != 0
	if ok == e.connected {
		return
	}
	e.connected = ok
	e.host.setConnected(ok)
}
