// Package realzk starts Apache ZooKeeper 3.8 (the jar of Debian's
// zookeeper package) as a child process, for tests that hold keeper's
// answers against the real server's.
//
// A Server is standalone, listens on 127.0.0.1 at a port chosen free just
// before it starts, keeps its data in the test's temp dir and is stopped by
// its process id in t.Cleanup (SIGTERM, then SIGKILL after a grace period).
// Its log goes to a file that is printed, last lines first, when the test
// fails. On Linux the child also gets SIGKILL if the test process dies.
//
// When java or the jar is missing the test is skipped, except when the
// environment has CI=true: then it fails, so that CI cannot skip silently.
package realzk

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Jar is where Debian's zookeeper package installs the server; its manifest
// names the libraries it needs.
const Jar = "/usr/share/java/zookeeper.jar"

// logJar is the slf4j binding the server logs through.
const logJar = "/usr/share/java/slf4j-simple.jar"

// StartTimeout bounds how long Start waits for the server to answer.
const StartTimeout = 60 * time.Second

// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
const stopGrace = 10 * time.Second

// Options configure Start.
type Options struct {
	// SuperDigest is ZooKeeper's superDigest, "user:base64(sha1(user:password))":
	// that user is allowed everything. Empty means no super user.
	SuperDigest string
	// ExtendedTypes enables TTL znodes (zookeeper.extendedTypesEnabled).
	ExtendedTypes bool
	// Properties are more Java system properties, name to value, e.g.
	// "znode.container.checkIntervalMs".
	Properties map[string]string
	// TickTime is ZooKeeper's tickTime; sessions get 2 to 20 ticks. Default 2s.
	TickTime time.Duration
	// DataDir is the server's dataDir (its files go in DataDir/version-2).
	// Default: a new directory in the test's temp dir.
	DataDir string
	// SnapCount is zookeeper.snapCount: the server writes a snapshot and
	// starts a new log after snapCount/2 to snapCount transactions. Default
	// ZooKeeper's, 100,000.
	SnapCount int
	// SnapshotCompression is zookeeper.snapshot.compression.method: "",
	// "gz" or "snappy".
	SnapshotCompression string
	// Heap is the JVM's maximum heap, as -Xmx takes it. Default "256m".
	Heap string
	// FourLetterWords are more four-letter words the server answers, as
	// 4lw.commands.whitelist lists them ("*" for all), besides ruok and
	// mntr, which Start needs to see the server ready.
	FourLetterWords []string
	// Reconfig runs an Ensemble of several members in ZooKeeper's dynamic
	// reconfiguration mode (reconfigEnabled=true), each server line
	// carrying the member's client address after a ";", as ZooKeeper's
	// reconfiguration guide writes them: /zookeeper/config then lists
	// every member's client address. Start ignores it.
	Reconfig bool
}

// Server is a running ZooKeeper.
type Server struct {
	// Addr is the client address, "127.0.0.1:port".
	Addr string

	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error // the process's exit, once done is closed
}

// Available reports why ZooKeeper cannot be started here, or nil.
func Available() error {
	if _, err := exec.LookPath("java"); err != nil {
		return fmt.Errorf("realzk: java not found: %w", err)
	}
	if _, err := os.Stat(Jar); err != nil {
		return fmt.Errorf("realzk: ZooKeeper jar: %w", err)
	}
	return nil
}

// Start starts a standalone server and waits until it answers. It skips t
// (fails it with CI=true) if ZooKeeper is not installed, and fails t if the
// server does not come up within StartTimeout.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	requireAvailable(t)
	var lastErr error
	// A port found free can be taken before the server binds it; try again.
	for attempt := 0; attempt < 3; attempt++ {
		s, err := start(t, o)
		if err == nil {
			return s
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	t.Fatalf("realzk: %v", lastErr)
	return nil
}

// requireAvailable skips t, or fails it when the environment has CI=true,
// if ZooKeeper cannot be started here.
func requireAvailable(t testing.TB) {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (CI=true: install the zookeeper package)", err)
		}
		t.Skipf("%v; install Debian's zookeeper package to run this test", err)
	}
}

var errPortTaken = errors.New("realzk: port taken")

func start(t testing.TB, o Options) (*Server, error) {
	dir := t.TempDir()
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dataDir := o.DataDir
	if dataDir == "" {
		dataDir = filepath.Join(dir, "data")
	}
	cfg := filepath.Join(dir, "zoo.cfg")
	if err := os.WriteFile(cfg, []byte(baseConfig(o, dataDir, port)), 0o644); err != nil {
		return nil, err
	}
	s, err := launch(dir, cfg, port, standaloneMain, o)
	if err != nil {
		return nil, err
	}
	if err := s.waitReady(); err != nil {
		s.stop()
		return nil, s.startError(err)
	}
	t.Cleanup(func() { s.cleanup(t) })
	return s, nil
}

// The JVM main classes: a standalone server, and a member of an ensemble.
const (
	standaloneMain = "org.apache.zookeeper.server.ZooKeeperServerMain"
	quorumMain     = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
)

// baseConfig is the zoo.cfg every server gets: loopback client port, no
// admin server, the four-letter words the helpers use.
func baseConfig(o Options, dataDir string, port int) string {
	tick := o.TickTime
	if tick == 0 {
		tick = 2 * time.Second
	}
	return fmt.Sprintf(`tickTime=%d
dataDir=%s
clientPort=%d
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=%s
`, tick.Milliseconds(), dataDir, port, strings.Join(append([]string{"ruok", "mntr", "srvr"}, o.FourLetterWords...), ","))
}

// launch starts java running mainClass on the config file cfg, whose
// client port is port, in dir,
// logging to dir/zookeeper.log (appended to, so that a restarted server
// keeps its earlier log). It does not wait for the server to answer.
func launch(dir, cfg string, port int, mainClass string, o Options) (*Server, error) {
	props := map[string]string{
		"zookeeper.jmx.log4j.disable":                        "true",
		"org.slf4j.simpleLogger.defaultLogLevel":             "warn",
		"zookeeper.extendedTypesEnabled":                     fmt.Sprint(o.ExtendedTypes),
		"zookeeper.DigestAuthenticationProvider.superDigest": o.SuperDigest,
		// A test server needs no fsync per transaction.
		"zookeeper.forceSync": "no",
	}
	if o.SuperDigest == "" {
		delete(props, "zookeeper.DigestAuthenticationProvider.superDigest")
	}
	if o.SnapCount > 0 {
		props["zookeeper.snapCount"] = fmt.Sprint(o.SnapCount)
	}
	if o.SnapshotCompression != "" {
		props["zookeeper.snapshot.compression.method"] = o.SnapshotCompression
	}
	for k, v := range o.Properties {
		props[k] = v
	}
	heap := o.Heap
	if heap == "" {
		heap = "256m"
	}
	args := []string{"-Xms64m", "-Xmx" + heap, "-XX:+UseSerialGC"}
	for _, k := range sortedKeys(props) {
		args = append(args, "-D"+k+"="+props[k])
	}
	args = append(args, "-cp", Jar+":"+logJar, mainClass, cfg)
	logPath := filepath.Join(dir, "zookeeper.log")
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own copy
	cmd := exec.Command("java", args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("realzk: start java: %w", err)
	}
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	return s, nil
}

// startError describes a server that did not come up: errPortTaken when
// its log says a port was in use, else err with the log's last lines.
func (s *Server) startError(err error) error {
	tail := s.logTail(40)
	if strings.Contains(tail, "Address already in use") {
		return fmt.Errorf("%w: %s", errPortTaken, s.Addr)
	}
	return fmt.Errorf("%w\n--- zookeeper.log (last lines) ---\n%s", err, tail)
}

// cleanup stops the server at the end of t, printing its log's last lines
// first when t failed.
func (s *Server) cleanup(t testing.TB) {
	if t.Failed() {
		t.Logf("realzk %s, pid %d; zookeeper.log (last lines):\n%s", s.Addr, s.cmd.Process.Pid, s.logTail(40))
	}
	if err := s.stop(); err != nil {
		t.Errorf("realzk: stop pid %d: %v", s.cmd.Process.Pid, err)
	}
}

// Stop stops the server now, as the end of the test would: SIGTERM, then
// SIGKILL after a grace period. It returns once the process has exited.
func (s *Server) Stop() error { return s.stop() }

// Metrics returns the server's monitoring values (the mntr command), name
// to value; none while the server is not serving yet.
func (s *Server) Metrics() (map[string]string, error) {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("mntr")); err != nil {
		return nil, err
	}
	m := make(map[string]string)
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "\t"); ok {
			m[k] = v
		}
	}
	return m, sc.Err()
}

// Log returns the server's log so far.
func (s *Server) Log() (string, error) {
	b, err := os.ReadFile(s.log)
	return string(b), err
}

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// waitReady polls the four-letter words ruok and mntr until the server
// answers both (it serves requests), the process exits or StartTimeout
// passes.
func (s *Server) waitReady() error {
	deadline := time.Now().Add(StartTimeout)
	for {
		if ok, _ := s.ruok(); ok {
			// ruok answers before the data is loaded; mntr only after.
			if m, err := s.Metrics(); err == nil && len(m) > 0 {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("realzk: java exited before answering: %v", s.err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("realzk: no answer on %s after %v", s.Addr, StartTimeout)
		}
	}
}

func (s *Server) ruok() (bool, error) {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return false, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ruok")); err != nil {
		return false, err
	}
	b := make([]byte, 4)
	n, err := c.Read(b)
	return n == 4 && string(b) == "imok", err
}

// stop ends the process: SIGTERM, then SIGKILL after stopGrace. It returns
// once the process has exited.
func (s *Server) stop() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(stopGrace):
	}
	if err := s.cmd.Process.Kill(); err != nil {
		return err
	}
	<-s.done
	return nil
}

// logTail returns the last n lines of the server's log.
func (s *Server) logTail(n int) string {
	f, err := os.Open(s.log)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// freePort returns a port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
