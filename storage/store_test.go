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
