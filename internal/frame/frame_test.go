package frame

import (
	"encoding/binary"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// envelope prefixes a payload with a cluster id, as keeper frames it.
func envelope(payload []byte) []byte {
	return append(binary.BigEndian.AppendUint64(nil, 0xc1), payload...)
}

// marshal encodes a raft message the way keeper's raft loop does.
func marshal(t testing.TB, m *raftpb.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return envelope(b)
}

func TestBulkByMessageType(t *testing.T) {
	for typ := range raftpb.MessageType_name {
		mt := raftpb.MessageType(typ)
		m := &raftpb.Message{Type: &mt, To: proto.Uint64(2), From: proto.Uint64(1), Term: proto.Uint64(7)}
		if mt == raftpb.MsgApp || mt == raftpb.MsgProp {
			m.Entries = []*raftpb.Entry{{Data: make([]byte, 300)}}
		}
		want := mt == raftpb.MsgApp || mt == raftpb.MsgProp
		if got := Bulk(marshal(t, m)); got != want {
			t.Errorf("%v: Bulk = %v, want %v", mt, got, want)
		}
	}
}

func TestBulkFieldOrder(t *testing.T) {
	// Field 1 after others and after a large field.
	var b []byte
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, 3)
	b = protowire.AppendTag(b, 7, protowire.BytesType)
	b = protowire.AppendBytes(b, make([]byte, 1000))
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(raftpb.MsgApp))
	if !Bulk(envelope(b)) {
		t.Error("MsgApp with field 1 last: not bulk")
	}
	// A multi-byte type value in the first field.
	var c []byte
	c = protowire.AppendTag(c, 1, protowire.VarintType)
	c = append(c, 0x83, 0x00) // 3, non-minimally encoded
	if !Bulk(envelope(c)) {
		t.Error("MsgApp with a two-byte varint: not bulk")
	}
}

func TestBulkControlAndJunk(t *testing.T) {
	for name, f := range map[string][]byte{
		"empty":          nil,
		"short":          {1, 2, 3},
		"envelope only":  envelope(nil),
		"membership":     envelope([]byte{0x00, 1, 1, 0, 0, 0}),
		"truncated tag":  envelope([]byte{0x80}),
		"no field 1":     envelope([]byte{0x10, 0x03}),
		"field 1 bytes":  envelope([]byte{0x0a, 0x01, 0x03}),
		"bad length":     envelope([]byte{0x12, 0x7f, 0x00}),
		"group wiretype": envelope([]byte{0x0b, 0x08, 0x03, 0x0c}),
	} {
		if Bulk(f) {
			t.Errorf("%s: Bulk = true", name)
		}
	}
}

func TestCluster(t *testing.T) {
	if id, ok := Cluster(envelope([]byte{1})); !ok || id != 0xc1 {
		t.Errorf("Cluster = %x, %v", id, ok)
	}
	if _, ok := Cluster([]byte{1, 2}); ok {
		t.Error("short frame names a cluster")
	}
}

// FuzzBulk checks that Bulk never panics and agrees with a full protobuf
// decode whenever the payload decodes as a raft message with one type
// field (decoding takes the last of several; Bulk the first, which is the
// only one a marshaller writes).
func FuzzBulk(f *testing.F) {
	for _, typ := range []raftpb.MessageType{raftpb.MsgApp, raftpb.MsgHeartbeat, raftpb.MsgProp, raftpb.MsgVote} {
		m := &raftpb.Message{Type: &typ, To: proto.Uint64(2), From: proto.Uint64(1), Entries: []*raftpb.Entry{{Data: []byte("x")}}}
		f.Add(marshal(f, m))
	}
	f.Add(envelope([]byte{0x00, 1, 1}))
	f.Add(envelope([]byte{0x10, 0x03, 0x08, 0x03}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got := Bulk(b)
		if len(b) <= Header || b[Header] == memberMarker {
			if got {
				t.Fatal("short or membership frame is bulk")
			}
			return
		}
		m := &raftpb.Message{}
		if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b[Header:], m); err != nil {
			return
		}
		want := m.GetType() == raftpb.MsgApp || m.GetType() == raftpb.MsgProp
		if got != want && m.Type != nil && typeFields(b[Header:]) == 1 {
			t.Fatalf("Bulk = %v, decoded type %v", got, m.GetType())
		}
	})
}

// BenchmarkBulk classifies an append of 64 entries of 100 bytes.
func BenchmarkBulk(b *testing.B) {
	typ := raftpb.MsgApp
	m := &raftpb.Message{Type: &typ, To: proto.Uint64(2), From: proto.Uint64(1)}
	for range 64 {
		m.Entries = append(m.Entries, &raftpb.Entry{Data: make([]byte, 100)})
	}
	f := marshal(b, m)
	b.ReportAllocs()
	for b.Loop() {
		if !Bulk(f) {
			b.Fatal("not bulk")
		}
	}
}

// typeFields counts the top-level varint fields numbered 1.
func typeFields(b []byte) int {
	n := 0
	for len(b) > 0 {
		num, typ, k := protowire.ConsumeTag(b)
		if k < 0 {
			return n
		}
		b = b[k:]
		if num == typeField && typ == protowire.VarintType {
			n++
		}
		k = protowire.ConsumeFieldValue(num, typ, b)
		if k < 0 {
			return n
		}
		b = b[k:]
	}
	return n
}
