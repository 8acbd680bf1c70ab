package keeper

import (
	"errors"
	"fmt"
	"testing"

	"github.com/keeper-go/keeper/internal/wire"
)

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
		in := wire.MemberFrame{Kind: wire.MemberReply, ID: 1, Code: codeOf(err), Text: err.Error()}
		out, derr := wire.DecodeMemberFrame(wire.EncodeMemberFrame(1, in)[8:])
		if derr != nil {
			t.Fatal(derr)
		}
		got := replyErr(out)
		if got.Error() != err.Error() {
			t.Errorf("text %q, want %q", got, err)
		}
		if in.Code == wire.ReplyOther || !errors.Is(err, codeErrors[in.Code]) || !errors.Is(got, codeErrors[in.Code]) {
			t.Errorf("%v: code %d, rebuilt as %v, matching neither the same sentinel", err, in.Code, got)
		}
	}
	if codeOf(errConfNotReady) != wire.ReplyNotReady {
		t.Errorf("a leader not ready is code %d, want %d", codeOf(errConfNotReady), wire.ReplyNotReady)
	}
	if got := replyErr(wire.MemberFrame{Code: wire.ReplyOther, Text: "x"}); got == nil || got.Error() != "x" {
		t.Errorf("other error rebuilt as %v", got)
	}
	for code := wire.ReplyOK; code <= wire.MaxReplyCode; code++ {
		_ = replyErr(wire.MemberFrame{Kind: wire.MemberReply, Code: code}) // every code a decoder accepts rebuilds
	}
}

// TestForwardResultCache: the leader keeps the last fwdResultCache results.
func TestForwardResultCache(t *testing.T) {
	var s fwdState
	for i := range uint64(fwdResultCache + 10) {
		s.remember(fwdKey{1, i}, wire.MemberFrame{ID: i})
	}
	s.remember(fwdKey{1, fwdResultCache + 9}, wire.MemberFrame{ID: 99})
	if len(s.done) != fwdResultCache || len(s.order) != fwdResultCache {
		t.Fatalf("cache holds %d results (%d in order), want %d", len(s.done), len(s.order), fwdResultCache)
	}
	if _, ok := s.done[fwdKey{1, 9}]; ok {
		t.Fatal("the oldest results were kept")
	}
	if r := s.done[fwdKey{1, fwdResultCache + 9}]; r.ID != 99 {
		t.Fatalf("a result recorded again holds %d", r.ID)
	}
}
