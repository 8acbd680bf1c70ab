package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/transport"
)

// The tool's four subcommands work on a real member's data dir: back up the
// stopped member, verify and inspect the file (plain and encrypted), restore
// it into a new dir, and the restored member serves the same tree.
func TestBackupTool(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := t.TempDir()
	src := filepath.Join(base, "src")
	net := transport.NewMemory(1)
	defer net.Close()
	n, err := keeper.Open(ctx, keeper.Config{ID: 1, Dir: src, Peers: []uint64{1}, Transport: net.Endpoint(1)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if _, err := n.Create(ctx, fmt.Sprintf("/t%d", i), []byte("data"), keeper.Persistent); err != nil {
			t.Fatal(err)
		}
	}
	want := n.Status().Digest
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(base, "key")
	if err := os.WriteFile(keyFile, []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"", keyFile} {
		out := filepath.Join(base, fmt.Sprintf("b%d.kbak", len(key)))
		if err := backup(ctx, []string{"-dir", src, "-out", out, "-key-file", key}); err != nil {
			t.Fatalf("backup: %v", err)
		}
		if err := verify(ctx, []string{"-in", out, "-key-file", key}, false); err != nil {
			t.Fatalf("verify: %v", err)
		}
		if err := verify(ctx, []string{"-in", out, "-key-file", key}, true); err != nil {
			t.Fatalf("inspect: %v", err)
		}
		dst := filepath.Join(base, fmt.Sprintf("dst%d", len(key)))
		if err := restore(ctx, []string{"-in", out, "-dir", dst, "-id", "7", "-peers", "7", "-key-file", key}); err != nil {
			t.Fatalf("restore: %v", err)
		}
		m, err := keeper.Open(ctx, keeper.Config{ID: 7, Dir: dst, Peers: []uint64{7}, Transport: net.Endpoint(7)})
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Status().Digest; got != want {
			t.Errorf("restored digest %x, source %x", got, want)
		}
		if data, _, err := m.Get(ctx, "/t42"); err != nil || string(data) != "data" {
			t.Errorf("restored /t42: %q %v", data, err)
		}
		m.Close()
	}
	if err := verify(ctx, []string{"-in", filepath.Join(base, fmt.Sprintf("b%d.kbak", len(keyFile)))}, false); err == nil {
		t.Fatal("an encrypted backup verified without its key")
	}
}
