package realzk

import (
	"errors"
	"os"
	"syscall"
	"testing"
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
