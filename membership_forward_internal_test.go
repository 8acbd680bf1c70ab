package keeper

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// FuzzMembershipFrame checks that any bytes after a cluster id decode to a
// membership frame or an error matching errBadMemberFrame, never a panic,
// and that what decodes re-encodes to the same bytes.
func FuzzMembershipFrame(f *testing.F) {
	seeds := []memberFrame{
		{kind: memberKindRequest, id: 1, op: opAddLearner, target: 4},
		{kind: memberKindRequest, id: 1<<63 + 5, op: opTransfer, target: 2},
		{kind: memberKindReply, id: 7, index: 42},
		{kind: memberKindReply, id: 7, code: codeNotLeader, leader: 3, text: "keeper: not the leader: member 3 leads"},
		{kind: memberKindReply, id: 9, code: codeOther, text: string(make([]byte, maxReplyText))},
	}
	for _, s := range seeds {
		f.Add(encodeMemberFrame(1, s)[8:])
	}
	f.Add([]byte{})
	f.Add([]byte{memberMarker, memberKindReply, memberFrameVersion + 1})
	f.Add([]byte{memberMarker, 9, memberFrameVersion, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMemberFrame(b)
		if err != nil {
			if !errors.Is(err, errBadMemberFrame) {
				t.Fatalf("error %v does not match errBadMemberFrame", err)
			}
			return
		}
		if again := encodeMemberFrame(1, m)[8:]; !bytes.Equal(again, b) {
			t.Fatalf("re-encoded %x, decoded from %x", again, b)
		}
		_ = m.replyErr() // must not panic either
	})
}

// TestMemberReplyErrors: every refusal the leader can return crosses the
// wire as an error matching the same sentinel, with the leader's text.
func TestMemberReplyErrors(t *testing.T) {
	for _, err := range []error{
		notLeader(3),
		fmt.Errorf("%w: 4", ErrMemberExists),
		fmt.Errorf("%w: 4", ErrUnknownMember),
		fmt.Errorf("%w: last voter", ErrUnsafeConfChange),
		ErrConfChangeInProgress,
		fmt.Errorf("%w: %w", ErrIndeterminate, ErrClosed),
		fmt.Errorf("%w: member id 0", ErrBadArguments),
		fmt.Errorf("%w: proposal dropped", ErrNoLeader),
	} {
		in := memberFrame{kind: memberKindReply, id: 1, code: codeOf(err), text: err.Error()}
		out, derr := decodeMemberFrame(encodeMemberFrame(1, in)[8:])
		if derr != nil {
			t.Fatal(derr)
		}
		got := out.replyErr()
		if got.Error() != err.Error() {
			t.Errorf("text %q, want %q", got, err)
		}
		if in.code == codeOther || !errors.Is(err, codeErrors[in.code]) || !errors.Is(got, codeErrors[in.code]) {
			t.Errorf("%v: code %d, rebuilt as %v, matching neither the same sentinel", err, in.code, got)
		}
	}
	if codeOf(errConfNotReady) != codeNotReady {
		t.Errorf("a leader not ready is code %d, want %d", codeOf(errConfNotReady), codeNotReady)
	}
	if got := (memberFrame{code: codeOther, text: "x"}).replyErr(); got == nil || got.Error() != "x" {
		t.Errorf("other error rebuilt as %v", got)
	}
}

// TestForwardResultCache: the leader keeps the last fwdResultCache results.
func TestForwardResultCache(t *testing.T) {
	var s fwdState
	for i := range uint64(fwdResultCache + 10) {
		s.remember(fwdKey{1, i}, memberFrame{id: i})
	}
	s.remember(fwdKey{1, fwdResultCache + 9}, memberFrame{id: 99})
	if len(s.done) != fwdResultCache || len(s.order) != fwdResultCache {
		t.Fatalf("cache holds %d results (%d in order), want %d", len(s.done), len(s.order), fwdResultCache)
	}
	if _, ok := s.done[fwdKey{1, 9}]; ok {
		t.Fatal("the oldest results were kept")
	}
	if r := s.done[fwdKey{1, fwdResultCache + 9}]; r.id != 99 {
		t.Fatalf("a result recorded again holds %d", r.id)
	}
}
