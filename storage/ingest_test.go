package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/keeper-go/keeper/internal/keys"
)

func TestLoader(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{ClusterID: 3})
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.NewLoader(LoaderOptions{TableSize: 4 << 10}) // many sstables
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	for i := 0; i < n; i++ {
		if err := l.Add(keys.NodeKey(nil, fmt.Sprintf("/k%06d", i)), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Add(keys.NodeKey(nil, "/k000001"), nil); err == nil {
		t.Fatal("out-of-order key accepted")
	}
	l.Abort()

	// A fresh loader: the refused key made the first one unusable.
	l, err = s.NewLoader(LoaderOptions{TableSize: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := n; i < 2*n; i++ {
		if err := l.Add(keys.NodeKey(nil, fmt.Sprintf("/k%06d", i)), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tree", "load")); !os.IsNotExist(err) {
		t.Fatalf("load dir left behind: %v", err)
	}
	lo, hi := keys.NodeSpan()
	it, err := s.NewIter(lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	// Keys ingested before the failed Add stay (a caller building a new
	// store throws the whole store away instead); every key of the second
	// loader is there, in order.
	var prev string
	second := 0
	for ok := it.First(); ok; ok = it.Next() {
		p, _ := keys.NodePath(it.Key())
		var k int
		if _, err := fmt.Sscanf(p, "/k%06d", &k); err != nil || p <= prev {
			_ = it.Close()
			t.Fatalf("key %s after %s", p, prev)
		}
		if k >= n {
			second++
		}
		prev = p
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if second != n {
		t.Fatalf("%d keys of the second loader", second)
	}
	// Batches still work beside ingested tables, and the store reopens.
	b := s.NewBatch()
	_ = b.Set(keys.MetaKey("x"), []byte("y"))
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{ClusterID: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Get(keys.NodeKey(nil, fmt.Sprintf("/k%06d", 2*n-1)), func([]byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
}
