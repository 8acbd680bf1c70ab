package keeper_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

// resumable retries NewSession for a resumable session while the cluster
// settles.
func resumable(ctx context.Context, t *testing.T, n *keeper.Node, timeout time.Duration) *keeper.Session {
	t.Helper()
	for {
		s, err := n.NewSession(ctx, keeper.SessionOptions{Timeout: timeout, Resumable: true})
		if err == nil {
			return s
		}
		if !errors.Is(err, keeper.ErrConnectionLoss) && !errors.Is(err, keeper.ErrIndeterminate) || ctx.Err() != nil {
			t.Fatalf("member %d: NewSession: %v", n.ID(), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// resume retries ResumeSession while the cluster settles.
func resume(ctx context.Context, t *testing.T, n *keeper.Node, id keeper.SessionID, pw []byte) *keeper.Session {
	t.Helper()
	for {
		s, err := n.ResumeSession(ctx, id, pw, keeper.SessionOptions{})
		if err == nil {
			return s
		}
		if !errors.Is(err, keeper.ErrConnectionLoss) && !errors.Is(err, keeper.ErrIndeterminate) || ctx.Err() != nil {
			t.Fatalf("member %d: ResumeSession: %v", n.ID(), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// toucher touches s every period until stop is called, as a ZooKeeper
// client's pings do.
func toucher(s *keeper.Session, period time.Duration) (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		tk := time.NewTicker(period)
		defer tk.Stop()
		for {
			s.Touch()
			select {
			case <-done:
				return
			case <-tk.C:
			}
		}
	}()
	return func() { close(done); <-exited }
}

// A resumable session moves to the member its client resumes it on: the
// old member's handle turns Moved and refuses calls with ErrSessionMoved,
// the session and its ephemerals live on, and only its password resumes it.
func TestResumableSessionMoves(t *testing.T) {
	c := keepertest.NewCluster(t, 3)
	ctx := ctxFor(t, 30*time.Second)
	n1, n2 := c.Node(1), c.Node(2)
	s1 := resumable(ctx, t, n1, 10*time.Second)
	pw := s1.Password()
	if len(pw) != 16 {
		t.Fatalf("password of %d bytes, want 16", len(pw))
	}
	other := resumable(ctx, t, n1, 10*time.Second)
	if bytes.Equal(other.Password(), pw) {
		t.Fatal("two sessions got the same password")
	}
	if err := other.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s1.Create(ctx, "/e", nil, keeper.Ephemeral); err != nil {
		t.Fatal(err)
	}
	wrong := bytes.Clone(pw)
	wrong[0] ^= 1
	if _, err := n2.ResumeSession(ctx, s1.ID(), wrong, keeper.SessionOptions{}); !errors.Is(err, keeper.ErrSessionExpired) {
		t.Fatalf("resume with a wrong password: %v, want ErrSessionExpired", err)
	}
	if _, err := n2.ResumeSession(ctx, other.ID(), other.Password(), keeper.SessionOptions{}); !errors.Is(err, keeper.ErrSessionExpired) {
		t.Fatalf("resume of a closed session: %v, want ErrSessionExpired", err)
	}
	if s1.State() != keeper.StateConnected {
		t.Fatalf("a refused resume changed the session's state to %v", s1.State())
	}
	s2 := resume(ctx, t, n2, s1.ID(), pw)
	if s2.ID() != s1.ID() || s2.Timeout() != s1.Timeout() || !bytes.Equal(s2.Password(), pw) {
		t.Fatalf("resumed session %#x timeout %v, want %#x timeout %v", s2.ID(), s2.Timeout(), s1.ID(), s1.Timeout())
	}
	waitFor(t, 10*time.Second, "the old handle to turn Moved", func() bool { return s1.State() == keeper.StateMoved })
	if _, err := s1.Create(ctx, "/x", nil, keeper.Persistent); !errors.Is(err, keeper.ErrSessionMoved) {
		t.Fatalf("write through the old member: %v, want ErrSessionMoved", err)
	}
	if err := s1.Close(ctx); !errors.Is(err, keeper.ErrSessionMoved) {
		t.Fatalf("close through the old member: %v, want ErrSessionMoved", err)
	}
	_, stat, err := s2.Get(ctx, "/e")
	if err != nil || stat.EphemeralOwner != s1.ID() {
		t.Fatalf("the ephemeral after the move: %+v, %v", stat, err)
	}
	if _, err := s2.Create(ctx, "/e2", nil, keeper.Ephemeral); err != nil {
		t.Fatal(err)
	}
	// Resuming where it is already replaces the handle there.
	again := resume(ctx, t, n2, s1.ID(), pw)
	if again == s2 || again.ID() != s2.ID() || s2.State() != keeper.StateMoved {
		t.Fatalf("a resume on the owning member: same handle %v, old handle %v", again == s2, s2.State())
	}
	if _, err := s2.Create(ctx, "/x", nil, keeper.Persistent); !errors.Is(err, keeper.ErrSessionMoved) {
		t.Fatalf("write through the replaced handle: %v, want ErrSessionMoved", err)
	}
	s2 = again
	if err := s2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the ephemerals to go with the close", func() bool {
		return !exists(ctx, t, &n1.Client, "/e") && !exists(ctx, t, &n1.Client, "/e2")
	})
}

// A resumable session lives while its client touches it, whichever member
// serves it, survives the death of the member serving it if the client
// resumes it elsewhere within its timeout, and expires, ephemerals and all,
// once its client goes silent for its timeout.
func TestResumableSessionLiveness(t *testing.T) {
	const timeout = time.Second
	c := keepertest.NewCluster(t, 3, fastSessions(timeout))
	ctx := ctxFor(t, 60*time.Second)
	c.WaitLeader()
	owner := c.Others(c.Leader().ID())[0]
	n := c.Node(owner)
	s := resumable(ctx, t, n, 2*timeout)
	stop := toucher(s, timeout/10)
	if _, err := s.Create(ctx, "/live", nil, keeper.Ephemeral); err != nil {
		t.Fatal(err)
	}
	// Touched, it outlives its timeout.
	hold := time.Now().Add(3 * s.Timeout() / 2)
	for time.Now().Before(hold) {
		if st := s.State(); st != keeper.StateConnected {
			t.Fatalf("a touched session turned %v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Its member dies; the client resumes it on another member in time.
	c.Kill(owner)
	stop()
	rest := c.Others(owner)
	s2 := resume(ctx, t, c.Node(rest[0]), s.ID(), s.Password())
	stop = toucher(s2, timeout/10)
	hold = time.Now().Add(3 * s2.Timeout() / 2)
	for time.Now().Before(hold) {
		if st := s2.State(); st != keeper.StateConnected {
			t.Fatalf("the resumed session turned %v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !exists(ctx, t, &c.Node(rest[1]).Client, "/live") {
		t.Fatal("the ephemeral went while its session was resumed and touched")
	}
	// The dead member comes back; its new incarnation leaves the moved
	// session alone.
	c.Restart(owner)
	if !exists(ctx, t, &s2.Client, "/live") {
		t.Fatal("the ephemeral went when the session's old member restarted")
	}
	// The client goes silent: the session expires.
	stop()
	waitFor(t, 10*s2.Timeout(), "the silent session to expire", func() bool { return s2.State() == keeper.StateExpired })
	waitFor(t, 10*time.Second, "its ephemeral to go", func() bool { return !exists(ctx, t, &c.Node(rest[1]).Client, "/live") })
	if _, err := c.Node(owner).ResumeSession(ctx, s2.ID(), s2.Password(), keeper.SessionOptions{}); !errors.Is(err, keeper.ErrSessionExpired) {
		t.Fatalf("resume of an expired session: %v, want ErrSessionExpired", err)
	}
}
