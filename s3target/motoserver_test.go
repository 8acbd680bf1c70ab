package s3target

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// motoServer is a moto_server child process: an S3-compatible store on
// 127.0.0.1 that keeps its objects in memory.
type motoServer struct {
	Endpoint string // host:port
	cmd      *exec.Cmd
	exited   chan error // receives Wait's result once the process ends
	stopOnce sync.Once
}

// motoCommand returns the command line that starts moto's server: the
// moto_server script on PATH, or `python3 -m moto.server`. Without either
// the test is skipped, or fails when CI=true.
func motoCommand(t testing.TB) []string {
	t.Helper()
	argv := findMoto()
	if argv != nil {
		return argv
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("moto_server is missing (neither moto_server on PATH nor python3 -m moto.server); see .ci/run")
	}
	t.Skip("moto_server is missing: neither moto_server on PATH nor python3 -m moto.server")
	return nil
}

// findMoto looks for moto's server once: importing moto takes a second.
var findMoto = sync.OnceValue(func() []string {
	if p, err := exec.LookPath("moto_server"); err == nil {
		return []string{p}
	}
	// python3 on PATH, then Debian's, which sees Debian's python3-moto
	// when PATH leads to another Python first.
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if p, err := exec.LookPath(py); err == nil && exec.Command(p, "-c", "import moto.server").Run() == nil {
			return []string{p, "-m", "moto.server"}
		}
	}
	return nil
})

// startMoto starts moto_server on a free loopback port with env added to
// its environment, waits until it answers, and returns it. The caller
// stops it with Stop; stopping twice is harmless.
func startMoto(t testing.TB, env ...string) (*motoServer, error) {
	t.Helper()
	argv := motoCommand(t)
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], append(argv[1:], "-H", "127.0.0.1", "-p", strconv.Itoa(port))...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if testing.Verbose() {
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	s := &motoServer{
		Endpoint: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		cmd:      cmd,
		exited:   make(chan error, 1),
	}
	go func() { s.exited <- cmd.Wait() }()
	if err := s.waitReady(60 * time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// waitReady polls the server until it answers an HTTP request, it exits,
// or the wait runs out.
func (s *motoServer) waitReady(wait time.Duration) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(wait)
	for {
		resp, err := client.Get("http://" + s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case err := <-s.exited:
			s.exited <- err
			return fmt.Errorf("moto_server exited before answering: %v", err)
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("moto_server on %s did not answer within %v: %w", s.Endpoint, wait, err)
		}
	}
}

// Stop kills the server's process group and waits for the process to
// end.
func (s *motoServer) Stop() {
	s.stopOnce.Do(func() {
		if err := syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			s.cmd.Process.Kill()
		}
		<-s.exited
	})
}

// freePort returns a loopback port nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// newMoto starts a moto_server that t's cleanup stops.
func newMoto(t testing.TB, env ...string) *motoServer {
	t.Helper()
	s, err := startMoto(t, env...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// waitCtx is a context for a test's calls, bounded so that a hang fails.
func waitCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// shared is the moto_server the tests that need no server of their own
// use; TestMain stops it.
var shared struct {
	once sync.Once
	s    *motoServer
	err  error
}

// sharedMoto returns the shared moto_server, started on first use.
func sharedMoto(t testing.TB) *motoServer {
	t.Helper()
	motoCommand(t)
	shared.once.Do(func() { shared.s, shared.err = startMoto(t) })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.s
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.s != nil {
		shared.s.Stop()
	}
	os.Exit(code)
}
