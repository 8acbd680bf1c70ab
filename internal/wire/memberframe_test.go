package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

var memberFrameSeeds = []MemberFrame{
	{Kind: MemberRequest, ID: 1, Op: MemberAddLearner, Target: 4},
	{Kind: MemberRequest, ID: 1<<63 + 5, Op: MemberTransfer, Target: 2},
	{Kind: MemberReply, ID: 7, Index: 42},
	{Kind: MemberReply, ID: 7, Code: ReplyNotLeader, Leader: 3, Text: "keeper: not the leader: member 3 leads"},
	{Kind: MemberReply, ID: 9, Code: ReplyOther, Text: string(make([]byte, MaxReplyText))},
}

func TestMemberFrameRoundTrip(t *testing.T) {
	for _, m := range memberFrameSeeds {
		b := EncodeMemberFrame(1, m)
		if got, err := DecodeMemberFrame(b[8:]); err != nil || got != m {
			t.Fatalf("round trip of %+v: %+v %v", m, got, err)
		}
		if _, err := DecodeMemberFrame(b[8 : len(b)-1]); !errors.Is(err, ErrBadMemberFrame) {
			t.Fatalf("%+v cut short: %v", m, err)
		}
	}
	long := MemberFrame{Kind: MemberReply, Code: ReplyOther, Text: strings.Repeat("x", MaxReplyText+10)}
	got, err := DecodeMemberFrame(EncodeMemberFrame(1, long)[8:])
	if err != nil || len(got.Text) != MaxReplyText {
		t.Fatalf("a long text: %d bytes, %v", len(got.Text), err)
	}
	for _, b := range [][]byte{
		nil,
		{MemberFrameMarker, byte(MemberReply), memberFrameVersion + 1},
		{MemberFrameMarker, 9, memberFrameVersion, 0, 0},
		{1, byte(MemberRequest), memberFrameVersion},
		EncodeMemberFrame(1, MemberFrame{Kind: MemberRequest, Op: MemberTransfer + 1})[8:],
		EncodeMemberFrame(1, MemberFrame{Kind: MemberReply, Code: MaxReplyCode + 1})[8:],
	} {
		if _, err := DecodeMemberFrame(b); !errors.Is(err, ErrBadMemberFrame) || !errors.Is(err, ErrCorrupt) {
			t.Fatalf("DecodeMemberFrame(%x) = %v", b, err)
		}
	}
	if MemberTransfer.String() != "transfer leadership" || MemberOp(9).String() != "MemberOp(9)" {
		t.Fatalf("op names: %v %v", MemberTransfer, MemberOp(9))
	}
}

// FuzzMemberFrame checks that any bytes after a cluster id decode to a
// membership frame or an error matching ErrBadMemberFrame, never a panic,
// and that what decodes re-encodes to the same bytes.
func FuzzMemberFrame(f *testing.F) {
	for _, s := range memberFrameSeeds {
		f.Add(EncodeMemberFrame(1, s)[8:])
	}
	f.Add([]byte{})
	f.Add([]byte{MemberFrameMarker, byte(MemberReply), memberFrameVersion + 1})
	f.Add([]byte{MemberFrameMarker, 9, memberFrameVersion, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMemberFrame(b)
		if err != nil {
			if !errors.Is(err, ErrBadMemberFrame) {
				t.Fatalf("error %v does not match ErrBadMemberFrame", err)
			}
			return
		}
		if again := EncodeMemberFrame(1, m)[8:]; !bytes.Equal(again, b) {
			t.Fatalf("re-encoded %x, decoded from %x", again, b)
		}
	})
}
