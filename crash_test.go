//go:build unix

package keeper_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

// Crash tests run a cluster in a child process (this test binary, re-executed
// to run TestCrashChild), kill it with SIGKILL while it writes, and reopen its
// data dirs in this process. The child prints one line per acknowledged
// write; every such write must survive (DESIGN.md invariants 3 and 4), with
// its zxid, and the members must agree on the tree digest afterwards.

const (
	crashEnvChild   = "KEEPER_CRASH_CHILD"   // "1" in the child
	crashEnvDir     = "KEEPER_CRASH_DIR"     // the child's data root
	crashEnvSeed    = "KEEPER_CRASH_SEED"    // the child's seed
	crashEnvMembers = "KEEPER_CRASH_MEMBERS" // cluster size in the child
	crashEnvKeep    = "KEEPER_CRASH_KEEP"    // Config.KeepEntries in the child (0: default)
	crashEnvIters   = "KEEPER_CRASH_ITERS"   // iterations per test (long runs)
	crashEnvBase    = "KEEPER_CRASH_BASE"    // first seed (replay)
	crashParent     = "/crash"
	crashArchiveDir = "archive"
	crashWriters    = 4 // concurrent writers in the child
)

// crashConfig places members under root and speeds up elections; a small
// keep makes WAL release marks (and the tree syncs before them) happen every
// few writes, so kills land around them too. It applies in the child and on
// reopen.
//
// A root holding a dir "archive" (TestCrashSIGKILLArchive) makes the
// members archive into it, in the child and on reopen.
func crashConfig(root string, keep uint64) keepertest.Option {
	archive := filepath.Join(root, crashArchiveDir)
	_, err := os.Stat(archive)
	archiving := err == nil
	return keepertest.WithConfig(func(cfg *keeper.Config) {
		cfg.Dir = filepath.Join(root, fmt.Sprintf("m%d", cfg.ID))
		cfg.TickInterval = 10 * time.Millisecond
		cfg.KeepEntries = keep
		if archiving {
			cfg.CheckInterval = 50 * time.Millisecond
			cfg.Archive = &keeper.ArchiveConfig{Target: keeper.DirTarget(archive), SyncEvery: 10 * time.Millisecond}
		}
	})
}

// TestCrashChild is the child side; it does nothing unless started by
// runCrashChild. It writes until killed.
func TestCrashChild(t *testing.T) {
	if os.Getenv(crashEnvChild) != "1" {
		t.Skip("child process of the crash tests; runs only when re-executed by them")
	}
	root := os.Getenv(crashEnvDir)
	seed, err := strconv.ParseInt(os.Getenv(crashEnvSeed), 10, 64)
	if err != nil {
		t.Fatalf("bad %s: %v", crashEnvSeed, err)
	}
	members, err := strconv.Atoi(os.Getenv(crashEnvMembers))
	if err != nil {
		t.Fatalf("bad %s: %v", crashEnvMembers, err)
	}
	keep, err := strconv.ParseUint(os.Getenv(crashEnvKeep), 10, 64)
	if err != nil {
		t.Fatalf("bad %s: %v", crashEnvKeep, err)
	}
	c := keepertest.NewCluster(t, members, keepertest.WithSeed(seed), crashConfig(root, keep))
	ctx := context.Background()
	for {
		_, err := c.Leader().Create(ctx, crashParent, nil, keeper.Persistent)
		if err == nil || errors.Is(err, keeper.ErrNodeExists) {
			break
		}
		if !errors.Is(err, keeper.ErrNoLeader) && !errors.Is(err, keeper.ErrIndeterminate) {
			t.Fatalf("create %s: %v", crashParent, err)
		}
	}
	var outMu sync.Mutex
	emit := func(line string) {
		// One write(2) per line: a pipe write of under PIPE_BUF bytes is
		// atomic, so the parent never reads a torn acknowledgement.
		outMu.Lock()
		defer outMu.Unlock()
		if _, err := os.Stdout.WriteString(line); err != nil {
			os.Exit(3)
		}
	}
	emit("READY\n")
	if os.Getenv(crashEnvChurn) == "1" {
		go crashChurn(t, c, seed, keep, emit) // crash_snapshot_test.go
	}
	var wg sync.WaitGroup
	for w := range crashWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(seed), uint64(w)))
			ids := c.IDs()
			for i := 0; ; i++ {
				p := fmt.Sprintf("%s/w%d-%06d", crashParent, w, i)
				data := fmt.Sprintf("d%d-%d", w, i)
				for {
					n := c.Node(ids[r.IntN(len(ids))])
					if n == nil {
						continue // stopped by crashChurn
					}
					_, st, err := n.Create2(ctx, p, []byte(data), keeper.Persistent)
					if err == nil {
						emit(fmt.Sprintf("ACK %s %d %s\n", p, st.Czxid, data))
						break
					}
					if errors.Is(err, keeper.ErrNodeExists) {
						break // an earlier indeterminate attempt took effect: not acknowledged
					}
					if !errors.Is(err, keeper.ErrNoLeader) && !errors.Is(err, keeper.ErrIndeterminate) && !errors.Is(err, keeper.ErrClosed) {
						emit(fmt.Sprintf("ERR %s %v\n", p, err))
						return
					}
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	wg.Wait() // only after an unexpected error; otherwise the parent kills us
	t.Fatal("writers stopped")
}

// crashAck is one acknowledged write read from the child.
type crashAck struct {
	path string
	zxid int64
	data string
}

// crashRun is the result of one child run.
type crashRun struct {
	acks   []crashAck
	errs   []string
	snaps  int // SNAP lines: raft snapshots installed (crashChurn)
	stderr string
}

// runCrashChild starts the child on root, waits until it has acknowledged
// killAfter writes (plus a seeded sub-millisecond delay), kills it with
// SIGKILL and returns every acknowledgement it printed before dying.
func runCrashChild(t *testing.T, root string, members int, keep uint64, seed int64, killAfter int, jitter time.Duration, env ...string) crashRun {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.timeout=2m")
	// The child's own temp dirs (t.TempDir) go under root, which this test
	// removes: a child killed with SIGKILL never removes its own.
	tmp := filepath.Join(root, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(),
		"TMPDIR="+tmp,
		crashEnvChild+"=1",
		crashEnvDir+"="+root,
		crashEnvSeed+"="+strconv.FormatInt(seed, 10),
		crashEnvMembers+"="+strconv.Itoa(members),
		crashEnvKeep+"="+strconv.FormatUint(keep, 10),
	)
	cmd.Env = append(cmd.Env, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var run crashRun
	record := func(line string) {
		f := strings.Fields(line)
		switch {
		case len(f) == 4 && f[0] == "ACK":
			z, err := strconv.ParseInt(f[2], 10, 64)
			if err != nil {
				t.Fatalf("seed %d: bad ack line %q", seed, line)
			}
			run.acks = append(run.acks, crashAck{path: f[1], zxid: z, data: f[3]})
		case len(f) > 0 && f[0] == "SNAP":
			run.snaps++
		case len(f) > 0 && f[0] == "ERR":
			run.errs = append(run.errs, line)
		}
	}
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	ready := false
	killed := false
	kill := func() {
		if !killed {
			killed = true
			if jitter > 0 {
				time.Sleep(jitter) // a seeded point between two acknowledgements
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatalf("seed %d: kill child: %v", seed, err)
			}
		}
	}
	for !killed {
		select {
		case line, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatalf("seed %d: child exited before it was killed; stderr:\n%s", seed, stderr.String())
			}
			if line == "READY" {
				ready = true
			} else {
				record(line)
			}
			if len(run.errs) > 0 {
				kill()
			} else if ready && len(run.acks) >= killAfter {
				kill()
			}
		case <-deadline.C:
			kill()
			t.Errorf("seed %d: child made %d acknowledgements within 30s, wanted %d", seed, len(run.acks), killAfter)
		}
	}
	// Lines already in the pipe were printed before death: acknowledged too.
	for line := range lines {
		record(line)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("seed %d: child did not die of SIGKILL: %v; stderr:\n%s", seed, err, stderr.String())
	}
	run.stderr = stderr.String()
	return run
}

// crashIters returns the iteration count: short by default, more in a long
// run, KEEPER_CRASH_ITERS overriding both.
func crashIters(t *testing.T, short, long int) int {
	if s := os.Getenv(crashEnvIters); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("bad %s=%q", crashEnvIters, s)
		}
		return n
	}
	if testing.Short() {
		return short
	}
	return long
}

// crashBaseSeed returns the first iteration's seed: KEEPER_CRASH_BASE to
// replay a failure, else the clock.
func crashBaseSeed(t *testing.T) int64 {
	if s := os.Getenv(crashEnvBase); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("bad %s=%q", crashEnvBase, s)
		}
		return n
	}
	return time.Now().UnixNano() % 1e12
}

// TestCrashSIGKILLSingle kills a one-member cluster mid-write.
func TestCrashSIGKILLSingle(t *testing.T) { testCrashSIGKILL(t, 1, 0, crashIters(t, 6, 20)) }

// TestCrashSIGKILLCluster kills a three-member cluster, all members in one
// child process, mid-write: all three die together.
func TestCrashSIGKILLCluster(t *testing.T) { testCrashSIGKILL(t, 3, 0, crashIters(t, 5, 12)) }

// TestCrashSIGKILLReleaseMark kills a one-member cluster whose KeepEntries
// is 8 (and a three-member one with 32), so the raft loop syncs the tree and writes a WAL release mark every
// few writes and kills land around them. KNOWN BUG: reopen then often fails
// with ErrCorrupt "tree applied index N is beyond the raft log (commit
// N-k, last N)". The tree is synced durably (maybeRelease syncs Pebble)
// after applying entries whose commit index went to the WAL only as a
// HardState record that etcd's WAL neither flushes nor fsyncs (raft.MustSync
// ignores commit changes), so SIGKILL loses that record from the WAL's
// user-space buffer while the tree keeps the higher applied index. No
// entry is missing (last index = applied); Open's check applied >
// HardState.Commit refuses a state raft allows. About 1 run in 3 fails
// (1 in 15 with KeepEntries 24; none seen in 400 runs with the default).
func TestCrashSIGKILLReleaseMark(t *testing.T) {
	t.Run("single", func(t *testing.T) { testCrashSIGKILL(t, 1, 8, crashIters(t, 5, 100)) })
	// Followers too: the commit index reaches them on heartbeats, with no
	// entries, so their WAL never syncs it either.
	t.Run("cluster", func(t *testing.T) { testCrashSIGKILL(t, 3, 32, crashIters(t, 4, 100)) })
}

func testCrashSIGKILL(t *testing.T, members int, keep uint64, iters int) {
	if os.Getenv(crashEnvChild) == "1" {
		t.Skip("in the crash child")
	}
	base := crashBaseSeed(t)
	total := 0
	start := time.Now()
	for i := range iters {
		seed := base + int64(i)
		ok := t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			total += crashIteration(t, members, keep, seed)
		})
		if !ok {
			t.Fatalf("iteration %d failed; replay with %s=%d %s=1", i, crashEnvBase, seed, crashEnvIters)
		}
	}
	t.Logf("%d members: %d SIGKILL iterations, %d acknowledged writes checked, %v", members, iters, total, time.Since(start).Round(time.Millisecond))
}

// crashIteration runs, kills and checks one child; it returns how many
// acknowledged writes it checked.
func crashIteration(t *testing.T, members int, keep uint64, seed int64) int {
	r := rand.New(rand.NewPCG(uint64(seed), 0xc7a5))
	killAfter := r.IntN(250)
	jitter := time.Duration(r.IntN(2000)) * time.Microsecond
	root := t.TempDir()
	run := runCrashChild(t, root, members, keep, seed, killAfter, jitter)
	n, _ := crashVerify(t, root, members, keep, seed, killAfter, jitter, run)
	return n
}

// crashVerify reopens the killed child's dirs under root and checks every
// acknowledged write and the members' digests; it returns how many
// acknowledged writes it checked, and the reopened cluster.
func crashVerify(t *testing.T, root string, members int, keep uint64, seed int64, killAfter int, jitter time.Duration, run crashRun) (int, *keepertest.Cluster) {
	t.Helper()
	if len(run.errs) > 0 {
		t.Fatalf("seed %d: child write failed: %v", seed, run.errs)
	}

	c := keepertest.NewCluster(t, members, keepertest.WithSeed(seed), crashConfig(root, keep))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Converge first: a read issued on a member before it catches up by
	// raft snapshot hangs (TestSnapshotInstallReleasesWaitingRead).
	c.WaitConverged()
	// A linearizable read on each member: every entry committed before the
	// crash is committed again by the new leader and applied here.
	seen := make(map[int64]string)
	for _, n := range c.Nodes() {
		lin := n.Linearizable()
		for _, a := range run.acks {
			var data []byte
			var st keeper.Stat
			var err error
			for {
				data, st, err = lin.Get(ctx, a.path)
				if !errors.Is(err, keeper.ErrNoLeader) || ctx.Err() != nil {
					break
				}
				time.Sleep(2 * time.Millisecond)
			}
			if err != nil {
				var sts []string
				for _, m := range c.Nodes() {
					sts = append(sts, fmt.Sprintf("%+v", m.Status()))
				}
				t.Fatalf("seed %d (kill after %d acks): member %d lost acknowledged write %s (zxid %d): %v\nmembers:\n%s\nchild stderr:\n%s",
					seed, killAfter, n.ID(), a.path, a.zxid, err, strings.Join(sts, "\n"), run.stderr)
			}
			if string(data) != a.data || st.Czxid != keeper.Zxid(a.zxid) {
				t.Fatalf("seed %d: member %d: %s holds %q czxid %d, acknowledged %q zxid %d",
					seed, n.ID(), a.path, data, st.Czxid, a.data, a.zxid)
			}
		}
	}
	for _, a := range run.acks {
		if p, dup := seen[a.zxid]; dup {
			t.Fatalf("seed %d: zxid %d acknowledged for both %s and %s", seed, a.zxid, p, a.path)
		}
		seen[a.zxid] = a.path
	}
	applied := c.WaitConverged()
	var digest uint64
	for i, n := range c.Nodes() {
		st := n.Status()
		if st.Applied != applied {
			// WaitConverged saw them equal; nothing writes since.
			t.Fatalf("seed %d: member %d applied %d after convergence at %d", seed, st.ID, st.Applied, applied)
		}
		if i == 0 {
			digest = st.Digest
		} else if st.Digest != digest {
			t.Fatalf("seed %d: member %d digest %x at %d, member 1 has %x", seed, st.ID, st.Digest, applied, digest)
		}
	}
	// The tree holds no more writes than were attempted, and every
	// unacknowledged one that survived is intact.
	names, _, err := c.Nodes()[0].Children(ctx, crashParent)
	if err != nil && len(run.acks) > 0 {
		t.Fatalf("seed %d: children of %s: %v", seed, crashParent, err)
	}
	if len(names) < len(run.acks) {
		t.Fatalf("seed %d: %d children, %d acknowledged", seed, len(names), len(run.acks))
	}
	t.Logf("keep %d, kill after %d (+%v): %d acknowledged, %d present, applied %d", keep, killAfter, jitter, len(run.acks), len(names), applied)
	return len(run.acks), c
}
