package storage

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/keeper-go/keeper/internal/keys"
)

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{ClusterID: 7})
	if err != nil {
		t.Fatal(err)
	}
	b := s.NewBatch()
	if err := b.Set([]byte("n\x00a"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(false); err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{ClusterID: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.ClusterID() != 7 {
		t.Fatalf("cluster id %d", s.ClusterID())
	}
	var got string
	if err := s.Get([]byte("n\x00a"), func(v []byte) error { got = string(v); return nil }); err != nil || got != "v" {
		t.Fatalf("get after reopen: %q, %v", got, err)
	}
	if err := s.Get([]byte("n\x00b"), func([]byte) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing key: %v", err)
	}
}

func TestWrongCluster(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{ClusterID: 1})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if _, err := Open(dir, Options{ClusterID: 2}); !errors.Is(err, ErrWrongCluster) {
		t.Fatalf("got %v, want ErrWrongCluster", err)
	}
}

func TestFormatTooNew(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{ClusterID: 1})
	if err != nil {
		t.Fatal(err)
	}
	b := s.NewBatch()
	_ = b.Set(keys.MetaKey(keys.MetaFormat), binary.AppendUvarint(nil, FormatVersion+1))
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	_ = s.Close()
	if _, err := Open(dir, Options{ClusterID: 1}); !errors.Is(err, ErrFormatTooNew) {
		t.Fatalf("got %v, want ErrFormatTooNew", err)
	}
}

func TestForeignDataRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{ClusterID: 1})
	if err != nil {
		t.Fatal(err)
	}
	b := s.NewBatch()
	_ = b.Delete(keys.MetaKey(keys.MetaFormat))
	_ = b.Set([]byte("x"), []byte("y"))
	_ = b.Commit(true)
	_ = b.Close()
	_ = s.Close()
	if _, err := Open(dir, Options{ClusterID: 1}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
}

// TestViewIsPointInTime: a View reads the store as it was when opened, and
// reports a missing key as ErrNotFound, as Get does.
func TestViewIsPointInTime(t *testing.T) {
	s, err := Open(t.TempDir(), Options{ClusterID: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	set := func(k, v string) {
		b := s.NewBatch()
		defer b.Close()
		if err := b.Set([]byte(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(false); err != nil {
			t.Fatal(err)
		}
	}
	set("n\x00a", "1")
	v, err := s.NewView()
	if err != nil {
		t.Fatal(err)
	}
	set("n\x00a", "2")
	set("n\x00b", "2")
	get := func(key string) (string, error) {
		var got string
		err := v.Get([]byte(key), func(val []byte) error { got = string(val); return nil })
		return got, err
	}
	// Keys around the one read, so that a prefix seek cannot stop at a
	// neighbour.
	for _, k := range []string{"n\x00", "n\x00a\x00", "n\x00aa"} {
		if got, err := get(k); !errors.Is(err, ErrNotFound) {
			t.Errorf("view get %q: %q, %v; want ErrNotFound", k, got, err)
		}
	}
	if got, err := get("n\x00a"); err != nil || got != "1" {
		t.Errorf("view get: %q, %v; want the value when the view opened", got, err)
	}
	if got, err := get("n\x00b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("view get of a key written after it opened: %q, %v", got, err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
}
