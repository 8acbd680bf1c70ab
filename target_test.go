package keeper_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

func TestDirTarget(t *testing.T) {
	keepertest.TestTarget(t, func(t *testing.T) keeper.Target {
		return keeper.DirTarget(filepath.Join(t.TempDir(), "archive"))
	})
}

// A temp file a crash left beside an object is never listed, and a name
// whose element looks like one is refused.
func TestDirTargetCrashTempFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tg := keeper.DirTarget(dir)
	if err := tg.Put(ctx, "wal/0001.seg", bytes.NewReader([]byte("seg"))); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{".tmp-123456", "wal/.tmp-987654"} {
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(p)), []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	objs, err := tg.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 || objs[0] != (keeper.TargetObject{Name: "wal/0001.seg", Size: 3}) {
		t.Fatalf("List = %v; want only wal/0001.seg", objs)
	}
	for _, name := range []string{".tmp-123456", "wal/.tmp-987654", ".tmp-x/a"} {
		if err := tg.Put(ctx, name, bytes.NewReader(nil)); !errors.Is(err, keeper.ErrTargetName) {
			t.Errorf("Put(%q) = %v; want ErrTargetName", name, err)
		}
	}
}

func TestDirTargetMissingDir(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "not", "yet")
	tg := keeper.DirTarget(dir)
	objs, err := tg.List(ctx, "")
	if err != nil || len(objs) != 0 {
		t.Fatalf("List on a missing dir = %v, %v; want nothing", objs, err)
	}
	if _, err := tg.Get(ctx, "base/0001"); !errors.Is(err, keeper.ErrTargetNotFound) {
		t.Fatalf("Get on a missing dir = %v; want ErrTargetNotFound", err)
	}
	if err := tg.Delete(ctx, "base/0001"); err != nil {
		t.Fatalf("Delete on a missing dir = %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("List, Get and Delete made the dir: %v", err)
	}
}

// A write that fails (as on a full disk) is a plain error and leaves
// neither the object nor a temp file.
func TestDirTargetWriteFails(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tg := keeper.DirTarget(dir)
	err := tg.Put(ctx, "base/0001", failingReader{})
	if err == nil || errors.Is(err, keeper.ErrTargetExists) || !errors.Is(err, errNoSpace) {
		t.Fatalf("Put = %v; want the reader's error, not ErrTargetExists", err)
	}
	left, err := os.ReadDir(filepath.Join(dir, "base"))
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("failed Put left %v", left)
	}
}

// A name taken by a directory (objects under it) is not an object: Get
// says not found and Delete has nothing to remove.
func TestDirTargetNameIsDir(t *testing.T) {
	ctx := context.Background()
	tg := keeper.DirTarget(t.TempDir())
	if err := tg.Put(ctx, "base/0001/part", bytes.NewReader([]byte("p"))); err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Get(ctx, "base/0001"); !errors.Is(err, keeper.ErrTargetNotFound) {
		t.Fatalf("Get of a directory = %v; want ErrTargetNotFound", err)
	}
	if err := tg.Delete(ctx, "base/0001"); err != nil {
		t.Fatalf("Delete of a directory = %v; want nil", err)
	}
	if _, err := tg.Get(ctx, "base/0001/part"); err != nil {
		t.Fatalf("object under the directory: %v", err)
	}
}

var errNoSpace = errors.New("no space left on device")

type failingReader struct{}

func (failingReader) Read(p []byte) (int, error) { return 0, errNoSpace }

// A Put of a name a directory holds is a plain error: no object has it.
func TestDirTargetPutOverDir(t *testing.T) {
	ctx := context.Background()
	tg := keeper.DirTarget(t.TempDir())
	if err := tg.Put(ctx, "base/0001/part", bytes.NewReader([]byte("p"))); err != nil {
		t.Fatal(err)
	}
	err := tg.Put(ctx, "base/0001", bytes.NewReader([]byte("x")))
	if err == nil || errors.Is(err, keeper.ErrTargetExists) {
		t.Fatalf("Put over a directory = %v; want a plain error", err)
	}
}

// Every name CheckTargetName accepts stays inside the directory a
// DirTarget keeps, and the check never panics.
func FuzzCheckTargetName(f *testing.F) {
	for _, s := range []string{"wal/0001.seg", "..", "a/../b", "a//b", "/abs", ".tmp-1", "a/.", "x\x00y", "ü"} {
		f.Add(s)
	}
	root := filepath.Join(string(filepath.Separator), "archive")
	f.Fuzz(func(t *testing.T, name string) {
		if keeper.CheckTargetName(name) != nil {
			return
		}
		p := filepath.Join(root, filepath.FromSlash(name))
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." || rel == ".." || len(rel) >= 3 && rel[:3] == ".."+string(filepath.Separator) {
			t.Fatalf("accepted name %q leaves the root: %q", name, p)
		}
		if filepath.ToSlash(rel) != name {
			t.Fatalf("accepted name %q is not its own path: %q", name, rel)
		}
	})
}
