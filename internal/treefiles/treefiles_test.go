package treefiles

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRecoverInstall crashes a swap at every step and checks recovery ends
// with one whole tree: the old one before the commit point, else the new.
func TestRecoverInstall(t *testing.T) {
	mk := func(t *testing.T, dir, tag string) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "tag"), []byte(tag), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tag := func(t *testing.T, d string) string {
		b, err := os.ReadFile(filepath.Join(d, "tree", "tag"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// crashAt: 0 build only, 1 committed, 2 old moved aside, 3 new in place,
	// 4 done.
	for crashAt, want := range []string{"old", "new", "new", "new", "new"} {
		d := t.TempDir()
		mk(t, filepath.Join(d, "tree"), "old")
		mk(t, filepath.Join(BuildDir(d), "tree"), "new")
		mk(t, filepath.Join(d, "..snap.ready.build.restore-123"), "junk")
		if crashAt >= 1 {
			if err := CommitStaged(d); err != nil {
				t.Fatal(err)
			}
		}
		if crashAt >= 2 {
			stop := map[int]int{2: 1, 3: 2, 4: 3}[crashAt]
			func() {
				defer func() { _ = recover() }()
				_ = SwapStaged(d, func(step int) {
					if step == stop {
						panic("crash")
					}
				})
			}()
		}
		if err := RecoverInstall(d); err != nil {
			t.Fatalf("crash at %d: %v", crashAt, err)
		}
		if got := tag(t, d); got != want {
			t.Fatalf("crash at %d: tree %q, want %q", crashAt, got, want)
		}
		names, _ := os.ReadDir(d)
		if len(names) != 1 {
			t.Fatalf("crash at %d: leftovers %v", crashAt, names)
		}
	}
}
