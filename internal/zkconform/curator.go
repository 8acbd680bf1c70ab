package zkconform

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// curatorJars are Debian's Curator 5.4 jars (libcurator-recipes-java,
// -framework-java, -client-java); their manifests name ZooKeeper's jars and
// the other libraries they need.
var curatorJars = []string{
	"/usr/share/java/curator-recipes.jar",
	"/usr/share/java/curator-framework.jar",
	"/usr/share/java/curator-client.jar",
}

// curatorClasspath is what the Curator program compiles and runs against.
func curatorClasspath() string {
	return strings.Join(append(append([]string{}, curatorJars...), ZooKeeperJar, slf4jNop), ":")
}

// curatorAvailable reports why the Curator program cannot run here, or nil.
func curatorAvailable() error {
	if err := javaAvailable("javac"); err != nil {
		return err
	}
	for _, jar := range curatorJars {
		if _, err := os.Stat(jar); err != nil {
			return fmt.Errorf("zkconform: %w", err)
		}
	}
	return nil
}

// Leaderer is an Ensemble that can tell which member leads it; RunCurator
// kills the leader when it can, as that is the member whose loss disturbs
// clients most.
type Leaderer interface {
	// Leader returns the index of the leading member, or -1 if none is
	// known.
	Leader() int
}

// curatorRecipes are the workloads the Curator program reports on.
var curatorRecipes = []string{"mutex", "latch", "barrier", "cache"}

// RunCurator compiles the Curator program (testdata/curator/Conform.java)
// with javac against Debian's jars and runs it against e: LeaderLatch,
// InterProcessMutex, DistributedBarrier and CuratorCache all at once, each
// on clients of its own with the connection string of every member. Once
// they all make progress it kills one member (the leader when e is a
// Leaderer, else member 0), waits until they all make progress again,
// restarts the member and waits once more; long does so three times (the
// leader, a follower, the leader again), with more clients. Each recipe must then report its
// checks passed. e needs at least three members.
func RunCurator(t *testing.T, e Ensemble, long bool) {
	require(t, curatorAvailable(), "a JDK and Debian's libcurator-recipes-java, libcurator-framework-java and libcurator-client-java")
	n := len(e.Addrs())
	if n < 3 {
		t.Fatalf("zkconform: RunCurator needs an ensemble of at least 3 members, not %d", n)
	}
	src := unpack(t, "curator")
	classes := t.TempDir()
	start := time.Now()
	args := append([]string{"javac", "-nowarn", "-d", classes, "-cp", curatorClasspath()}, filepath.Join(src, "Conform.java"))
	if out, err := runProc(t, 3*time.Minute, src, nil, nil, args...); err != nil {
		t.Fatalf("zkconform: javac Conform.java: %v\n%s", err, out)
	}
	t.Logf("compiled Conform.java in %v", time.Since(start).Round(time.Millisecond))

	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	// An *os.File is handed to the child as it is: no copying goroutine
	// that could outlive it.
	stdinR, stdin, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	args = append([]string{"java"}, jvmFlags...)
	args = append(args, "-cp", classes+":"+curatorClasspath(), "Conform", hosts(e), fmt.Sprint(seed))
	cycles := 1
	if long {
		args = append(args, "--long")
		cycles = 3
	}
	start = time.Now()
	p := startProc(t, classes, nil, stdinR, args...)
	stdinR.Close()
	// The program's own deadline for progress is a minute per step.
	const step = 3 * time.Minute
	line := 0
	expect := func(want string) {
		t.Helper()
		var ok bool
		if _, line, ok = p.out.waitLine(line, step, func(s string) bool { return s == want }); !ok {
			t.Fatalf("zkconform: Curator program did not print %q within %v:\n%s", want, step, p.out.String())
		}
	}
	send := func(cmd string) {
		t.Helper()
		if _, err := io.WriteString(stdin, cmd+"\n"); err != nil {
			t.Fatalf("zkconform: Curator program: write %q: %v\n%s", cmd, err, p.out.String())
		}
	}
	expect("ready")
	t.Logf("recipes running after %v", time.Since(start).Round(time.Millisecond))
	for c := 0; c < cycles; c++ {
		// The leader in even cycles, a follower in odd ones, when e can
		// tell which member leads.
		victim := c % n
		if l, ok := e.(Leaderer); ok {
			if i := l.Leader(); i >= 0 {
				victim = (i + c%2) % n
			}
		}
		killed := time.Now()
		e.Kill(t, victim)
		send("killed")
		expect("progressed killed")
		t.Logf("member %d killed: recipes made progress within %v", victim, time.Since(killed).Round(time.Millisecond))
		restarted := time.Now()
		e.Restart(t, victim)
		send("restarted")
		expect("progressed restarted")
		t.Logf("member %d restarted: recipes made progress within %v", victim, time.Since(restarted).Round(time.Millisecond))
	}
	send("finish")
	expect("done")
	if err := p.wait(step); err != nil {
		t.Errorf("zkconform: Curator program: %v", err)
	}
	out := p.out.String()
	t.Logf("Curator program in %v:\n%s", time.Since(start).Round(time.Millisecond), out)
	for _, f := range curatorFailures(out) {
		t.Error(f)
	}
}

// curatorFailures reads the program's "result NAME ok|FAIL DETAIL" lines
// and returns one line per recipe that failed or reported nothing.
func curatorFailures(out string) []string {
	results := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "result "); ok {
			name, res, _ := strings.Cut(rest, " ")
			results[name] = res
		}
	}
	var fails []string
	for _, r := range curatorRecipes {
		switch res, ok := results[r]; {
		case !ok:
			fails = append(fails, r+": no result")
		case !strings.HasPrefix(res, "ok "):
			fails = append(fails, r+": "+res)
		}
	}
	return fails
}
