package keeper_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/zkfile"
	"github.com/keeper-go/keeper/internal/zkfile/zkgen"
)

// zkFuzzDir returns the files of a small ZooKeeper data dir: its snapshot
// and its one log.
func zkFuzzDir(f *testing.F, o zkgen.DirOptions) (snapName string, snap, log []byte) {
	d, _, err := zkgen.WriteDir(context.Background(), f.TempDir(), zkgen.New(77), o)
	if err != nil {
		f.Fatal(err)
	}
	snap, _ = os.ReadFile(d.Snapshot)
	log, _ = os.ReadFile(d.Logs[0])
	return filepath.Base(d.Snapshot), snap, log
}

// FuzzImportZooKeeper imports a data dir whose snapshot and log are
// arbitrary bytes. Every refusal is typed, and whatever it wrote before
// failing does not verify; what it imports verifies.
func FuzzImportZooKeeper(f *testing.F) {
	for _, c := range []zkfile.Compression{zkfile.Plain, zkfile.Snappy} {
		name, snap, log := zkFuzzDir(f, zkgen.DirOptions{Txns: 30, SnapshotAt: 10, Fuzz: 2, Pad: 64, Compression: c})
		f.Add(name, snap, log)
	}
	f.Fuzz(func(t *testing.T, name string, snap, log []byte) {
		if zkfile.CompressionOf(name) == zkfile.Gzip || filepath.Base(name) != name {
			return
		}
		dir := t.TempDir()
		if _, ok := zkfile.ZxidOfName(name, "snapshot"); !ok {
			name = "snapshot.1"
		}
		os.WriteFile(filepath.Join(dir, name), snap, 0o644)
		os.WriteFile(filepath.Join(dir, "log.1"), log, 0o644)
		ctx := context.Background()
		var buf bytes.Buffer
		info, err := keeper.ImportZooKeeper(ctx, keeper.ZooKeeperDirs{Data: dir}, &buf, keeper.ImportOptions{TempDir: t.TempDir(), NoCompression: true})
		_, verr := keeper.VerifyBackup(ctx, bytes.NewReader(buf.Bytes()), keeper.VerifyOptions{})
		if err != nil {
			if !errors.Is(err, keeper.ErrNotZooKeeper) && !errors.Is(err, keeper.ErrZooKeeperCorrupt) &&
				!errors.Is(err, keeper.ErrZooKeeperUnsupported) && !errors.Is(err, keeper.ErrZooKeeperDigest) {
				t.Fatalf("untyped error: %v", err)
			}
			if verr == nil {
				t.Fatalf("failed import (%v) left a stream that verifies", err)
			}
			return
		}
		if verr != nil {
			t.Fatalf("imported stream does not verify: %v (info %+v)", verr, info)
		}
	})
}

// FuzzExportZooKeeper exports arbitrary bytes as a backup: a refusal
// matches ErrCorruptBackup and writes nothing.
func FuzzExportZooKeeper(f *testing.F) {
	name, snap, log := zkFuzzDir(f, zkgen.DirOptions{Txns: 30, SnapshotAt: 10})
	dir := f.TempDir()
	os.WriteFile(filepath.Join(dir, name), snap, 0o644)
	os.WriteFile(filepath.Join(dir, "log.1"), log, 0o644)
	var seed bytes.Buffer
	if _, err := keeper.ImportZooKeeper(context.Background(), keeper.ZooKeeperDirs{Data: dir}, &seed, keeper.ImportOptions{}); err != nil {
		f.Fatal(err)
	}
	f.Add(seed.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		_, err := keeper.ExportZooKeeper(context.Background(), bytes.NewReader(data), &out, keeper.ExportOptions{TempDir: t.TempDir()})
		if err != nil && (!errors.Is(err, keeper.ErrCorruptBackup) || out.Len() != 0) {
			t.Fatalf("refusal %v, %d bytes written", err, out.Len())
		}
	})
}
