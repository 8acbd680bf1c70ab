package wire

import (
	"bytes"
	"errors"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func entryOf(typ raftpb.EntryType, index uint64, data []byte) *raftpb.Entry {
	return &raftpb.Entry{Type: typ.Enum(), Index: proto.Uint64(index), Term: proto.Uint64(1), Data: data}
}

func marshalled(t testing.TB, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecodeEntry: every kind of entry the log holds decodes to its kind,
// and anything else is refused with ErrCorruptEntry naming the index.
func TestDecodeEntry(t *testing.T) {
	check := (&Check{Kind: CheckPeriodic, Members: 3}).Encode()
	cc := &raftpb.ConfChange{Type: raftpb.ConfChangeAddNode.Enum(), NodeId: proto.Uint64(4)}
	cc2 := &raftpb.ConfChangeV2{Changes: []*raftpb.ConfChangeSingle{{Type: raftpb.ConfChangeAddLearnerNode.Enum(), NodeId: proto.Uint64(5)}}}

	d, err := DecodeEntry(entryOf(raftpb.EntryNormal, 1, nil))
	if err != nil || d.Kind != EntryEmpty || d.Index != 1 {
		t.Fatalf("empty entry: %+v %v", d, err)
	}
	d, err = DecodeEntry(entryOf(raftpb.EntryNormal, 2, EncodeEnvelope(3, 9, []byte("req"))))
	if err != nil || d.Kind != EntryProposal || d.Proposal.Member != 3 || d.Proposal.Seq != 9 || string(d.Proposal.Payload) != "req" {
		t.Fatalf("proposal: %+v %v", d, err)
	}
	d, err = DecodeEntry(entryOf(raftpb.EntryNormal, 3, check))
	if err != nil || d.Kind != EntryCheck || !bytes.Equal(d.Check, check) {
		t.Fatalf("check: %+v %v", d, err)
	}
	// An undecodable consistency entry is still one: its readers decide.
	d, err = DecodeEntry(entryOf(raftpb.EntryNormal, 4, []byte{CheckMarker, 99}))
	if err != nil || d.Kind != EntryCheck {
		t.Fatalf("damaged check: %+v %v", d, err)
	}
	d, err = DecodeEntry(entryOf(raftpb.EntryConfChange, 5, marshalled(t, cc)))
	if err != nil || d.Kind != EntryConfChange || !proto.Equal(d.Conf.(*raftpb.ConfChange), cc) {
		t.Fatalf("conf change: %+v %v", d, err)
	}
	d, err = DecodeEntry(entryOf(raftpb.EntryConfChangeV2, 6, marshalled(t, cc2)))
	if err != nil || d.Kind != EntryConfChange || !proto.Equal(d.Conf.(*raftpb.ConfChangeV2), cc2) {
		t.Fatalf("conf change v2: %+v %v", d, err)
	}
	// An empty ConfChangeV2 (leaving a joint configuration) has no data.
	d, err = DecodeEntry(entryOf(raftpb.EntryConfChangeV2, 7, nil))
	if err != nil || d.Kind != EntryConfChange {
		t.Fatalf("empty conf change v2: %+v %v", d, err)
	}
	for _, e := range []*raftpb.Entry{
		entryOf(raftpb.EntryNormal, 8, []byte{9, 1, 1}),
		entryOf(raftpb.EntryNormal, 8, []byte{EnvelopeVersion, 0x80}),
		entryOf(raftpb.EntryConfChange, 8, []byte{0xff}),
		entryOf(raftpb.EntryConfChangeV2, 8, []byte{0}),
		entryOf(raftpb.EntryType(7), 8, nil),
	} {
		_, err := DecodeEntry(e)
		if !errors.Is(err, ErrCorruptEntry) || !bytes.Contains([]byte(err.Error()), []byte("entry 8")) {
			t.Fatalf("entry of type %v data %x: %v", e.GetType(), e.GetData(), err)
		}
	}
}

// FuzzDecodeEntry: any entry type and data decode to a kind or to an error
// matching ErrCorruptEntry, never a panic; a proposal or a check keeps the
// entry's bytes.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(uint8(raftpb.EntryNormal), []byte(nil))
	f.Add(uint8(raftpb.EntryNormal), EncodeEnvelope(1, 2, []byte("x")))
	f.Add(uint8(raftpb.EntryNormal), (&Check{Kind: CheckReport, Member: 2, Corrupt: true}).Encode())
	f.Add(uint8(raftpb.EntryConfChange), marshalled(f, &raftpb.ConfChange{Type: raftpb.ConfChangeRemoveNode.Enum(), NodeId: proto.Uint64(2)}))
	f.Add(uint8(raftpb.EntryConfChangeV2), []byte{})
	f.Add(uint8(3), []byte{1})
	f.Fuzz(func(t *testing.T, typ uint8, data []byte) {
		d, err := DecodeEntry(entryOf(raftpb.EntryType(typ), 1, data))
		if err != nil {
			if !errors.Is(err, ErrCorruptEntry) {
				t.Fatalf("error %v does not match ErrCorruptEntry", err)
			}
			return
		}
		switch d.Kind {
		case EntryEmpty:
			if len(data) != 0 {
				t.Fatalf("%x decoded as empty", data)
			}
		case EntryCheck:
			if !bytes.Equal(d.Check, data) {
				t.Fatalf("check %x kept as %x", data, d.Check)
			}
		case EntryProposal:
			again := EncodeEnvelope(d.Proposal.Member, d.Proposal.Seq, d.Proposal.Payload)
			if len(again) == len(data) && !bytes.Equal(again, data) {
				t.Fatalf("proposal %x re-encodes to %x", data, again)
			}
		case EntryConfChange:
			if d.Conf == nil {
				t.Fatal("a configuration change without its change")
			}
		default:
			t.Fatalf("kind %d", d.Kind)
		}
	})
}

// BenchmarkDecodeEntry decodes a proposal, the apply path's common case;
// it should not allocate.
func BenchmarkDecodeEntry(b *testing.B) {
	e := entryOf(raftpb.EntryNormal, 1, EncodeEnvelope(3, 9, make([]byte, 120)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEntry(e); err != nil {
			b.Fatal(err)
		}
	}
}
