package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReader feeds arbitrary bytes to the Reader. It must never panic, and
// every failure must be one of the package's typed errors. Encrypted inputs are
// read with testKey, the key the seed corpus was written with.
func FuzzReader(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var o ReaderOptions
		_, _, err := Verify(context.Background(), bytes.NewReader(data), o)
		if errors.Is(err, ErrWrongKey) {
			o.Key = testKey
			_, _, err = Verify(context.Background(), bytes.NewReader(data), o)
		}
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrWrongKey) {
			t.Fatalf("untyped error: %v", err)
		}
		// Reading record by record must agree with Verify.
		_, _, _, err2 := readAll(data, o)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("Verify: %v; Next: %v", err, err2)
		}
	})
}

// fuzzSeeds returns small real streams: plain, compressed and encrypted.
func fuzzSeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	for _, c := range configs(64) {
		seeds = append(seeds, writeStream(tb, c.opts, smallRecords(11), 42))
		seeds = append(seeds, writeStream(tb, c.opts, nil, 0))
	}
	return seeds
}

// TestWriteFuzzSeeds rewrites testdata/fuzz/FuzzReader when
// KEEPER_WRITE_FUZZ_SEEDS=1; otherwise it checks that the corpus is there.
func TestWriteFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzReader")
	if os.Getenv("KEEPER_WRITE_FUZZ_SEEDS") != "1" {
		if ents, err := os.ReadDir(dir); err != nil || len(ents) == 0 {
			t.Fatalf("no seed corpus in %s: %v", dir, err)
		}
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	names := []string{"plain", "plain-empty", "zstd", "zstd-empty", "aes", "aes-empty", "zstd-aes", "zstd-aes-empty"}
	for i, s := range fuzzSeeds(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, "seed-"+names[i]), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzRoundTrip writes records cut from arbitrary bytes with an arbitrary chunk
// size and configuration and reads them back.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello, keeper"), uint16(64), uint8(0))
	f.Add(bytes.Repeat([]byte{7}, 1000), uint16(1), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint16, cfg uint8) {
		c := configs(int(chunk) + 1)[cfg%4]
		var recs []record
		for len(data) > 0 {
			n := min(int(data[0]), len(data)-1)
			recs = append(recs, record{data[0] ^ 0x5a, data[1 : 1+n]})
			data = data[1+n:]
		}
		got := writeStream(t, c.opts, recs, uint64(len(recs)))
		_, foot, back, err := readAll(got, readerOpts(c.opts))
		if err != nil {
			t.Fatal(err)
		}
		if len(back) != len(recs) || foot.Digest != uint64(len(recs)) {
			t.Fatalf("%d records back of %d", len(back), len(recs))
		}
		for i := range recs {
			if back[i].kind != recs[i].kind || !bytes.Equal(back[i].payload, recs[i].payload) {
				t.Fatalf("record %d differs", i)
			}
		}
	})
}
