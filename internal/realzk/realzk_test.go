package realzk

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestStartStop starts a server, sees it answer, stops it and checks that
// its process is gone.
func TestStartStop(t *testing.T) {
	s := Start(t, Options{ExtendedTypes: true, SuperDigest: "super:D/InIHSb7yEEbrWz8b9l71RjZJU="})
	if ok, err := s.ruok(); !ok {
		t.Fatalf("ruok on %s: %v", s.Addr, err)
	}
	m, err := s.Metrics()
	if err != nil || m["zk_server_state"] != "standalone" {
		t.Fatalf("mntr: %v %v", m, err)
	}
	pid := s.Pid()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	// Reaped by the waiting goroutine: the pid names no process of ours.
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("pid %d after stop: kill 0 = %v", pid, err)
	}
	if _, err := s.ruok(); err == nil {
		t.Fatalf("%s still answers after stop", s.Addr)
	}
	if _, err := os.Stat(s.log); err != nil {
		t.Fatalf("log: %v", err)
	}
}

// TestEnsembleKillRestart starts a three-member quorum, kills its leader,
// sees another member take over, and restarts the killed one.
func TestEnsembleKillRestart(t *testing.T) {
	e := StartEnsemble(t, 3, Options{TickTime: 500 * time.Millisecond})
	if n := len(e.Addrs()); n != 3 {
		t.Fatalf("%d addresses", n)
	}
	leader := waitLeader(t, e, -1)
	pid := e.Pid(leader)
	e.Kill(t, leader)
	if e.Pid(leader) != 0 {
		t.Fatalf("member %d still has a pid after Kill", leader)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("pid %d after kill: kill 0 = %v", pid, err)
	}
	if next := waitLeader(t, e, leader); next == leader {
		t.Fatalf("killed member %d still leads", leader)
	}
	e.Restart(t, leader)
	m, err := e.members[leader].srv.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	if st := m["zk_server_state"]; st != "follower" && st != "leader" {
		t.Fatalf("restarted member %d is %q", leader, st)
	}
}

// waitLeader waits until a member other than not leads.
func waitLeader(t *testing.T, e *Ensemble, not int) int {
	t.Helper()
	deadline := time.Now().Add(StartTimeout)
	for time.Now().Before(deadline) {
		if l := e.Leader(); l >= 0 && l != not {
			return l
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no leader other than %d within %v", not, StartTimeout)
	return -1
}
