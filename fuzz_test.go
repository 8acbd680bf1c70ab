package keeper

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// FuzzDecodeRequest checks that any bytes decode to a request or an error
// matching ErrCorruptEntry, never a panic, and that what decodes re-encodes
// to the same bytes. Seeds: testdata/fuzz/FuzzDecodeRequest (real entries).
func FuzzDecodeRequest(f *testing.F) {
	for _, r := range seedRequests() {
		f.Add(appendRequest(nil, &r))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRequest(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptEntry) {
				t.Fatalf("error %v does not match ErrCorruptEntry", err)
			}
			return
		}
		if again := appendRequest(nil, r); !bytes.Equal(again, b) {
			// Only non-canonical varints may differ; decoding again must agree.
			r2, err := decodeRequest(again)
			if err != nil || len(r2.Ops) != len(r.Ops) {
				t.Fatalf("re-encoding does not decode: %v", err)
			}
		}
		_ = validateRequest(r) // must not panic either
	})
}

// FuzzValidatePath checks that validatePath never panics and that what it
// accepts has the shape ZooKeeper requires.
func FuzzValidatePath(f *testing.F) {
	for _, p := range []string{"/", "/a", "/a/b", "/a/", "//", "/.", "/..", "/a\x00", "/\u00e9", "/\ufff0", "x"} {
		f.Add(p, false)
		f.Add(p, true)
	}
	f.Fuzz(func(t *testing.T, p string, seq bool) {
		err := validatePath(p, seq)
		if err != nil {
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("error %v does not match ErrInvalidPath", err)
			}
			return
		}
		if p[0] != '/' || bytes.IndexByte([]byte(p), 0) >= 0 {
			t.Fatalf("accepted %q", p)
		}
		if !seq && len(p) > 1 && p[len(p)-1] == '/' {
			t.Fatalf("accepted trailing slash %q", p)
		}
		if bytes.Contains([]byte(p), []byte("//")) {
			t.Fatalf("accepted empty component %q", p)
		}
	})
}

func seedRequests() []request {
	return []request{
		{Time: 1700000000000, Session: 5, Ops: []Op{CreateOp("/app/config", []byte("hello"), Persistent)}},
		{Time: 1, Session: 9, Auth: []Identity{{Scheme: "digest", ID: "alice:aGFzaA=="}}, Ops: []Op{CreateOp("/q/", nil, EphemeralSequential, WithACL(CreatorACL()...))}},
		{Time: 2, Ops: []Op{CreateOp("/t", []byte{0, 1}, PersistentWithTTL, WithTTL(time.Hour))}},
		{Time: 3, Ops: []Op{SetOp("/a", []byte("v"), 3)}},
		{Time: 4, Ops: []Op{DeleteOp("/a", AnyVersion)}},
		{Time: 5, Ops: []Op{SetACLOp("/a", []ACL{DigestACL(PermAll, "u", "p")}, 0)}},
		{Time: 6, Auth: []Identity{{Scheme: "super"}}, Multi: true, Ops: []Op{
			CheckOp("/a", 1), CreateOp("/a/b", nil, Container), DeleteOp("/c", 2), SetOp("/d", nil, AnyVersion)}},
		{Multi: true},
		{Kind: reqCreateSession, Time: 7, Timeout: 4000, Owner: 2, Nonce: 0xfeedface},
		{Kind: reqCloseSession, Time: 8, Session: 42},
		{Kind: reqCloseSession, Time: 9, Session: 43, Expire: true},
		{Kind: reqRestoreChunk, Time: 10, RestoreID: 0xabcdef, Seq: 3, Chunk: []byte("KPRS\x00chunk")},
		{Kind: reqRestoreChunk, Time: 11, RestoreID: 1},
		{Kind: reqRestoreCommit, Time: 12, RestoreID: 0xabcdef, Count: 4, Sum: 0x0123456789abcdef, Subtree: "/app/config", Foreign: true},
		{Kind: reqRestoreCommit, Time: 13, RestoreID: 2, Count: 1, Subtree: "/"},
	}
}

// FuzzApplyOps checks that apply never panics and never fails on a request
// it can decode, whatever its ops and paths: a multi's op reaches the tree
// with its path checked only as ZooKeeper's server checks it. Refusals land
// in the result; the tree's digest stays the sum over its nodes.
func FuzzApplyOps(f *testing.F) {
	for _, r := range seedRequests() {
		if r.Kind == reqOps {
			f.Add(appendRequest(nil, &r))
		}
	}
	for _, p := range []string{"a/", "a", "", "a/b", "//", "/a//b", "/a/../b", "/a/", "/.", "/x/..", "/a\x01", "/"} {
		for _, op := range []Op{CreateOp(p, nil, Persistent), CreateOp(p, nil, PersistentSequential), DeleteOp(p, AnyVersion),
			SetOp(p, nil, AnyVersion), CheckOp(p, AnyVersion)} {
			f.Add(appendRequest(nil, &request{Time: 1, Session: 5, Multi: true, Ops: []Op{CheckOp("/", AnyVersion), op}}))
		}
	}
	h := newHarness(f)
	h.must(CreateOp("/a", nil, Persistent))
	h.must(CreateOp("/a/b", nil, Persistent))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRequest(b)
		if err != nil || r.Kind != reqOps {
			return
		}
		ents := []committed{{Index: h.tr.applied() + 1, Kind: entryOp, Data: b}}
		res, err := h.tr.apply(ents)
		if err != nil {
			t.Fatalf("apply: %v", err)
		}
		if res[0].Err == nil && len(res[0].Ops) != len(r.Ops) {
			t.Fatalf("%d results for %d ops", len(res[0].Ops), len(r.Ops))
		}
		var me *MultiError
		if errors.As(res[0].Err, &me) && len(res[0].Ops) != len(r.Ops) {
			t.Fatalf("multi failed at %d with %d results for %d ops", me.Index, len(res[0].Ops), len(r.Ops))
		}
		if got := fullDigest(t, h); got != h.tr.digest() {
			t.Fatalf("digest: full %x, incremental %x", got, h.tr.digest())
		}
	})
}
