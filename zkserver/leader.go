package zkserver

import (
	"context"
	"time"

	"github.com/keeper-go/keeper"
)

// leaderGrace is how long a connection waits for its member to know a
// leader again (an election after the leader died) before giving up on
// it: a third of the session's timeout, the interval at which clients
// ping, so the client still has time to move to another member before
// its session expires. A ZooKeeper server drops its clients at once when
// it loses its leader; keeper holds them through an election, which is
// what makes its failover quick.
func (c *conn) leaderGrace() time.Duration { return max(c.timeout/3, 100*time.Millisecond) }

// awaitLeader waits, at most grace and while ctx lasts, until the member
// knows a leader.
func (c *conn) awaitLeader(ctx context.Context, grace time.Duration) {
	if c.srv.n.Leader() != 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	_, _ = c.srv.n.WaitLeader(ctx)
}

// awaitConnected waits, at most the leader grace and while ctx lasts,
// until the session is connected, so that a request read during an
// election is served after it rather than failed.
func (c *conn) awaitConnected(ctx context.Context) {
	if c.sess.State() == keeper.StateConnected {
		return // the common case, read without a lock
	}
	deadline := time.Now().Add(c.leaderGrace())
	c.awaitLeader(ctx, c.leaderGrace())
	// The session learns of the leader just after the member does.
	for c.sess.State() == keeper.StateDisconnected && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
}
