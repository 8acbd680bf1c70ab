package zkconform

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Python is the interpreter the kazoo scripts run under: Debian's, for
// which the python3-kazoo package installs kazoo.
const Python = "/usr/bin/python3"

// kazooScripts are the scripts under testdata/kazoo, each a subtest.
var kazooScripts = []string{"lock", "election", "watch"}

// kazooAvailable reports why the kazoo scripts cannot run here, or nil.
func kazooAvailable() error {
	out, err := exec.Command(Python, "-E", "-s", "-c", "import kazoo.client, kazoo.recipe.lock").CombinedOutput()
	if err != nil {
		return fmt.Errorf("zkconform: %s cannot import kazoo: %v: %s", Python, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// RunKazoo runs each kazoo script (testdata/kazoo: lock, election, watch)
// against e as a subtest, with the connection string of all its members.
// A script prints one "ok:" line per property it checked and a "FAIL:" line
// per violation, and exits non-zero on any; the subtest fails with those
// lines. long selects the scripts' long versions (more clients, more
// rounds).
func RunKazoo(t *testing.T, e Ensemble, long bool) {
	require(t, kazooAvailable(), "python3-kazoo")
	dir := unpack(t, "kazoo")
	hs := hosts(e)
	for _, name := range kazooScripts {
		t.Run(name, func(t *testing.T) {
			args := []string{Python, "-B", "-E", "-s", filepath.Join(dir, name+".py"), hs}
			timeout := 2 * time.Minute
			if long {
				args = append(args, "--long")
				timeout = 10 * time.Minute
			}
			start := time.Now()
			out, err := runProc(t, timeout, dir, nil, nil, args...)
			t.Logf("%s.py in %v:\n%s", name, time.Since(start).Round(time.Millisecond), out)
			if f := scriptFailure(name+".py", out, err); f != "" {
				t.Error(f)
			}
		})
	}
}

// scriptFailure describes why a script run failed, or returns "" when it
// passed: it exited 0, checked something ("ok:" lines) and reported no
// violation ("FAIL:" lines, which are repeated).
func scriptFailure(name, out string, err error) string {
	var oks int
	var fails []string
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "ok: "):
			oks++
		case strings.HasPrefix(line, "FAIL: "):
			fails = append(fails, line)
		}
	}
	if err == nil && len(fails) == 0 && oks > 0 {
		return ""
	}
	return fmt.Sprintf("%s: exit %v, %d checks passed, %d failed:\n%s", name, err, oks, len(fails), strings.Join(fails, "\n"))
}
