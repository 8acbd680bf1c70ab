package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keeper-go/keeper/internal/zkfile"
	"github.com/keeper-go/keeper/internal/zkfile/zkgen"
)

// import-zk turns a ZooKeeper data dir into a backup file that verifies,
// inspects and restores; export-zk writes it back as a snapshot in a new
// dataDir under the name ZooKeeper needs, and the snapshot loads as the
// same tree. A failed command leaves no output file.
func TestZooKeeperCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := t.TempDir()
	d, _, err := zkgen.WriteDir(ctx, filepath.Join(base, "zk"), zkgen.New(9), zkgen.DirOptions{Txns: 200, SnapshotAt: 80, LogEvery: 70})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(base, "zk.kbak")
	if err := importZK(ctx, []string{"-tmp", base, d.Path, out}); err != nil {
		t.Fatalf("import-zk: %v", err)
	}
	if err := verify(ctx, []string{"-in", out}, true); err != nil {
		t.Fatalf("inspect: %v", err)
	}
	if err := restore(ctx, []string{"-in", out, "-dir", filepath.Join(base, "member"), "-id", "1", "-peers", "1"}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	newDir := filepath.Join(base, "zknew")
	os.Mkdir(newDir, 0o755)
	if err := exportZK(ctx, []string{"-compression", "gz", out, newDir}); err != nil {
		t.Fatalf("export-zk: %v", err)
	}
	snaps, _ := filepath.Glob(filepath.Join(newDir, "version-2", "*"))
	if len(snaps) != 1 || filepath.Base(snaps[0]) != zkfile.SnapshotName(d.Zxid, zkfile.Gzip) {
		t.Fatalf("export-zk wrote %v, want one %s", snaps, zkfile.SnapshotName(d.Zxid, zkfile.Gzip))
	}
	tr, info, err := zkfile.Load(ctx, zkfile.Dirs{Data: newDir}, zkfile.LoadOptions{TempDir: base})
	if err != nil || info.DigestZxid != d.Zxid {
		t.Fatalf("the exported snapshot loads: %v, digest checked at %#x", err, info.DigestZxid)
	}
	tr.Close()

	// Damaged input: an error, and no output file.
	last := d.Logs[len(d.Logs)-1]
	b, _ := os.ReadFile(last)
	b[len(b)/2] ^= 1
	os.WriteFile(last, b, 0o644)
	bad := filepath.Join(base, "bad.kbak")
	if err := importZK(ctx, []string{"-tmp", base, d.Path, bad}); err == nil {
		t.Fatal("import-zk of a damaged log succeeded")
	}
	kb, _ := os.ReadFile(out)
	os.WriteFile(out, kb[:len(kb)-9], 0o644)
	badSnap := filepath.Join(base, "snapshot.bad")
	if err := exportZK(ctx, []string{out, badSnap}); err == nil {
		t.Fatal("export-zk of a truncated backup succeeded")
	}
	for _, p := range []string{bad, bad + ".partial", badSnap, badSnap + ".partial"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", p, err)
		}
	}
}
