package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func TestStreamHeaderRoundTrip(t *testing.T) {
	h := RepairHeader{Zxid: 500, Term: 4, Digest: 0xdeadbeef}
	b := EncodeRepairHeader(0x42, h)
	id, kind, body, ok := SplitStreamHeader(b)
	if !ok || id != 0x42 || kind != StreamRepair {
		t.Fatalf("repair header split as %x %d %v", id, kind, ok)
	}
	if got, err := DecodeRepairHeader(body); err != nil || got != h {
		t.Fatalf("repair header: %+v %v", got, err)
	}
	if _, err := DecodeRepairHeader(body[:len(body)-1]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("cut short: %v", err)
	}
	for _, body := range [][]byte{{RepairMarker}, {RepairMarker, RepairHeaderVersion + 1}} {
		if _, err := DecodeRepairHeader(body); !errors.Is(err, ErrFormatTooNew) {
			t.Fatalf("DecodeRepairHeader(%x) = %v, want ErrFormatTooNew", body, err)
		}
	}
	if _, err := DecodeRepairHeader(nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("empty repair header: %v", err)
	}

	m := &raftpb.Message{Type: raftpb.MsgSnap.Enum(), To: proto.Uint64(2), From: proto.Uint64(1), Snapshot: &raftpb.Snapshot{
		Data:     EncodeSnapDesc(SnapDesc{Zxid: 500, ClusterID: 0x42, Digest: 99}),
		Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(500), Term: proto.Uint64(4)},
	}}
	b, err := EncodeSnapshotHeader(0x42, m)
	if err != nil {
		t.Fatal(err)
	}
	id, kind, body, ok = SplitStreamHeader(b)
	if !ok || id != 0x42 || kind != StreamRaftSnapshot {
		t.Fatalf("raft snapshot header split as %x %d %v", id, kind, ok)
	}
	if got, err := DecodeRaftMessage(body); err != nil || !proto.Equal(got, m) {
		t.Fatalf("raft snapshot header: %v %v", got, err)
	}
	if _, _, _, ok := SplitStreamHeader(make([]byte, 7)); ok {
		t.Fatal("a header shorter than a cluster id split")
	}
}

// FuzzStreamHeader: any stream header splits and decodes to a raft message
// or a repair header, or to an error matching ErrCorrupt or
// ErrFormatTooNew, never a panic; a repair header re-encodes to the same
// bytes.
func FuzzStreamHeader(f *testing.F) {
	f.Add(EncodeRepairHeader(0x42, RepairHeader{Zxid: 500, Term: 4, Digest: 0xdeadbeef}))
	f.Add(append(binary.BigEndian.AppendUint64(nil, 1), RepairMarker))
	b, err := EncodeSnapshotHeader(0x42, &raftpb.Message{Type: raftpb.MsgSnap.Enum(), Snapshot: &raftpb.Snapshot{Data: EncodeSnapDesc(SnapDesc{Zxid: 1})}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		id, kind, body, ok := SplitStreamHeader(b)
		if !ok {
			if len(b) >= 8 {
				t.Fatalf("a header of %d bytes refused", len(b))
			}
			return
		}
		switch kind {
		case StreamRepair:
			h, err := DecodeRepairHeader(body)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFormatTooNew) {
					t.Fatalf("error %v matches neither ErrCorrupt nor ErrFormatTooNew", err)
				}
				return
			}
			if again := EncodeRepairHeader(id, h); !bytes.Equal(again, b) {
				t.Fatalf("%x re-encodes to %x", b, again)
			}
		case StreamRaftSnapshot:
			if _, err := DecodeRaftMessage(body); err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not match ErrCorrupt", err)
			}
		default:
			t.Fatalf("kind %d", kind)
		}
	})
}
