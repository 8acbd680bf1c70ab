package keeper

import (
	"testing"
	"time"
)

// A resumable session moved here by a ResumeSession that gave up (its
// handle never claimed) gets its full timeout from when it arrived, not
// none; and a member that finds a leader again gives every resumable
// session it holds a full timeout from then.
func TestResumableDueClocks(t *testing.T) {
	const member, nonce, id = 3, 77, 42
	sr := newSessionRegistry(member, nonce)
	sr.setConnected(true)
	due := func(id int64, timeout time.Duration) (closeIt, expire bool) {
		c := []dueCheck{{id: id, timeout: timeout}}
		sr.resumablesDue(c)
		return c[0].close, c[0].expire
	}
	sr.queue([]treeEvent{{Type: evSessionMoved, Session: id, Owner: member, Nonce: nonce, Zxid: 10}})
	if closeIt, expire := due(id, time.Hour); closeIt || expire {
		t.Fatalf("an unclaimed handle just moved here: close %v expire %v, want neither", closeIt, expire)
	}
	if _, expire := due(id, 0); !expire {
		t.Fatal("a zero timeout did not expire the unclaimed handle")
	}
	// A session of an earlier incarnation, with no handle: due after its
	// timeout from the first look, or from the leader's return.
	const old = 43
	if _, expire := due(old, 50*time.Millisecond); expire {
		t.Fatal("a session with no handle expired at the first look")
	}
	time.Sleep(60 * time.Millisecond) // the timeout passes (no condition to wait on: it is the clock)
	sr.setConnected(false)
	sr.setConnected(true)
	if _, expire := due(old, 50*time.Millisecond); expire {
		t.Fatal("a session expired right after its member found a leader again")
	}
}
