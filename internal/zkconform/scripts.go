package zkconform

import (
	"embed"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// scripts are the client programs and their expected outputs, shipped in
// the test binary so that a harness run from any package finds them.
//
//go:embed testdata
var scripts embed.FS

// unpack writes the files of scripts under testdata/sub into a new
// directory of the test's temp dir and returns its path. Files ending in
// .sh are made executable.
func unpack(t testing.TB, sub string) string {
	t.Helper()
	root := "testdata/" + sub
	dst := t.TempDir()
	err := fs.WalkDir(scripts, root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := scripts.ReadFile(path)
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if filepath.Ext(path) == ".sh" {
			mode = 0o755
		}
		return os.WriteFile(target, b, mode)
	})
	if err != nil {
		t.Fatalf("zkconform: unpack %s: %v", sub, err)
	}
	return dst
}
