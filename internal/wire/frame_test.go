package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

var frameMessages = []*raftpb.Message{
	{Type: raftpb.MsgApp.Enum(), To: proto.Uint64(2), From: proto.Uint64(1), Term: proto.Uint64(3), Index: proto.Uint64(10),
		Entries: []*raftpb.Entry{{Term: proto.Uint64(3), Index: proto.Uint64(11), Data: EncodeEnvelope(1, 5, []byte{1, 2})}}},
	{Type: raftpb.MsgHeartbeat.Enum(), To: proto.Uint64(3), From: proto.Uint64(1), Commit: proto.Uint64(9)},
	{},
}

func TestFrameRoundTrip(t *testing.T) {
	for _, m := range frameMessages {
		b, err := EncodeRaftFrame(0x42, m)
		if err != nil {
			t.Fatal(err)
		}
		id, kind, body, ok := SplitFrame(b)
		if !ok || id != 0x42 || kind != FrameRaft {
			t.Fatalf("%v: split as %x %d %v", m, id, kind, ok)
		}
		got, err := DecodeRaftMessage(body)
		if err != nil || !proto.Equal(got, m) {
			t.Fatalf("round trip of %v: %v %v", m, got, err)
		}
	}
	req := MemberFrame{Kind: MemberRequest, ID: 5, Op: MemberPromote, Target: 3}
	id, kind, body, ok := SplitFrame(EncodeMemberFrame(7, req))
	if !ok || id != 7 || kind != FrameMember {
		t.Fatalf("membership frame split as %x %d %v", id, kind, ok)
	}
	if got, err := DecodeMemberFrame(body); err != nil || got != req {
		t.Fatalf("membership frame: %+v %v", got, err)
	}
	if _, _, _, ok := SplitFrame(make([]byte, 7)); ok {
		t.Fatal("a frame shorter than a cluster id split")
	}
	// The marker alone is no membership frame: it goes to the raft
	// decoder, which refuses it.
	_, kind, body, _ = SplitFrame(append(binary.BigEndian.AppendUint64(nil, 1), MemberFrameMarker))
	if _, err := DecodeRaftMessage(body); kind != FrameRaft || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("marker alone: kind %d, %v", kind, err)
	}
}

// FuzzFrame: any transport frame splits and decodes to a raft message or
// a membership frame, or to an error matching ErrCorrupt, never a panic;
// what decodes encodes back to a frame that decodes the same.
func FuzzFrame(f *testing.F) {
	for _, m := range frameMessages {
		b, err := EncodeRaftFrame(0x42, m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, m := range memberFrameSeeds {
		f.Add(EncodeMemberFrame(0x42, m))
	}
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		id, kind, body, ok := SplitFrame(b)
		if !ok {
			if len(b) >= 8 {
				t.Fatalf("a frame of %d bytes refused", len(b))
			}
			return
		}
		switch kind {
		case FrameMember:
			m, err := DecodeMemberFrame(body)
			if err != nil {
				if !errors.Is(err, ErrBadMemberFrame) || !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error %v does not match ErrBadMemberFrame", err)
				}
				return
			}
			if again := EncodeMemberFrame(id, m); !bytes.Equal(again, b) {
				t.Fatalf("%x re-encodes to %x", b, again)
			}
		case FrameRaft:
			m, err := DecodeRaftMessage(body)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error %v does not match ErrCorrupt", err)
				}
				return
			}
			again, err := EncodeRaftFrame(id, m)
			if err != nil {
				return // raft's own message may not marshal back (unknown enum values)
			}
			id2, kind2, body2, _ := SplitFrame(again)
			m2, err := DecodeRaftMessage(body2)
			if id2 != id || kind2 != FrameRaft || err != nil || !proto.Equal(m2, m) {
				t.Fatalf("%x re-encodes to %x: %v %v", b, again, m2, err)
			}
		default:
			t.Fatalf("kind %d", kind)
		}
	})
}
