package keeper

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/keeper-go/keeper/internal/stream"
)

// smallStream returns a multi-chunk stream of a small random tree.
func smallStream(t testing.TB, seed uint64, n int, opts BackupOptions) []byte {
	t.Helper()
	h := newHarness(t)
	randomTree(h, rand.New(rand.NewPCG(seed, 9)), n, false)
	h.tr.apply([]committed{{Index: h.tr.applied() + 1, Kind: entryConf, Data: []byte("m")}})
	var buf bytes.Buffer
	if _, err := h.tr.writeStream(context.Background(), &buf, streamHeaderInfo{chunkSize: 1024}, opts, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// chunkEnds returns the offset after the header and after every chunk of a
// well-formed stream (see docs/BACKUP_FORMAT.md).
func chunkEnds(data []byte) []int {
	extra := int(binary.LittleEndian.Uint16(data[44:]))
	off := 46 + extra + 4
	if data[10]&2 != 0 {
		off += 48
	}
	ends := []int{off}
	for off+13 <= len(data)-4 {
		off += 13 + int(binary.LittleEndian.Uint32(data[off:])) + 4
		ends = append(ends, off)
	}
	return ends
}

// refuseRestore restores data and requires err to match want, with the
// target dir not created and no temp dir left.
func refuseRestore(t *testing.T, data []byte, key []byte, want ...error) {
	t.Helper()
	parent := t.TempDir()
	dir := filepath.Join(parent, "member")
	_, err := restoreTree(context.Background(), bytes.NewReader(data), dir, RestoreOptions{Key: key})
	if !matchesAny(err, want) {
		t.Fatalf("restore: %v, want one of %v", err, want)
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 0 {
		t.Fatalf("restore left %v behind", ents[0].Name())
	}
}

func matchesAny(err error, want []error) bool {
	for _, w := range want {
		if errors.Is(err, w) {
			return true
		}
	}
	return false
}

func TestBackupDamage(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts BackupOptions
	}{
		{"plain", BackupOptions{NoCompression: true}},
		{"zstd-aes", BackupOptions{Key: testKey}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := smallStream(t, 1, 150, tc.opts)
			ends := chunkEnds(data)
			if len(ends) < 5 || ends[len(ends)-1] != len(data)-4 {
				t.Fatalf("chunk ends %v of %d bytes", ends, len(data))
			}
			key := tc.opts.Key
			verify := func(b []byte) error {
				_, err := VerifyBackup(context.Background(), bytes.NewReader(b), VerifyOptions{Key: key})
				return err
			}
			if err := verify(data); err != nil {
				t.Fatal(err)
			}
			// Truncation at every byte, and restore at every chunk boundary.
			for cut := 0; cut < len(data); cut++ {
				if err := verify(data[:cut]); !errors.Is(err, ErrCorruptBackup) {
					t.Fatalf("cut at %d: %v", cut, err)
				}
			}
			for _, cut := range append(ends, len(data)-1, len(data)/3) {
				refuseRestore(t, data[:cut], key, ErrCorruptBackup)
			}
			// Single flipped bits.
			rng := rand.New(rand.NewPCG(2, 2))
			for i := 0; i < 2000; i++ {
				b := bytes.Clone(data)
				pos := rng.IntN(len(b))
				b[pos] ^= 1 << rng.IntN(8)
				err := verify(b)
				if !matchesAny(err, []error{ErrCorruptBackup, ErrBackupKey}) {
					t.Fatalf("bit flip at %d: %v", pos, err)
				}
				if i < 20 {
					refuseRestore(t, b, key, ErrCorruptBackup, ErrBackupKey)
				}
			}
			// Wrong key, missing key, key on plaintext.
			if key != nil {
				wrong := bytes.Repeat([]byte{1}, 32)
				refuseRestore(t, data, wrong, ErrBackupKey)
				refuseRestore(t, data, nil, ErrBackupKey)
			} else {
				refuseRestore(t, data, testKey, ErrBackupNotEncrypted)
			}
		})
	}
}

func TestBackupForeignBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	random := make([]byte, 5000)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	for _, b := range [][]byte{nil, {0x89}, []byte("\x89KEEPER\n"), random, {0x1f, 0x8b, 8, 0, 0, 0}, {0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3}, []byte("hello world\n")} {
		if _, err := VerifyBackup(context.Background(), bytes.NewReader(b), VerifyOptions{}); !errors.Is(err, ErrCorruptBackup) {
			t.Fatalf("%q: %v", b[:min(len(b), 10)], err)
		}
		refuseRestore(t, b, nil, ErrCorruptBackup)
	}
}

// craft writes a stream with the given records, sound at the framing level.
func craft(t testing.TB, extra []byte, digest uint64, recs ...craftRec) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := stream.NewWriter(&buf, stream.Header{Kind: stream.KindBackup, Extra: extra, Zxid: 5}, stream.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.WriteRecord(r.kind, r.payload); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(stream.Footer{Digest: digest}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type craftRec struct {
	kind    uint8
	payload []byte
}

// zrec returns a znode record and adds its hash to *sum.
func zrec(sum *uint64, path string, n znode) craftRec {
	if n.acl == nil {
		n.acl = openACLShared
	}
	v := encodeZnode(nil, &n)
	*sum += nodeHash(xxhash.New(), path, v)
	p := binary.AppendUvarint(nil, uint64(len(path)))
	return craftRec{recordZnode, append(append(p, path...), v...)}
}

// TestBackupSemanticDamage checks streams that are sound at the framing level
// but whose tree is not: each is refused with the right error.
func TestBackupSemanticDamage(t *testing.T) {
	type build func(sum *uint64) []craftRec
	root := func(s *uint64, kids int32) craftRec { return zrec(s, "/", znode{stat: Stat{NumChildren: kids}}) }
	cases := []struct {
		name  string
		extra []byte
		recs  build
		bad   func(uint64) uint64 // digest tweak
		want  error
	}{
		{"good", []byte{1}, func(s *uint64) []craftRec { return []craftRec{root(s, 1), zrec(s, "/a", znode{})} }, nil, nil},
		{"no-root", []byte{1}, func(s *uint64) []craftRec { return []craftRec{zrec(s, "/a", znode{})} }, nil, ErrCorruptBackup},
		{"empty", []byte{1}, func(s *uint64) []craftRec { return nil }, nil, ErrCorruptBackup},
		{"missing-parent", []byte{1}, func(s *uint64) []craftRec {
			return []craftRec{root(s, 1), zrec(s, "/a", znode{}), zrec(s, "/b/c", znode{})}
		}, nil, ErrCorruptBackup},
		{"miscounted", []byte{1}, func(s *uint64) []craftRec { return []craftRec{root(s, 2), zrec(s, "/a", znode{})} }, nil, ErrCorruptBackup},
		{"out-of-order", []byte{1}, func(s *uint64) []craftRec {
			return []craftRec{root(s, 2), zrec(s, "/b", znode{}), zrec(s, "/a", znode{})}
		}, nil, ErrCorruptBackup},
		{"duplicate", []byte{1}, func(s *uint64) []craftRec {
			return []craftRec{root(s, 2), zrec(s, "/a", znode{}), zrec(s, "/a", znode{})}
		}, nil, ErrCorruptBackup},
		{"bad-path", []byte{1}, func(s *uint64) []craftRec { return []craftRec{root(s, 1), zrec(s, "/a/../b", znode{})} }, nil, ErrCorruptBackup},
		{"bad-value", []byte{1}, func(s *uint64) []craftRec {
			return []craftRec{root(s, 0), {recordZnode, []byte{2, 'x', 'y', 9}}}
		}, nil, ErrCorruptBackup},
		{"future-zxid", []byte{1}, func(s *uint64) []craftRec { return []craftRec{root(s, 1), zrec(s, "/a", znode{stat: Stat{Mzxid: 6}})} }, nil, ErrCorruptBackup},
		{"digest", []byte{1}, func(s *uint64) []craftRec { return []craftRec{root(s, 0)} }, func(d uint64) uint64 { return d + 1 }, ErrCorruptBackup},
		{"late-membership", []byte{1}, func(s *uint64) []craftRec { return []craftRec{root(s, 0), {recordMembership, nil}} }, nil, ErrCorruptBackup},
		{"znode-after-log", []byte{1}, func(s *uint64) []craftRec {
			return []craftRec{root(s, 1), {recordLog, nil}, zrec(s, "/a", znode{})}
		}, nil, ErrCorruptBackup},
		{"optional-kind", []byte{1}, func(s *uint64) []craftRec { return []craftRec{root(s, 0), {0xF0, []byte("later")}} }, nil, nil},
		{"unknown-kind", []byte{1}, func(s *uint64) []craftRec { return []craftRec{root(s, 0), {0x33, nil}} }, nil, ErrFormatTooNew},
		{"newer-encoding", []byte{2}, func(s *uint64) []craftRec { return []craftRec{root(s, 0)} }, nil, ErrFormatTooNew},
		{"no-extra", nil, func(s *uint64) []craftRec { return []craftRec{root(s, 0)} }, nil, ErrCorruptBackup},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var sum uint64
			recs := tc.recs(&sum)
			if tc.bad != nil {
				sum = tc.bad(sum)
			}
			data := craft(t, tc.extra, sum, recs...)
			_, err := VerifyBackup(context.Background(), bytes.NewReader(data), VerifyOptions{})
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrCorruptBackup) {
				t.Fatalf("verify: %v, want %v", err, tc.want)
			}
			refuseRestore(t, data, nil, tc.want)
		})
	}
	// A stream of a newer format version.
	var sum uint64
	data := craft(t, []byte{1}, 0, root(&sum, 0))
	binary.LittleEndian.PutUint16(data[8:], stream.Version+1)
	if _, err := VerifyBackup(context.Background(), bytes.NewReader(data), VerifyOptions{}); !errors.Is(err, ErrFormatTooNew) || !errors.Is(err, ErrCorruptBackup) {
		t.Fatalf("newer version: %v", err)
	}
	refuseRestore(t, data, nil, ErrFormatTooNew)
	_ = fmt.Sprint
}
