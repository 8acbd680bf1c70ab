package zkconform

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is a child process of a conformance run. Its standard output and
// error go to one pipe, so their lines keep the order the child wrote them
// in; they are kept as text and as complete lines. It runs in a process
// group of its own that is killed (SIGKILL, by the group's id) when it has
// exited, when its deadline passes, and when the test ends.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *lineBuffer
	done chan struct{}
	err  error // the process's exit, once done is closed
}

// errTimeout is a child killed because its deadline passed.
var errTimeout = errors.New("zkconform: deadline passed, process group killed")

// startProc starts args[0] with args[1:] in dir (empty: the test's working
// directory), its environment the test's plus env, reading stdin (nil:
// nothing).
func startProc(t testing.TB, dir string, env []string, stdin io.Reader, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = stdin
	out := newLineBuffer()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	// A grandchild still holding the output pipe must not keep Wait from
	// returning once the child has exited.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("zkconform: start %s: %v", args[0], err)
	}
	p := &proc{name: args[0], cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		p.killGroup()
		out.close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.killGroup()
		<-p.done
	})
	return p
}

// runProc runs a child to its end, or kills it once timeout passes, and
// returns its output and exit.
func runProc(t testing.TB, timeout time.Duration, dir string, env []string, stdin io.Reader, args ...string) (string, error) {
	t.Helper()
	p := startProc(t, dir, env, stdin, args...)
	err := p.wait(timeout)
	return p.out.String(), err
}

// wait waits for the child to exit, killing its group if timeout passes
// first (then it returns errTimeout).
func (p *proc) wait(timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return p.err
	case <-timer.C:
		p.killGroup()
		<-p.done
		return fmt.Errorf("%w: %s after %v", errTimeout, p.name, timeout)
	}
}

// killGroup kills the child's process group: the child and whatever it
// started and left running.
func (p *proc) killGroup() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// lineBuffer keeps what a child writes, and its complete lines for
// readers that wait for a line.
type lineBuffer struct {
	mu      sync.Mutex
	cond    *sync.Cond
	text    strings.Builder
	lines   []string
	partial string
	closed  bool
}

func newLineBuffer() *lineBuffer {
	b := &lineBuffer{}
	b.cond = sync.NewCond(&b.mu)
	return b
}

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.text.Write(p)
	b.partial += string(p)
	for {
		i := strings.IndexByte(b.partial, '\n')
		if i < 0 {
			break
		}
		b.lines = append(b.lines, strings.TrimRight(b.partial[:i], "\r"))
		b.partial = b.partial[i+1:]
	}
	b.cond.Broadcast()
	return len(p), nil
}

// close marks the end of the output: the last partial line becomes a line.
func (b *lineBuffer) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.partial != "" {
		b.lines = append(b.lines, b.partial)
		b.partial = ""
	}
	b.closed = true
	b.cond.Broadcast()
}

// String returns everything written so far.
func (b *lineBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.text.String()
}

// waitLine waits for a line, from index from on, for which match is true,
// and returns it and the index after it. It returns false when the output
// ends or timeout passes first.
func (b *lineBuffer) waitLine(from int, timeout time.Duration, match func(string) bool) (string, int, bool) {
	timer := time.AfterFunc(timeout, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.cond.Broadcast()
	})
	defer timer.Stop()
	deadline := time.Now().Add(timeout)
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		for ; from < len(b.lines); from++ {
			if match(b.lines[from]) {
				return b.lines[from], from + 1, true
			}
		}
		if b.closed || !time.Now().Before(deadline) {
			return "", from, false
		}
		b.cond.Wait()
	}
}
