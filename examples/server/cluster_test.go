package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// This file starts members of examples/server as OS processes on 127.0.0.1
// and talks to them through their admin ports, for the tests and benchmarks
// of a cluster across processes.

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// serverBinary builds this program once per test binary and returns its
// path. KEEPER_SERVER_RACE=1 builds it with the race detector.
func serverBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "keeper-server-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "server")
		args := []string{"build", "-o", binPath}
		if os.Getenv("KEEPER_SERVER_RACE") == "1" {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// freePorts returns n loopback addresses that were free a moment ago.
func freePorts(t testing.TB, n int) []string {
	t.Helper()
	addrs := make([]string, n)
	lns := make([]net.Listener, n)
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i], addrs[i] = ln, ln.Addr().String()
	}
	for _, ln := range lns {
		ln.Close()
	}
	return addrs
}

// proc is one member process. Writers read its admin address while the
// test restarts it, so what a start changes is under mu.
type proc struct {
	id   uint64
	peer string // peer listen address, fixed for the member's life
	dir  string
	log  string

	mu    sync.Mutex
	admin string        // admin address of the running process
	zk    string        // its ZooKeeper client address, if the cluster serves one
	cmd   *exec.Cmd     // nil before the first start
	done  chan struct{} // closed once the process has exited
}

func (p *proc) adminAddr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.admin
}

// process returns the process last started and its done channel.
func (p *proc) process() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd, p.done
}

func (p *proc) running() bool {
	cmd, done := p.process()
	if cmd == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// procCluster is a cluster of member processes.
type procCluster struct {
	t         testing.TB
	bin       string
	base      string
	clusterID uint64
	certs     string
	flags     []string // extra flags for every member
	zk        bool     // members serve ZooKeeper's protocol (-zk)
	ids       []uint64
	procs     map[uint64]*proc
	http      *http.Client
}

// startProcCluster mints certificates with -init and starts n members with
// the extra flags, on ports it picks, retrying with new ports when one was
// taken meanwhile. Every process is killed at cleanup.
func startProcCluster(t testing.TB, n int, flags ...string) *procCluster {
	t.Helper()
	return startCluster(t, n, false, flags...)
}

// startZKCluster is startProcCluster with every member serving ZooKeeper's
// protocol on a port of its own (procCluster.zkAddr).
func startZKCluster(t testing.TB, n int, flags ...string) *procCluster {
	t.Helper()
	return startCluster(t, n, true, flags...)
}

func startCluster(t testing.TB, n int, zk bool, flags ...string) *procCluster {
	t.Helper()
	c := &procCluster{
		t: t, bin: serverBinary(t), base: t.TempDir(), clusterID: 0x6b656570,
		flags: flags, zk: zk, procs: map[uint64]*proc{},
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
	}
	t.Cleanup(c.killAll)
	c.certs = filepath.Join(c.base, "certs")
	var members []string
	for i := 1; i <= n; i++ {
		c.ids = append(c.ids, uint64(i))
		members = append(members, strconv.Itoa(i))
	}
	if out, err := exec.Command(c.bin, "-init", c.certs, "-cluster-id", strconv.FormatUint(c.clusterID, 10), "-members", strings.Join(members, ",")).CombinedOutput(); err != nil {
		t.Fatalf("-init: %v\n%s", err, out)
	}
	for attempt := 1; ; attempt++ {
		ports := freePorts(t, n)
		for i, id := range c.ids {
			dir := filepath.Join(c.base, fmt.Sprintf("m%d-try%d", id, attempt))
			c.procs[id] = &proc{id: id, peer: ports[i], dir: dir, log: dir + ".log"}
		}
		collided := false
		for _, id := range c.ids {
			if err := c.launch(id); err != nil {
				if !strings.Contains(err.Error(), "address already in use") || attempt == 5 {
					t.Fatal(err)
				}
				collided = true
				break
			}
		}
		if !collided {
			return c
		}
		t.Logf("a port was taken meanwhile; starting again with new ports (attempt %d)", attempt)
		c.killAll()
	}
}

// launch starts member id's process on a fresh admin port and waits until
// its admin port answers.
func (c *procCluster) launch(id uint64) error {
	p := c.procs[id]
	var peers []string
	for _, o := range c.ids {
		peers = append(peers, fmt.Sprintf("%d=%s", o, c.procs[o].peer))
	}
	for attempt := 1; ; attempt++ {
		ports := freePorts(c.t, 2)
		admin := ports[0]
		p.mu.Lock()
		p.admin = admin
		if c.zk && p.zk == "" {
			// Kept across restarts: its clients know it.
			p.zk = ports[1]
		}
		zk := p.zk
		p.mu.Unlock()
		args := []string{
			"-id", strconv.FormatUint(id, 10), "-dir", p.dir,
			"-cluster-id", strconv.FormatUint(c.clusterID, 10), "-certs", c.certs,
			"-peers", strings.Join(peers, ","), "-admin", admin,
		}
		if zk != "" {
			args = append(args, "-zk", zk, "-zk-4lw", "*")
		}
		args = append(args, c.flags...)
		logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		fmt.Fprintf(logf, "=== start %s\n", strings.Join(args, " "))
		cmd := exec.Command(c.bin, args...)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			return err
		}
		logf.Close() // the child holds its own descriptor
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		p.mu.Lock()
		p.cmd, p.done = cmd, done
		p.mu.Unlock()
		err = c.waitAdmin(p)
		if err == nil {
			return nil
		}
		c.kill(id)
		// The admin port is the member's own choice each start: a collision
		// on it is retried here; one on the peer port goes to the caller.
		if strings.Contains(err.Error(), "admin listener") && strings.Contains(err.Error(), "address already in use") && attempt < 5 {
			continue
		}
		if strings.Contains(err.Error(), "zookeeper listener") && strings.Contains(err.Error(), "address already in use") && attempt < 5 {
			p.mu.Lock()
			p.zk = ""
			p.mu.Unlock()
			continue
		}
		return fmt.Errorf("member %d: %w", id, err)
	}
}

// waitAdmin waits until p's admin port answers, or p exits.
func (c *procCluster) waitAdmin(p *proc) error {
	_, done := p.process()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("exited at start: %s", tail(p.log, 5))
		default:
		}
		if _, err := c.status(p.id); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("admin port %s did not answer in 30s: %s", p.adminAddr(), tail(p.log, 5))
}

// zkAddr is member id's ZooKeeper client address (startZKCluster).
func (c *procCluster) zkAddr(id uint64) string {
	p := c.procs[id]
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.zk
}

// restart starts a stopped or killed member again from its data dir.
func (c *procCluster) restart(id uint64) {
	c.t.Helper()
	if err := c.launch(id); err != nil {
		c.t.Fatal(err)
	}
}

// kill sends SIGKILL to member id and waits for it to exit.
func (c *procCluster) kill(id uint64) {
	p := c.procs[id]
	if !p.running() {
		return
	}
	cmd, done := p.process()
	_ = cmd.Process.Kill()
	<-done
}

// stop sends SIGTERM to member id and waits for it to exit; it fails the
// test unless the member closed cleanly (exit status 0) within 20 s.
func (c *procCluster) stop(id uint64) {
	c.t.Helper()
	p := c.procs[id]
	cmd, done := p.process()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		c.t.Fatalf("member %d: SIGTERM: %v", id, err)
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		c.t.Fatalf("member %d did not exit 20s after SIGTERM: %s", id, tail(p.log, 10))
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		c.t.Fatalf("member %d exited %d after SIGTERM: %s", id, code, tail(p.log, 10))
	}
}

func (c *procCluster) killAll() {
	for _, id := range c.ids {
		if p := c.procs[id]; p != nil {
			c.kill(id)
			// A member built with KEEPER_SERVER_RACE=1 reports races in its log.
			if b, err := os.ReadFile(p.log); err == nil && strings.Contains(string(b), "WARNING: DATA RACE") {
				c.t.Errorf("member %d: the race detector reported a data race:\n%s", id, raceReport(string(b)))
			}
		}
	}
	if c.t.Failed() {
		for _, id := range c.ids {
			if p := c.procs[id]; p != nil {
				c.t.Logf("member %d log (last lines):\n%s", id, tail(p.log, 30))
			}
		}
	}
}

// tail returns the last n lines of file path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// url returns member id's admin URL for path.
func (c *procCluster) url(id uint64, path string) string {
	return "http://" + c.procs[id].adminAddr() + path
}

// do sends one admin request with a timeout and decodes a 200 answer's JSON
// into out; any other answer is an error carrying the status code.
func (c *procCluster) do(id uint64, method, path string, body []byte, timeout time.Duration, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.url(id, path), bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return &httpError{code: resp.StatusCode, body: strings.TrimSpace(string(b))}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// httpError is an admin answer other than 200.
type httpError struct {
	code int
	body string
}

func (e *httpError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.body) }

func (c *procCluster) status(id uint64) (statusJSON, error) {
	var st statusJSON
	err := c.do(id, http.MethodGet, "/status", nil, 2*time.Second, &st)
	return st, err
}

// running returns the ids of the running members.
func (c *procCluster) running() []uint64 {
	var ids []uint64
	for _, id := range c.ids {
		if c.procs[id].running() {
			ids = append(ids, id)
		}
	}
	return ids
}

// leader waits until the running members agree on a running leader, and
// returns it.
func (c *procCluster) leader(within time.Duration) uint64 {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if id := c.agreedLeader(); id != 0 {
			return id
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("no leader agreed by the running members %v within %v", c.running(), within)
	return 0
}

func (c *procCluster) agreedLeader() uint64 {
	var lead uint64
	for _, id := range c.running() {
		st, err := c.status(id)
		if err != nil || st.Leader == 0 || (lead != 0 && st.Leader != lead) {
			return 0
		}
		lead = st.Leader
	}
	if lead == 0 || !c.procs[lead].running() {
		return 0
	}
	return lead
}

// converged waits until every running member has applied the same index
// with the same digest, and returns that status of the leader.
func (c *procCluster) converged(within time.Duration) statusJSON {
	c.t.Helper()
	deadline := time.Now().Add(within)
	var last []statusJSON
	for time.Now().Before(deadline) {
		last = last[:0]
		for _, id := range c.running() {
			if st, err := c.status(id); err == nil {
				last = append(last, st)
			}
		}
		if len(last) == len(c.running()) && len(last) > 0 && allEqual(last) {
			return last[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	var desc []string
	for _, st := range last {
		desc = append(desc, fmt.Sprintf("member %d applied %d digest %x", st.ID, st.Applied, st.Digest))
	}
	c.t.Fatalf("members did not converge within %v: %s", within, strings.Join(desc, "; "))
	return statusJSON{}
}

func allEqual(sts []statusJSON) bool {
	for _, st := range sts[1:] {
		if st.Applied != sts[0].Applied || st.Digest != sts[0].Digest {
			return false
		}
	}
	return true
}

// put creates or sets path through member id; nil means acknowledged.
func (c *procCluster) put(id uint64, path, value string, timeout time.Duration) error {
	return c.do(id, http.MethodPut, "/znode"+path, []byte(value), timeout, nil)
}

// get reads path on member id, linearizably if asked.
func (c *procCluster) get(id uint64, path string, linearizable bool) (znodeJSON, error) {
	q := ""
	if linearizable {
		q = "?linearizable=1"
	}
	var z znodeJSON
	err := c.do(id, http.MethodGet, "/znode"+path+q, nil, 5*time.Second, &z)
	return z, err
}

// raceReport returns the first race report in a member's log.
func raceReport(log string) string {
	i := strings.Index(log, "WARNING: DATA RACE")
	if i < 0 {
		return ""
	}
	end := strings.Index(log[i:], "==================")
	if end < 0 {
		end = min(len(log)-i, 4000)
	}
	return log[i : i+end]
}
