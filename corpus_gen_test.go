package keeper

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteFuzzCorpus regenerates testdata/fuzz/FuzzDecodeRequest from real
// encoded entries when KEEPER_WRITE_CORPUS is set.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("KEEPER_WRITE_CORPUS") == "" {
		t.Skip("set KEEPER_WRITE_CORPUS=1 to regenerate the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeRequest")
	for i, r := range seedRequests() {
		b, err := encodeRequest(nil, &r)
		if err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("entry%d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pdir := filepath.Join("testdata", "fuzz", "FuzzValidatePath")
	for i, p := range []string{"/app/config", "/a/", "/a/../b", "/\u00e9t\u00e9", "/a\u0085"} {
		body := fmt.Sprintf("go test fuzz v1\nstring(%q)\nbool(%v)\n", p, i%2 == 1)
		if err := os.WriteFile(filepath.Join(pdir, fmt.Sprintf("path%d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
