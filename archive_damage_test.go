package keeper_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keeper-go/keeper"
)

// archiveFiles makes a small archive on a directory and returns the
// directory, the zxid the archive reaches and the segment files.
func archiveFiles(t *testing.T, key []byte) (dir string, z keeper.Zxid, segs []string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "archive")
	c := archiveCluster(t, 1, keeper.DirTarget(dir), withArchiveKey(key))
	for i := range 30 {
		mustCreate(t, c, fmt.Sprintf("/n%d", i), "x")
		if i%10 == 9 {
			// Several segments: wait for each ten writes to be archived.
			waitArchived(t, c, c.WaitLeader().Status().Applied)
		}
	}
	z = c.WaitLeader().Status().Applied
	waitArchived(t, c, z)
	segs, _ = filepath.Glob(filepath.Join(dir, "*", "log", "*.kseg"))
	if len(segs) < 2 {
		t.Fatalf("want several segments, have %v", segs)
	}
	return dir, z, segs
}

// restoreErr is the error a restore to z from the archive in dir meets,
// through At as Restore reads it.
func restoreErr(t *testing.T, dir string, key []byte, z keeper.Zxid) error {
	t.Helper()
	ctx := context.Background()
	arch, err := keeper.OpenArchive(ctx, keeper.DirTarget(dir), keeper.ArchiveOptions{Key: key})
	if err != nil {
		return err
	}
	out := filepath.Join(t.TempDir(), "restored")
	r := arch.At(keeper.AtZxid(z))
	defer r.Close()
	_, err = keeper.Restore(ctx, r, out, keeper.RestoreOptions{ID: 1, Peers: []uint64{1}})
	if err != nil {
		if _, serr := os.Stat(out); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("a failed restore left %s behind: %v", out, serr)
		}
	}
	return err
}

// TestArchiveRefusesDamage: a damaged, missing, renamed (reordered),
// foreign or wrong-key segment is refused with a typed error, never
// applied, and the restore leaves no data dir behind.
func TestArchiveRefusesDamage(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	dir, z, segs := archiveFiles(t, key)
	if err := restoreErr(t, dir, key, z); err != nil {
		t.Fatalf("the intact archive: %v", err)
	}
	if err := restoreErr(t, dir, nil, z); !errors.Is(err, keeper.ErrBackupKey) {
		t.Errorf("no key: %v, want ErrBackupKey", err)
	}
	if err := restoreErr(t, dir, bytes.Repeat([]byte{8}, 32), z); !errors.Is(err, keeper.ErrBackupKey) {
		t.Errorf("wrong key: %v, want ErrBackupKey", err)
	}

	mid := segs[len(segs)/2]
	orig, err := os.ReadFile(mid)
	if err != nil {
		t.Fatal(err)
	}
	restoreFile := func() {
		t.Helper()
		if err := os.WriteFile(mid, orig, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, off := range []int{0, 20, len(orig) / 2, len(orig) - 1} {
		damaged := bytes.Clone(orig)
		damaged[off] ^= 0x40
		if err := os.WriteFile(mid, damaged, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := restoreErr(t, dir, key, z); !errors.Is(err, keeper.ErrArchiveCorrupt) {
			t.Errorf("bit flipped at %d of %d: %v, want ErrArchiveCorrupt", off, len(orig), err)
		}
	}
	if err := os.WriteFile(mid, orig[:len(orig)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := restoreErr(t, dir, key, z); !errors.Is(err, keeper.ErrArchiveCorrupt) {
		t.Errorf("cut short: %v, want ErrArchiveCorrupt", err)
	}
	restoreFile()

	// Missing: the restore cannot reach its point.
	if err := os.Rename(mid, mid+".away"); err != nil {
		t.Fatal(err)
	}
	if err := restoreErr(t, dir, key, z); !errors.Is(err, keeper.ErrNotArchived) {
		t.Errorf("segment missing: %v, want ErrNotArchived", err)
	}
	// Renamed to another range: what it holds is not what its name says.
	name := filepath.Base(mid)
	var first, last, t0, t1 uint64
	if _, err := fmt.Sscanf(name, "%d-%d-%d-%d.kseg", &first, &last, &t0, &t1); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(filepath.Dir(mid), fmt.Sprintf("%020d-%020d-%013d-%013d.kseg", first, last+1, t0, t1))
	if err := os.Rename(mid+".away", other); err != nil {
		t.Fatal(err)
	}
	if err := restoreErr(t, dir, key, z); !errors.Is(err, keeper.ErrArchiveCorrupt) {
		t.Errorf("segment under another range's name: %v, want ErrArchiveCorrupt", err)
	}
	if err := os.Rename(other, mid); err != nil {
		t.Fatal(err)
	}

	// Foreign: another cluster's segment under this cluster's name.
	dir2, _, segs2 := archiveFiles(t, key)
	_ = dir2
	foreign, err := os.ReadFile(segs2[len(segs2)/2])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mid, foreign, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := restoreErr(t, dir, key, z); !errors.Is(err, keeper.ErrArchiveCorrupt) {
		t.Errorf("foreign segment: %v, want ErrArchiveCorrupt", err)
	}
	restoreFile()

	// Verify names the damaged object.
	damaged := bytes.Clone(orig)
	damaged[len(orig)/2] ^= 1
	if err := os.WriteFile(mid, damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	arch, err := keeper.OpenArchive(context.Background(), keeper.DirTarget(dir), keeper.ArchiveOptions{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := arch.Verify(context.Background())
	if !errors.Is(err, keeper.ErrArchiveCorrupt) || !strings.Contains(err.Error(), name) || rep.To >= z {
		t.Errorf("verify of a damaged archive: %v %+v", err, rep)
	}
	restoreFile()
	if err := restoreErr(t, dir, key, z); err != nil {
		t.Fatalf("the archive made whole again: %v", err)
	}
}
