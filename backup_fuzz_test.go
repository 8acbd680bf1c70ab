package keeper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/keeper-go/keeper/internal/keys"
	"github.com/keeper-go/keeper/storage"
)

// fuzzSeedStreams returns small real streams (several chunks each) in the
// configurations a reader meets: plain, zstd, and zstd + AES under testKey.
func fuzzSeedStreams(t testing.TB) map[string][]byte {
	h := newHarness(t)
	randomTree(h, rand.New(rand.NewPCG(11, 11)), 40, false)
	h.tr.apply([]committed{{Index: h.tr.applied() + 1, Kind: entryConf, Data: []byte("m1")}})
	out := make(map[string][]byte)
	for name, o := range map[string]BackupOptions{
		"seed-plain": {NoCompression: true},
		"seed-zstd":  {},
		"seed-aes":   {Key: testKey},
	} {
		var buf bytes.Buffer
		if _, err := h.tr.writeStream(context.Background(), &buf, streamHeaderInfo{chunkSize: 512}, o, nil); err != nil {
			t.Fatal(err)
		}
		out[name] = buf.Bytes()
	}
	return out
}

// TestWriteBackupFuzzCorpus regenerates the seeds of FuzzVerifyBackup and
// FuzzRestore when KEEPER_WRITE_CORPUS is set.
func TestWriteBackupFuzzCorpus(t *testing.T) {
	if os.Getenv("KEEPER_WRITE_CORPUS") == "" {
		t.Skip("set KEEPER_WRITE_CORPUS=1 to regenerate the seed corpus")
	}
	for name, b := range fuzzSeedStreams(t) {
		for _, fz := range []string{"FuzzVerifyBackup", "FuzzRestore"} {
			dir := filepath.Join("testdata", "fuzz", fz)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// fuzzKey picks the key a fuzz input is read with: testKey when the header's
// encrypted flag is set, so mutations of the AES seed reach the chunks.
func fuzzKey(b []byte) []byte {
	if len(b) > 10 && b[10]&2 != 0 {
		return testKey
	}
	return nil
}

// FuzzVerifyBackup checks that any bytes either verify or are refused with
// ErrCorruptBackup (or a key error), never a panic. Seeds:
// testdata/fuzz/FuzzVerifyBackup (real streams).
func FuzzVerifyBackup(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := VerifyBackup(context.Background(), bytes.NewReader(b), VerifyOptions{Key: fuzzKey(b)})
		if err != nil {
			if !errors.Is(err, ErrCorruptBackup) && !errors.Is(err, ErrBackupKey) {
				t.Fatalf("error %v matches no backup error", err)
			}
			return
		}
		if info.Znodes == 0 || info.Bytes > int64(len(b)) {
			t.Fatalf("verified %+v from %d bytes", info, len(b))
		}
	})
}

// FuzzRestore checks that any bytes either restore to a store whose digest
// is the stream's or are refused with a typed error, leaving nothing behind.
// Seeds: testdata/fuzz/FuzzRestore (real streams).
func FuzzRestore(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "member")
		ri, err := restoreTree(context.Background(), bytes.NewReader(b), dir, RestoreOptions{Key: fuzzKey(b), ClusterID: 1})
		if err != nil {
			if !errors.Is(err, ErrCorruptBackup) && !errors.Is(err, ErrBackupKey) && !errors.Is(err, ErrUnimplemented) {
				t.Fatalf("error %v matches no backup error", err)
			}
			if ents, _ := os.ReadDir(parent); len(ents) != 0 {
				t.Fatalf("failed restore left %s", ents[0].Name())
			}
			return
		}
		st, err := storage.Open(dir, storage.Options{ClusterID: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		tr, err := openTree(st)
		if err != nil {
			t.Fatal(err)
		}
		var sum uint64
		lo, hi := keys.NodeSpan()
		it, err := st.NewIter(lo, hi)
		if err != nil {
			t.Fatal(err)
		}
		for ok := it.First(); ok; ok = it.Next() {
			p, _ := keys.NodePath(it.Key())
			v, _ := it.Value()
			sum += nodeHash(tr.h, p, v)
		}
		_ = it.Close()
		if sum != tr.digest() || tr.digest() != ri.Backup.Digest || tr.applied() != uint64(ri.Backup.Zxid) {
			t.Fatalf("restored digest %x, stored %x, stream %x", sum, tr.digest(), ri.Backup.Digest)
		}
	})
}
