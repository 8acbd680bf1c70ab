package keeper

import (
	"encoding/binary"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// TestBulkFrame classifies frames encoded as the raft loop encodes them
// (replicate.go send) and membership frames: only appends and proposals
// are bulk.
func TestBulkFrame(t *testing.T) {
	for typ := range raftpb.MessageType_name {
		mt := raftpb.MessageType(typ)
		m := &raftpb.Message{Type: &mt, To: proto.Uint64(2), From: proto.Uint64(1), Term: proto.Uint64(3),
			Entries: []*raftpb.Entry{{Index: proto.Uint64(9), Data: []byte("data")}}}
		b, err := proto.MarshalOptions{}.MarshalAppend(binary.BigEndian.AppendUint64(nil, 77), m)
		if err != nil {
			t.Fatal(err)
		}
		want := mt == raftpb.MsgApp || mt == raftpb.MsgProp
		if got := BulkFrame(b); got != want {
			t.Errorf("%v: BulkFrame = %v, want %v", mt, got, want)
		}
	}
	for _, f := range []memberFrame{
		{kind: memberKindRequest, id: 5, op: opAddVoter, target: 4},
		{kind: memberKindReply, id: 5, text: "ok"},
	} {
		if BulkFrame(encodeMemberFrame(77, f)) {
			t.Errorf("membership frame %+v is bulk", f)
		}
	}
}
