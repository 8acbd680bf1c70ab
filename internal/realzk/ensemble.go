package realzk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Ensemble is a set of ZooKeeper servers forming one service: a single
// standalone server, or a quorum of members (QuorumPeerMain) that elect a
// leader among themselves. Each member keeps its data and log in its own
// directory of the test's temp dir and its ports for its whole life, so a
// member killed and restarted comes back as itself.
//
// Its methods may be called from several goroutines.
type Ensemble struct {
	o       Options
	mu      sync.Mutex
	members []*member
}

// member is one server of an Ensemble; srv is nil while it is killed.
type member struct {
	dir  string
	cfg  string
	port int // client port
	addr string
	srv  *Server
}

// StartEnsemble starts n servers (n = 1: a standalone server) and waits
// until every one serves clients. It skips t (fails it with CI=true) when
// ZooKeeper is not installed; every server is stopped when t ends, by its
// process id. o.DataDir is ignored: each member has its own.
func StartEnsemble(t testing.TB, n int, o Options) *Ensemble {
	t.Helper()
	requireAvailable(t)
	if n < 1 {
		t.Fatalf("realzk: ensemble of %d servers", n)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		e, err := startEnsemble(t, n, o)
		if err == nil {
			return e
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	t.Fatalf("realzk: %v", lastErr)
	return nil
}

func startEnsemble(t testing.TB, n int, o Options) (*Ensemble, error) {
	o.DataDir = ""
	root := t.TempDir()
	// Each member needs a client port, and a quorum and an election port
	// when there are several.
	ports := make([]int, 3*n)
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	var servers strings.Builder
	if n > 1 {
		for i := 0; i < n; i++ {
			fmt.Fprintf(&servers, "server.%d=127.0.0.1:%d:%d", i+1, ports[3*i+1], ports[3*i+2])
			if o.Reconfig {
				fmt.Fprintf(&servers, ":participant;127.0.0.1:%d", ports[3*i])
			}
			servers.WriteString("\n")
		}
	}
	e := &Ensemble{o: o}
	for i := 0; i < n; i++ {
		dir := filepath.Join(root, fmt.Sprintf("zk%d", i+1))
		data := filepath.Join(dir, "data")
		if err := os.MkdirAll(data, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(data, "myid"), []byte(fmt.Sprintf("%d\n", i+1)), 0o644); err != nil {
			return nil, err
		}
		conf := baseConfig(o, data, ports[3*i])
		if n > 1 {
			conf += "initLimit=10\nsyncLimit=5\n" + servers.String()
			if o.Reconfig {
				conf += "reconfigEnabled=true\n"
			}
		}
		cfg := filepath.Join(dir, "zoo.cfg")
		if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
			return nil, err
		}
		e.members = append(e.members, &member{dir: dir, cfg: cfg, port: ports[3*i], addr: fmt.Sprintf("127.0.0.1:%d", ports[3*i])})
	}
	t.Cleanup(func() { e.stopAll(t) })
	// A member of a quorum serves only once a majority runs: start them
	// all, then wait for each.
	for _, m := range e.members {
		if err := e.launch(m); err != nil {
			e.stopAll(t)
			return nil, err
		}
	}
	for _, m := range e.members {
		if err := m.srv.waitReady(); err != nil {
			err = m.srv.startError(err)
			e.stopAll(t)
			return nil, err
		}
	}
	return e, nil
}

func (e *Ensemble) launch(m *member) error {
	main := standaloneMain
	if len(e.members) > 1 {
		main = quorumMain
	}
	s, err := launch(m.dir, m.cfg, m.port, main, e.o)
	if err != nil {
		return err
	}
	m.srv = s
	return nil
}

// Addrs returns the members' client addresses, "127.0.0.1:port", in the
// order of their indexes.
func (e *Ensemble) Addrs() []string {
	addrs := make([]string, len(e.members))
	for i, m := range e.members {
		addrs[i] = m.addr
	}
	return addrs
}

// Kill ends member i at once with SIGKILL, as a crash would, and returns
// once its process has exited. Killing a killed member does nothing.
func (e *Ensemble) Kill(t testing.TB, i int) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	m := e.member(t, i)
	if m.srv == nil {
		return
	}
	_ = m.srv.cmd.Process.Kill()
	<-m.srv.done
	m.srv = nil
}

// Restart starts member i again, on its ports and data, and waits until it
// serves clients again (for a quorum member: until it has rejoined a
// quorum). Restarting a running member does nothing.
func (e *Ensemble) Restart(t testing.TB, i int) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	m := e.member(t, i)
	if m.srv != nil {
		return
	}
	if err := e.launch(m); err != nil {
		t.Fatalf("realzk: restart member %d: %v", i, err)
	}
	if err := m.srv.waitReady(); err != nil {
		t.Fatalf("realzk: restart member %d: %v", i, m.srv.startError(err))
	}
}

// Leader returns the index of the member that leads the quorum, or -1 when
// none of the running members says it does (a standalone server is its own
// leader: 0).
func (e *Ensemble) Leader() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, m := range e.members {
		if m.srv == nil {
			continue
		}
		st, err := m.srv.Metrics()
		if err != nil {
			continue
		}
		if s := st["zk_server_state"]; s == "leader" || s == "standalone" {
			return i
		}
	}
	return -1
}

// Pid returns the process id of member i, or 0 while it is killed.
func (e *Ensemble) Pid(i int) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if i < 0 || i >= len(e.members) || e.members[i].srv == nil {
		return 0
	}
	return e.members[i].srv.Pid()
}

func (e *Ensemble) member(t testing.TB, i int) *member {
	t.Helper()
	if i < 0 || i >= len(e.members) {
		t.Fatalf("realzk: no member %d in an ensemble of %d", i, len(e.members))
	}
	return e.members[i]
}

// stopAll stops every running member, printing the logs' last lines when
// t failed.
func (e *Ensemble) stopAll(t testing.TB) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, m := range e.members {
		if m.srv != nil {
			m.srv.cleanup(t)
			m.srv = nil
		}
	}
}
