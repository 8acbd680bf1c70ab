package keeper

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// sessionEntries are a session's life in entries 1..5: create (id 1), an
// ephemeral and a persistent child, a second ephemeral, then the close.
func sessionEntries() []committed {
	reqs := []request{
		{Kind: reqCreateSession, Time: 1, Timeout: 4000, Owner: 2, Nonce: 7},
		{Time: 2, Ops: []Op{CreateOp("/d", nil, Persistent)}},
		{Time: 3, Session: 1, Ops: []Op{CreateOp("/d/e-", nil, EphemeralSequential)}},
		{Time: 4, Session: 1, Ops: []Op{CreateOp("/e", nil, Ephemeral)}},
		{Kind: reqCloseSession, Time: 5, Session: 1},
	}
	ents := make([]committed, len(reqs))
	for i := range reqs {
		ents[i] = committed{Index: uint64(i + 1), Kind: entryOp, Data: appendRequest(nil, &reqs[i])}
	}
	return ents
}

// A session's ephemerals go with its close at one zxid, whether they were
// committed earlier or created in the same apply group, and the digest does
// not depend on how entries were grouped.
func TestSessionApplyGroupedOrNot(t *testing.T) {
	one := newHarness(t)
	one.tr.requireSessions = true
	res, err := one.tr.apply(sessionEntries())
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("entry %d: %v", i+1, r.Err)
		}
	}
	if res[0].Session != 1 || res[4].Session != 1 {
		t.Fatalf("session ids %d %d, want 1 (the create's zxid)", res[0].Session, res[4].Session)
	}
	each := newHarness(t)
	each.tr.requireSessions = true
	events := &eventRecorder{}
	each.tr.pub = events
	for _, e := range sessionEntries() {
		if _, err := each.tr.apply([]committed{e}); err != nil {
			t.Fatal(err)
		}
	}
	if one.tr.digest() != each.tr.digest() {
		t.Fatalf("digest grouped %x, one by one %x", one.tr.digest(), each.tr.digest())
	}
	for _, h := range []*harness{one, each} {
		for _, p := range []string{"/d/e-0000000000", "/e"} {
			if _, err := h.tr.exists(p); !errors.Is(err, ErrNoNode) {
				t.Fatalf("%s after its session closed: %v", p, err)
			}
		}
		if st, _ := h.tr.exists("/d"); st.NumChildren != 0 || st.Pzxid != 5 {
			t.Fatalf("/d after the close: %+v", st)
		}
		if len(h.tr.sessionTable()) != 0 {
			t.Fatalf("sessions left: %v", h.tr.sessionTable())
		}
	}
	var closeEvents []treeEvent
	for _, ev := range events.events {
		if ev.Zxid == 5 {
			closeEvents = append(closeEvents, ev)
		}
	}
	want := []treeEvent{
		{Type: evNodeDeleted, Zxid: 5, Path: "/d/e-0000000000"},
		{Type: evNodeChildrenChanged, Zxid: 5, Path: "/d"},
		{Type: evNodeDeleted, Zxid: 5, Path: "/e"},
		{Type: evNodeChildrenChanged, Zxid: 5, Path: "/"},
		{Type: evSessionEnded, Zxid: 5, Session: 1},
	}
	if len(closeEvents) != len(want) {
		t.Fatalf("close events %+v, want %+v", closeEvents, want)
	}
	for i := range want {
		if closeEvents[i] != want[i] {
			t.Fatalf("close event %d: %+v, want %+v", i, closeEvents[i], want[i])
		}
	}
	// Requests of a session that is gone fail; so does closing it again.
	if r := each.do(request{Time: 6, Session: 1, Ops: []Op{CreateOp("/x", nil, Persistent)}}); !errors.Is(r.Err, ErrSessionExpired) {
		t.Fatalf("write of a closed session: %v", r.Err)
	}
	if r := each.do(request{Kind: reqCloseSession, Time: 7, Session: 1}); !errors.Is(r.Err, ErrSessionExpired) {
		t.Fatalf("second close: %v", r.Err)
	}
}

// Session records survive a reopen, and are part of the digest.
func TestSessionRecordsPersist(t *testing.T) {
	h := newHarness(t)
	before := h.tr.digest()
	h.do(request{Kind: reqCreateSession, Time: 1, Timeout: 4000, Owner: 3, Nonce: 9})
	if h.tr.digest() == before {
		t.Fatal("a session record did not change the digest")
	}
	dig := h.tr.digest()
	h.reopen()
	got := h.tr.sessionTable()[1]
	if got == nil || !reflect.DeepEqual(*got, sessionRec{Timeout: 4000, Owner: 3, Nonce: 9}) {
		t.Fatalf("session after reopen: %+v", got)
	}
	if h.tr.digest() != dig {
		t.Fatalf("digest after reopen %x, want %x", h.tr.digest(), dig)
	}
	h.do(request{Kind: reqCloseSession, Time: 2, Session: 1})
	if h.tr.digest() != before {
		t.Fatalf("digest after the close %x, want the sessionless %x", h.tr.digest(), before)
	}
}

// A resumable session keeps its password across a reopen; it moves only
// with that password, and a close conditional on its old owner leaves the
// moved session alive.
func TestResumableSessionRecords(t *testing.T) {
	h := newHarness(t)
	pw := bytes.Repeat([]byte{7}, sessionPasswordLen)
	h.do(request{Kind: reqCreateSession, Time: 1, Timeout: 4000, Owner: 3, Nonce: 9, Password: pw})
	id := int64(h.tr.applied())
	h.reopen()
	if got := h.tr.sessionTable()[id]; got == nil || !bytes.Equal(got.Password, pw) || !got.resumable() {
		t.Fatalf("resumable session after reopen: %+v", got)
	}
	if rec, err := h.tr.storedSession(id); err != nil || rec == nil || !bytes.Equal(rec.Password, pw) {
		t.Fatalf("storedSession: %+v, %v", rec, err)
	}
	wrong := bytes.Repeat([]byte{8}, sessionPasswordLen)
	if res := h.do(request{Kind: reqMoveSession, Time: 2, Session: id, Owner: 4, Nonce: 5, Password: wrong}); !errors.Is(res.Err, ErrSessionExpired) {
		t.Fatalf("move with a wrong password: %v, want ErrSessionExpired", res.Err)
	}
	dig := h.tr.digest()
	if res := h.do(request{Kind: reqMoveSession, Time: 3, Session: id, Owner: 4, Nonce: 5, Password: pw}); res.Err != nil {
		t.Fatalf("move: %v", res.Err)
	}
	if got := h.tr.sessionTable()[id]; got.Owner != 4 || got.Nonce != 5 || got.Timeout != 4000 || !bytes.Equal(got.Password, pw) {
		t.Fatalf("moved session: %+v", got)
	}
	if h.tr.digest() == dig {
		t.Fatal("a move did not change the digest")
	}
	if res := h.do(request{Kind: reqCloseSession, Time: 4, Session: id, Expire: true, IfOwner: 3, IfNonce: 9}); !errors.Is(res.Err, ErrSessionMoved) {
		t.Fatalf("close on the old owner: %v, want ErrSessionMoved", res.Err)
	}
	if h.tr.sessionTable()[id] == nil {
		t.Fatal("a close conditional on the old owner ended the moved session")
	}
	if res := h.do(request{Kind: reqCloseSession, Time: 5, Session: id, Expire: true, IfOwner: 4, IfNonce: 5}); res.Err != nil {
		t.Fatalf("close on the new owner: %v", res.Err)
	}
	if h.tr.sessionTable()[id] != nil {
		t.Fatal("the session outlived its close")
	}
	if res := h.do(request{Kind: reqMoveSession, Time: 6, Session: id, Owner: 3, Nonce: 9, Password: pw}); !errors.Is(res.Err, ErrSessionExpired) {
		t.Fatalf("move of an ended session: %v, want ErrSessionExpired", res.Err)
	}
	// A session that is not resumable cannot be moved.
	h.do(request{Kind: reqCreateSession, Time: 7, Timeout: 4000, Owner: 3, Nonce: 9})
	plain := int64(h.tr.applied())
	if res := h.do(request{Kind: reqMoveSession, Time: 8, Session: plain, Owner: 4, Nonce: 5, Password: nil}); !errors.Is(res.Err, ErrSessionExpired) {
		t.Fatalf("move of a session that is not resumable: %v, want ErrSessionExpired", res.Err)
	}
}
