package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

var progressSeeds = []RestoreProgress{
	{Zxid: 10, ID: 9, Digest: 0x0102030405060708, Removed: 3},
	{Zxid: 1 << 40, ID: 1, Digest: ^uint64(0), RootWas: true, Ephemerals: []KeptNode{
		{Path: "/a/e1", Value: []byte{1, 2, 3}}, {Path: "/a/e2", Value: []byte{}},
	}},
}

func TestRestoreProgressRoundTrip(t *testing.T) {
	for _, p := range progressSeeds {
		b := p.Encode()
		got, err := DecodeRestoreProgress(b)
		if err != nil || !reflect.DeepEqual(got, p) {
			t.Fatalf("round trip of %+v: %+v %v", p, got, err)
		}
		if len(p.Ephemerals) > 0 {
			if _, err := DecodeRestoreProgress(b[:len(b)-1]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("cut short: %v", err)
			}
			b[bytes.Index(b, []byte{1, 2, 3})] = 9 // the decoded values are copies
			if got.Ephemerals[0].Value[0] != 1 {
				t.Fatal("a decoded value aliases the record")
			}
		}
	}
	for _, b := range [][]byte{nil, make([]byte, 32), append(make([]byte, 33), 5, 'x')} {
		if _, err := DecodeRestoreProgress(b); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("DecodeRestoreProgress(%x) = %v", b, err)
		}
	}
}

// FuzzRestoreProgress: decoding never panics, refuses with ErrCorrupt, and
// what it accepts encodes back to the same record; to the same bytes when
// the uvarints were minimal and the RootWas byte is 0 or 1.
func FuzzRestoreProgress(f *testing.F) {
	for _, p := range progressSeeds {
		f.Add(p.Encode())
	}
	f.Add(make([]byte, 33))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeRestoreProgress(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not match ErrCorrupt", err)
			}
			return
		}
		again := p.Encode()
		p2, err := DecodeRestoreProgress(again)
		if err != nil || !reflect.DeepEqual(p2, p) {
			t.Fatalf("re-encoded %x decodes to %+v, %v; first %+v", again, p2, err, p)
		}
		if len(again) == len(b) && b[32] <= 1 && !bytes.Equal(again, b) {
			t.Fatalf("%x re-encodes to %x", b, again)
		}
	})
}
