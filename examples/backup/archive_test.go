package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
	"github.com/keeper-go/keeper/transport"
)

// TestMain runs the tool itself when a test starts this binary with
// BACKUP_TOOL_MAIN set, so tests see its output and exit status.
func TestMain(m *testing.M) {
	if os.Getenv("BACKUP_TOOL_MAIN") != "" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// tool runs the backup tool with args and returns its stdout, its stderr
// and its exit status.
func tool(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "BACKUP_TOOL_MAIN=1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("backup %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// mustTool runs the tool, which must succeed and print every string in
// want.
func mustTool(t *testing.T, want []string, args ...string) string {
	t.Helper()
	out, errOut, code := tool(t, args...)
	if code != 0 {
		t.Fatalf("backup %v: exit %d\n%s%s", args, code, out, errOut)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("backup %v printed\n%s\nwant it to hold %q", args, out, w)
		}
	}
	return out
}

// failTool runs the tool, which must exit with status 1 and print every
// string in want on stderr.
func failTool(t *testing.T, want []string, args ...string) {
	t.Helper()
	out, errOut, code := tool(t, args...)
	if code != 1 {
		t.Fatalf("backup %v: exit %d, want 1\n%s%s", args, code, out, errOut)
	}
	for _, w := range want {
		if !strings.Contains(errOut, w) {
			t.Errorf("backup %v: stderr\n%s\nwant it to hold %q", args, errOut, w)
		}
	}
}

// The archive commands read the encrypted archive of a real 1-member
// cluster: list it, plan and drill points in it and refuse points outside
// it, verify it (and fail on a damaged copy), and restore the tree at a
// mark into a new data dir that opens as a member serving that tree.
func TestArchiveCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base := t.TempDir()
	dir := filepath.Join(base, "archive")
	keyFile := filepath.Join(base, "key")
	key := []byte("0123456789abcdef0123456789abcdef")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	c := keepertest.NewCluster(t, 1, keepertest.WithConfig(func(cfg *keeper.Config) {
		cfg.CheckInterval = 100 * time.Millisecond
		cfg.Archive = &keeper.ArchiveConfig{Target: keeper.DirTarget(dir), Key: key, SyncEvery: 20 * time.Millisecond}
	}))
	n := c.WaitLeader()
	// The archive starts with a base of the tree as the member first finds
	// it; the writes after it go to segments.
	waitArchived(t, n, 1)
	for _, p := range []string{"/app", "/app/a", "/app/b"} {
		if _, err := n.Create(ctx, p, []byte("v1"), keeper.Persistent); err != nil {
			t.Fatal(err)
		}
	}
	mark, err := n.Mark(ctx, "before-cleanup")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Delete(ctx, "/app/b", keeper.AnyVersion); err != nil {
		t.Fatal(err)
	}
	waitArchived(t, n, n.Status().Applied)
	k := []string{"-target", dir, "-key-file", keyFile}

	out := mustTool(t, []string{"1 cluster(s)", "base     zxid", "segment  zxid", " 0 gaps"}, append([]string{"archive-list"}, k...)...)
	if strings.Contains(out, "MISSING") || strings.Contains(out, "GAP") {
		t.Errorf("archive-list shows a hole:\n%s", out)
	}
	mustTool(t, []string{fmt.Sprintf("mark %q is zxid %d", "before-cleanup", mark), "applies"},
		append([]string{"archive-plan", "-mark", "before-cleanup"}, k...)...)
	mustTool(t, []string{fmt.Sprintf("just before mark %q is zxid %d", "before-cleanup", mark-1)},
		append([]string{"archive-plan", "-mark", "before-cleanup", "-exclusive"}, k...)...)
	mustTool(t, []string{"the latest archived point is zxid"}, append([]string{"archive-plan", "latest"}, k...)...)
	mustTool(t, []string{fmt.Sprintf("drill to zxid %d: rebuilt zxid %d, digest", mark, mark)},
		append([]string{"archive-drill", "-zxid", fmt.Sprint(mark)}, k...)...)
	mustTool(t, []string{"1 bases", "restores zxid"}, append([]string{"archive-verify"}, k...)...)
	mustTool(t, []string{"created /app/b", "deleted /app/b", `"v1" -> ""`, "2 changes"}, append(append([]string{"archive-history"}, k...), "/app/b")...)
	mustTool(t, []string{"created /app/a", "created /app/b", "deleted /app/b"}, append(append([]string{"archive-history", "-subtree"}, k...), "/app")...)
	failTool(t, []string{"one znode path"}, append([]string{"archive-history"}, k...)...)

	// Points outside the archive, a bad point and a missing key.
	failTool(t, []string{"point not in the archive", "zxid 1099511627776"}, append([]string{"archive-plan", "-zxid", "1099511627776"}, k...)...)
	failTool(t, []string{"point not in the archive", "before the archive's oldest entry"},
		append([]string{"archive-drill", "-time", "2001-01-01T00:00:00Z"}, k...)...)
	failTool(t, []string{`no mark called "nope"`}, append([]string{"archive-plan", "-mark", "nope"}, k...)...)
	failTool(t, []string{"needs one point"}, append([]string{"archive-plan", "-mark", "x", "latest"}, k...)...)
	failTool(t, []string{"key"}, "archive-drill", "-target", dir, "latest")
	outside := filepath.Join(base, "outside")
	failTool(t, []string{"point not in the archive"},
		append([]string{"archive-restore", "-zxid", "1099511627776", "-dir", outside, "-id", "1", "-peers", "1"}, k...)...)
	if _, err := os.Stat(outside); err == nil {
		t.Errorf("a failed archive-restore left %s", outside)
	}

	// A damaged segment: verify reports it and fails.
	damaged := filepath.Join(base, "damaged")
	if err := os.CopyFS(damaged, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(damaged, "*", "log", "*.kseg"))
	if len(segs) == 0 {
		t.Fatal("no segment in the archive")
	}
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(segs[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code := tool(t, "archive-verify", "-target", damaged, "-key-file", keyFile)
	if code != 1 || !strings.Contains(out, "problem: keeper: corrupt archive object") {
		t.Errorf("archive-verify of a damaged archive: exit %d\n%s", code, out)
	}

	// Restore at the mark: /app/b, deleted after it, is there.
	restored := filepath.Join(base, "restored")
	mustTool(t, []string{fmt.Sprintf("restored mark %q (zxid %d) into %s as member 7 of [7]", "before-cleanup", mark, restored)},
		append([]string{"archive-restore", "-mark", "before-cleanup", "-dir", restored, "-id", "7", "-peers", "7"}, k...)...)
	failTool(t, []string{"not empty"}, append([]string{"archive-restore", "latest", "-dir", restored, "-id", "7", "-peers", "7"}, k...)...)
	net := transport.NewMemory(1)
	defer net.Close()
	m, err := keeper.Open(ctx, keeper.Config{ID: 7, Dir: restored, Peers: []uint64{7}, Transport: net.Endpoint(7)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if data, _, err := m.Get(ctx, "/app/b"); err != nil || string(data) != "v1" {
		t.Errorf("restored /app/b: %q %v", data, err)
	}
}

// waitArchived waits until n reports that the archive holds zxid z.
func waitArchived(t *testing.T, n *keeper.Node, z keeper.Zxid) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for n.Status().ArchivedZxid < z {
		if time.Now().After(deadline) {
			st := n.Status()
			t.Fatalf("archive holds zxid %d, want %d (err %q)", st.ArchivedZxid, z, st.ArchiveErr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
