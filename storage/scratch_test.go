package storage

import (
	"context"
	"fmt"
	"testing"

	"github.com/keeper-go/keeper/internal/keys"
)

// TestScratchKeepsCommittedOverClose: a scratch store has no log, yet what
// was ingested and committed (synced or not) is there after Close and a
// reopen, as the archive's replay relies on between its base and its log.
func TestScratchKeepsCommittedOverClose(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{ClusterID: 5, Scratch: true})
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.NewLoader(LoaderOptions{TableSize: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if err := l.Add(keys.NodeKey(nil, fmt.Sprintf("/k%04d", i)), []byte("loaded")); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, sync := range []bool{true, false} {
		b := s.NewBatch()
		if err := b.Set(keys.NodeKey(nil, fmt.Sprintf("/b%d", i)), []byte("batch")); err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(sync); err != nil {
			t.Fatalf("commit (sync %v): %v", sync, err)
		}
		_ = b.Close()
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{ClusterID: 5, Scratch: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for key, want := range map[string]string{"/k0000": "loaded", "/k0999": "loaded", "/b0": "batch", "/b1": "batch"} {
		var got string
		err := s.Get(keys.NodeKey(nil, key), func(v []byte) error { got = string(v); return nil })
		if err != nil || got != want {
			t.Errorf("%s after reopen: %q, %v; want %q", key, got, err, want)
		}
	}
}
