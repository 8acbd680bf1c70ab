package zkconform

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// ZooKeeperJar is Debian's ZooKeeper client and server jar; its manifest
// names the libraries it needs from /usr/share/java, as Debian's zkCli.sh
// relies on.
const ZooKeeperJar = "/usr/share/java/zookeeper.jar"

// slf4jNop silences the client's logging, so that its output holds only
// what the commands print.
const slf4jNop = "/usr/share/java/slf4j-nop.jar"

// zkCliMain is the command-line client's main class.
const zkCliMain = "org.apache.zookeeper.ZooKeeperMain"

// javaAvailable reports why java programs cannot run here, or nil.
func javaAvailable(tools ...string) error {
	for _, tool := range append([]string{"java"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("zkconform: %s not found: %w", tool, err)
		}
	}
	for _, jar := range []string{ZooKeeperJar, slf4jNop} {
		if _, err := os.Stat(jar); err != nil {
			return fmt.Errorf("zkconform: %w", err)
		}
	}
	return nil
}

// jvmFlags start a client JVM quickly: a small heap and no optimising
// compiler, which short runs do not pay back.
var jvmFlags = []string{"-Xms32m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"}

// RunZkCli runs each zkCli script (testdata/zkcli/*.zk) through
// ZooKeeperMain against e's first member, as a subtest, and compares the
// transcript, normalised (see normaliseZkCli), with the script's golden
// file (*.golden), which was made against Apache ZooKeeper 3.8. The TTL
// script needs the service to allow TTL znodes.
// Each known difference diffs (a service's documented departure from
// ZooKeeper 3.8) rewrites the golden transcript before the comparison.
func RunZkCli(t *testing.T, e Ensemble, diffs ...Difference) {
	runZkCli(t, e, false, diffs...)
}

// Difference is a known way a service's answers differ from ZooKeeper
// 3.8's, with its reason: Rewrite turns a golden transcript into what the
// service prints.
type Difference struct {
	Reason  string
	Rewrite func(golden string) string
}

// EmptyForNullData is the difference of a service that keeps no null
// data: ZooKeeper prints "null" for a znode created without data, such a
// service an empty line, as for data of length 0.
var EmptyForNullData = Difference{
	Reason: "a znode created without data reads back as empty, not null",
	Rewrite: func(golden string) string {
		lines := strings.Split(golden, "\n")
		for i := 1; i < len(lines); i++ {
			if lines[i] == "null" && strings.HasPrefix(lines[i-1], "> get ") {
				lines[i] = ""
			}
		}
		return strings.Join(lines, "\n")
	},
}

// runZkCli is RunZkCli; with update it writes the golden files in the
// source tree instead of comparing.
func runZkCli(t *testing.T, e Ensemble, update bool, diffs ...Difference) {
	require(t, javaAvailable(), "the zookeeper package (java and its jars)")
	names, err := fs.Glob(scripts, "testdata/zkcli/*.zk")
	if err != nil || len(names) == 0 {
		t.Fatalf("zkconform: no zkCli scripts: %v", err)
	}
	server := e.Addrs()[0]
	for _, name := range names {
		base := strings.TrimSuffix(path.Base(name), ".zk")
		t.Run(base, func(t *testing.T) {
			src, err := scripts.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			got := zkCliTranscript(t, server, base, string(src))
			golden := strings.TrimSuffix(name, ".zk") + ".golden"
			if update {
				writeGolden(t, golden, got)
				return
			}
			want, err := scripts.ReadFile(golden)
			if err != nil {
				t.Fatalf("zkconform: %v (make it with -update against real ZooKeeper)", err)
			}
			expect := string(want)
			for _, d := range diffs {
				expect = d.Rewrite(expect)
			}
			if d := firstDifference(sortACLs(expect), sortACLs(got)); d != "" {
				t.Errorf("%s.zk: transcript differs from %s.golden: %s\n--- got ---\n%s", base, base, d, got)
			}
		})
	}
}

// markPrefix names the znodes whose absence separates the output of one
// command from the next: zkCli does not echo commands, and `stat` of a
// missing znode prints one line, "Node does not exist: PATH".
const markPrefix = "/zkconform-mark-"

// zkCliTranscript runs the commands of script (one a line; # comments)
// through one ZooKeeperMain connected to server and returns the normalised
// transcript: each command after "> ", then what it printed.
func zkCliTranscript(t *testing.T, server, name, script string) string {
	t.Helper()
	var cmds []string
	for _, line := range strings.Split(script, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			cmds = append(cmds, line)
		}
	}
	// Before the first mark, output is not compared: the banner, and a
	// clean-up of what an earlier run on the same service left.
	var in strings.Builder
	fmt.Fprintf(&in, "printwatches off\ndeleteall /zkcli-%s\n", name)
	for i, c := range cmds {
		fmt.Fprintf(&in, "stat %s%d\n%s\n", markPrefix, i, c)
	}
	fmt.Fprintf(&in, "stat %s%d\nquit\n", markPrefix, len(cmds))

	args := append([]string{"java"}, jvmFlags...)
	args = append(args, "-cp", ZooKeeperJar+":"+slf4jNop, zkCliMain,
		"-waitforconnection", "-timeout", "30000", "-server", server)
	start := time.Now()
	out, err := runProc(t, 2*time.Minute, t.TempDir(), nil, strings.NewReader(in.String()), args...)
	t.Logf("zkCli %s.zk: %d commands in %v", name, len(cmds), time.Since(start).Round(time.Millisecond))
	// ZooKeeperMain exits 1 after a failed command (the last mark is one):
	// only a run that did not finish is an error here.
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("zkconform: zkCli: %v\n%s", err, out)
	}
	var b strings.Builder
	next := 0 // the mark expected next
	for _, line := range strings.Split(out, "\n") {
		if m, ok := strings.CutPrefix(line, "Node does not exist: "+markPrefix); ok {
			if m != fmt.Sprint(next) {
				t.Fatalf("zkconform: zkCli output has mark %s where %d was due:\n%s", m, next, out)
			}
			if next < len(cmds) {
				fmt.Fprintf(&b, "> %s\n", cmds[next])
			}
			next++
			continue
		}
		if next == 0 || next > len(cmds) {
			continue
		}
		b.WriteString(normaliseZkCli(line))
		b.WriteByte('\n')
	}
	if next != len(cmds)+1 {
		t.Fatalf("zkconform: zkCli ran %d of %d commands:\n%s", max(next-1, 0), len(cmds), out)
	}
	return b.String()
}

var (
	timeLine    = regexp.MustCompile(`^([cm]time) = .*$`)
	zxidLine    = regexp.MustCompile(`^([cmp]Zxid) = 0x[0-9a-f]+$`)
	sessionLine = regexp.MustCompile(`^ephemeralOwner = 0x[0-9a-f]*[1-9a-f][0-9a-f]*$`)
)

// normaliseZkCli replaces in one line of zkCli output what legitimately
// differs between two runs or two services: creation and modification
// times, zxids, and the session id owning an ephemeral znode (0x0, no
// owner, is kept).
func normaliseZkCli(line string) string {
	line = strings.TrimRight(line, " \t\r")
	switch {
	case timeLine.MatchString(line):
		return timeLine.ReplaceAllString(line, "$1 = <time>")
	case zxidLine.MatchString(line):
		return zxidLine.ReplaceAllString(line, "$1 = <zxid>")
	case sessionLine.MatchString(line):
		return "ephemeralOwner = <session>"
	}
	return line
}

// firstDifference describes the first line where got differs from want,
// or returns "" when they are equal.
func firstDifference(want, got string) string {
	if want == got {
		return ""
	}
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d: want %q, got %q", i+1, wl, gl)
		}
	}
	return "equal lines, different text"
}

// writeGolden writes a golden file into the package's source tree.
func writeGolden(t *testing.T, name, text string) {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("zkconform: cannot find the source tree")
	}
	p := filepath.Join(filepath.Dir(file), filepath.FromSlash(name))
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", p)
}

// sortACLs sorts the entries of each ACL zkCli's getAcl printed (two lines
// each: "'scheme,'id" and ": perms"). The order of an ACL that an auth
// entry expanded is the order ZooKeeper's server iterates the connection's
// identities in, a hash set's, which says nothing about the service; the
// entries themselves are compared.
func sortACLs(transcript string) string {
	lines := strings.Split(transcript, "\n")
	for i := 0; i < len(lines); {
		j := i
		for j+1 < len(lines) && strings.HasPrefix(lines[j], "'") && strings.HasPrefix(lines[j+1], ": ") {
			j += 2
		}
		if j == i {
			i++
			continue
		}
		entries := make([]string, 0, (j-i)/2)
		for k := i; k < j; k += 2 {
			entries = append(entries, lines[k]+"\n"+lines[k+1])
		}
		slices.Sort(entries)
		for n, e := range entries {
			lines[i+2*n], lines[i+2*n+1], _ = strings.Cut(e, "\n")
		}
		i = j
	}
	return strings.Join(lines, "\n")
}
