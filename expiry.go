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
// watchManager).
type sessionHost interface {
	// setConnected says whether the member knows a leader.
	setConnected(ok bool)
	// abandoned reports whether a session of this incarnation has no holder.
	abandoned(id int64, now, grace uint64) bool
}

// sessionTabler is implemented by state machines that keep sessions.
type sessionTabler interface {
	sessionTable() map[int64]*sessionRec
}

// heardFrom notes that member spoke to this one, renewing its sessions if
// this member leads.
func (r *replica) heardFrom(member uint64) {
	if r.heard != nil {
		r.heard[member] = r.ticks
	}
}

// checkSessions expires, as leader, the sessions of members not heard from
// for their timeout, and closes this member's abandoned sessions.
func (r *replica) checkSessions() {
	tbl, ok := r.sm.(sessionTabler)
	if !ok || r.lead == 0 {
		return
	}
	now := r.ticks
	leader := r.role == raftLeader
	grace := uint64(2 * closeRetryTicks)
	sessions := tbl.sessionTable()
	for id, s := range sessions {
		if t, ok := r.closing[id]; ok && now-t < closeRetryTicks {
			continue
		}
		switch {
		case s.Owner == r.id:
			if s.Nonce != r.nonce || (r.sessHost != nil && r.sessHost.abandoned(id, now, grace)) {
				r.proposeClose(id, false)
			}
		case leader:
			last := max(r.heard[s.Owner], r.leaderSince)
			if time.Duration(now-last)*r.ticker >= time.Duration(s.Timeout)*time.Millisecond {
				r.log.Debug("expiring session", "session", id, "owner", s.Owner)
				r.proposeClose(id, true)
			}
		}
	}
	for id := range r.closing {
		if sessions[id] == nil {
			delete(r.closing, id)
		}
	}
}

// proposeClose proposes ending session id from the loop; no caller waits.
func (r *replica) proposeClose(id int64, expire bool) {
	req := request{Kind: reqCloseSession, Time: time.Now().UnixMilli(), Session: id, Expire: expire}
	if err := r.rn.Propose(wire.EncodeEnvelope(r.id, 0, appendRequest(nil, &req))); err != nil {
		r.log.Debug("propose session close", "session", id, "err", err)
		return
	}
	r.closing[id] = r.ticks
}

// roleChanged resets the expiry clocks when this member becomes leader:
// every session gets a fresh full timeout.
func (r *replica) roleChanged(wasLeader bool) {
	if r.role == raftLeader && !wasLeader {
		r.leaderSince = r.ticks
		clear(r.heard)
		clear(r.closing)
	}
}

// connectedChanged tells the session host whether a leader is known.
func (r *replica) connectedChanged() {
	ok := r.lead != 0
	if ok == r.connected || r.sessHost == nil {
		return
	}
	r.connected = ok
	r.sessHost.setConnected(ok)
}
