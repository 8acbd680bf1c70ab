package zkconform

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// GoZookeeperModule is the go-zookeeper/zk release whose integration tests
// RunGoZookeeper runs; its module zip from the Go module proxy carries its
// _test.go files.
const GoZookeeperModule = "github.com/go-zookeeper/zk@v1.0.4"

// GoZookeeperShort are the integration tests a short run runs: creates of
// every kind, multi, ACLs and auth, watches and their re-registration and
// the lock recipe on a standalone server, and a client failing over
// between the members of a three-server ensemble. Each takes a second or
// a few against ZooKeeper 3.8.
var GoZookeeperShort = []string{
	"TestIntegration_Create",
	"TestIntegration_CreateTTL",
	"TestIntegration_CreateContainer",
	"TestIntegration_Multi",
	"TestIntegration_MultiFailures",
	"TestIntegration_GetSetACL",
	"TestIntegration_Auth",
	"TestIntegration_ChildWatch",
	"TestIntegration_SetWatchers",
	"TestIntegration_Lock",
	"TestIntegration_ClientClusterFailover",
}

// GoZookeeperOptions configure RunGoZookeeper.
type GoZookeeperOptions struct {
	// ServerBin is a built examples/server binary. When set, the zkServer.sh
	// stand-in (testdata/gozk/zkServer.sh, which documents the flags it
	// passes) starts keeper members with it instead of Apache ZooKeeper.
	ServerBin string
	// Long runs every integration test (TestIntegration_*); otherwise only
	// GoZookeeperShort.
	Long bool
	// KnownFailures names tests expected to fail, each with the reason. One
	// that fails is logged with its reason; one that passes fails the run,
	// so that the list stays true.
	KnownFailures map[string]string
	// Run, if set, selects the tests to run (a go test -run pattern) in
	// place of Long's choice, to look at one closely.
	Run string
	// Env is added to the environment of go test and of the servers
	// (KEEPER_ZK_LOG_LEVEL sets the keeper members' -log-level).
	// ZK_VERSION, which the tests read to skip what an older server lacks,
	// is 3.8.0 unless Env sets it.
	Env []string
}

// gozkResult is the outcome of one test of the run.
type gozkResult struct {
	action string // "pass", "fail" or "skip"
	output []string
}

// RunGoZookeeper runs go-zookeeper/zk v1.0.4's integration tests: it copies
// the module from the module cache (read-only there) into a temp dir and
// runs `go test` there with ZOOKEEPER_BIN_PATH naming the zkServer.sh
// stand-in, through which each test starts its own servers (one, or three
// for the cluster tests) on ports it picks. Every test that fails, and is
// not a known failure, fails t by name with its output.
func RunGoZookeeper(t *testing.T, o GoZookeeperOptions) {
	if o.ServerBin == "" {
		require(t, javaAvailable(), "the zookeeper package (java and its jars)")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	env := []string{"GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local"}
	modDir := downloadModule(t, goBin, env)
	work := filepath.Join(t.TempDir(), "zk")
	copyTree(t, modDir, work)
	patchHealthCheck(t, work)

	bin := unpack(t, "gozk")
	env = append(env, "ZOOKEEPER_BIN_PATH="+bin)
	if !slices.ContainsFunc(o.Env, func(s string) bool { return strings.HasPrefix(s, "ZK_VERSION=") }) {
		env = append(env, "ZK_VERSION=3.8.0")
	}
	if o.ServerBin != "" {
		env = append(env, "KEEPER_ZK_SERVER_BIN="+o.ServerBin)
	}
	env = append(env, o.Env...)
	run := "^TestIntegration_"
	timeout := 15 * time.Minute
	if !o.Long {
		run = "^(" + strings.Join(GoZookeeperShort, "|") + ")$"
		timeout = 4 * time.Minute
	}
	if o.Run != "" {
		run = o.Run
	}
	start := time.Now()
	out, err := runProc(t, timeout+time.Minute, work, env, nil,
		goBin, "test", "-json", "-count=1", "-timeout", timeout.String(), "-run", run, ".")
	t.Logf("go-zookeeper tests (-run %s) in %v", run, time.Since(start).Round(time.Millisecond))
	results := parseTestJSON(out)
	if len(results) == 0 {
		t.Fatalf("zkconform: go test ran no test: %v\n%s", err, out)
	}
	var passed, skipped, known []string
	for _, name := range sortedNames(results) {
		r := results[name]
		top := !strings.Contains(name, "/")
		switch {
		case r.action == "pass" && top:
			passed = append(passed, name)
			if why, ok := o.KnownFailures[name]; ok {
				t.Errorf("%s passed but is listed as a known failure (%s)", name, why)
			}
		case r.action == "skip" && top:
			skipped = append(skipped, name+": "+lastLine(r.output))
		case r.action == "fail":
			root, _, _ := strings.Cut(name, "/")
			if why, ok := o.KnownFailures[root]; ok {
				if top {
					known = append(known, name+" ("+why+")")
				}
				continue
			}
			t.Errorf("go-zookeeper %s failed:\n%s", name, strings.Join(r.output, ""))
		}
	}
	t.Logf("passed (%d): %s", len(passed), strings.Join(passed, " "))
	if len(skipped) > 0 {
		t.Logf("skipped (%d):\n%s", len(skipped), strings.Join(skipped, "\n"))
	}
	if len(known) > 0 {
		t.Logf("known failures (%d):\n%s", len(known), strings.Join(known, "\n"))
	}
	if err != nil && !t.Failed() && len(known) == 0 {
		t.Errorf("zkconform: go test: %v\n%s", err, tail(out, 40))
	}
}

// healthCheckCall is the readiness check in go-zookeeper's test harness
// (server_help_test.go, waitForStart), and healthCheckFile the check put in
// its place.
const (
	healthCheckCall = "_, ok := FLWSrvr(serverAddrs, time.Second)"
	healthCheckFile = `package zk

import (
	"regexp"
	"time"
)

var conformMode = regexp.MustCompile("(?m)^Mode: (leader|follower|standalone)$")

// conformServing reports whether every server answers srvr with the mode
// of a server that serves clients. It stands in for FLWSrvr in the
// harness's readiness check: FLWSrvr's parser wants the version line of
// ZooKeeper 3.5 ("built on 10/08/2019 20:18 GMT") and rejects that of
// 3.6 and later ("built on 2022-02-25 08:49 UTC"), so no server of those
// ever counts as started.
func conformServing(servers []string, timeout time.Duration) bool {
	for _, s := range FormatServers(servers) {
		b, err := fourLetterWord(s, "srvr", timeout)
		if err != nil || !conformMode.Match(b) {
			return false
		}
	}
	return true
}
`
)

// patchHealthCheck replaces the readiness check of go-zookeeper's test
// harness in the copy at dir; see healthCheckFile for why.
func patchHealthCheck(t *testing.T, dir string) {
	t.Helper()
	p := filepath.Join(dir, "server_help_test.go")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(b), healthCheckCall) != 1 {
		t.Fatalf("zkconform: %s no longer has one %q to replace", p, healthCheckCall)
	}
	b = []byte(strings.Replace(string(b), healthCheckCall, "ok := conformServing(serverAddrs, time.Second)", 1))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "zkconform_health_test.go"), []byte(healthCheckFile), 0o644); err != nil {
		t.Fatal(err)
	}
}

// downloadModule returns the directory of GoZookeeperModule in the module
// cache, downloading it through the Go module proxy if needed.
func downloadModule(t *testing.T, goBin string, env []string) string {
	t.Helper()
	out, err := runProc(t, 5*time.Minute, t.TempDir(), env, nil, goBin, "mod", "download", "-json", GoZookeeperModule)
	if err != nil {
		t.Fatalf("zkconform: go mod download %s: %v\n%s", GoZookeeperModule, err, out)
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal([]byte(out), &m); err != nil || m.Dir == "" {
		t.Fatalf("zkconform: go mod download %s: %v %s\n%s", GoZookeeperModule, err, m.Error, out)
	}
	return m.Dir
}

// copyTree copies the regular files under src to dst, writable.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(target, b, 0o644)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("zkconform: copy %s: %v", src, err)
	}
}

// parseTestJSON reads `go test -json` output into each test's last action
// and output lines. Lines that are not JSON events are ignored.
func parseTestJSON(out string) map[string]*gozkResult {
	results := map[string]*gozkResult{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var ev struct {
			Action string
			Test   string
			Output string
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Test == "" {
			continue
		}
		r := results[ev.Test]
		if r == nil {
			r = &gozkResult{}
			results[ev.Test] = r
		}
		switch ev.Action {
		case "output":
			r.output = append(r.output, ev.Output)
		case "pass", "fail", "skip":
			r.action = ev.Action
		}
	}
	return results
}

func sortedNames(m map[string]*gozkResult) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

var skipLine = regexp.MustCompile(`^\s*\S+\.go:\d+: `)

// lastLine returns a test's last line of its own output (a skip's
// reason), without the file:line prefix.
func lastLine(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l != "" && !strings.HasPrefix(l, "---") && !strings.HasPrefix(l, "===") {
			return skipLine.ReplaceAllString(lines[i], "")
		}
	}
	return ""
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// String describes a result for logs.
func (r *gozkResult) String() string {
	return fmt.Sprintf("%s (%d output lines)", r.action, len(r.output))
}
