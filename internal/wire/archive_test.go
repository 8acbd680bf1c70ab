package wire

import (
	"bytes"
	"errors"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

func TestSegmentInfoRoundTrip(t *testing.T) {
	for _, s := range []SegmentInfo{{First: 1, Last: 1}, {First: 5, Last: 900, FirstTime: 1700000000000, LastTime: 1700000000999}, {First: 1 << 62, Last: ^uint64(0), FirstTime: -1}} {
		got, err := DecodeSegmentInfo(EncodeSegmentInfo(s))
		if err != nil || got != s {
			t.Fatalf("round trip of %+v: %+v %v", s, got, err)
		}
	}
	if _, err := DecodeSegmentInfo(EncodeSegmentInfo(SegmentInfo{First: 9, Last: 8})); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("backward range: %v", err)
	}
	if _, err := DecodeSegmentInfo([]byte{2, 1, 1, 0, 0}); !errors.Is(err, ErrFormatTooNew) {
		t.Fatalf("version 2: %v", err)
	}
}

func TestLogRecordRoundTrip(t *testing.T) {
	for _, typ := range []raftpb.EntryType{raftpb.EntryNormal, raftpb.EntryConfChange, raftpb.EntryConfChangeV2} {
		for _, data := range [][]byte{nil, {1, 2, 3}} {
			e := &raftpb.Entry{Index: new(uint64(77)), Term: new(uint64(3)), Type: &typ, Data: data}
			b := EncodeLogRecord(nil, e)
			got, err := DecodeLogRecord(b)
			if err != nil || got.GetIndex() != 77 || got.GetTerm() != 3 || got.GetType() != typ || !bytes.Equal(got.GetData(), data) {
				t.Fatalf("round trip of %v: %v %v", e, got, err)
			}
		}
	}
	for _, b := range [][]byte{nil, {0, 1, 0}, {5, 1}, {5, 1, 9}} {
		if _, err := DecodeLogRecord(b); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%x: %v", b, err)
		}
	}
}

// FuzzSegmentInfo: decoding never panics, refuses with ErrCorrupt or
// ErrFormatTooNew, and what it accepts encodes back to the same bytes.
func FuzzSegmentInfo(f *testing.F) {
	f.Add(EncodeSegmentInfo(SegmentInfo{First: 5, Last: 900, FirstTime: 17, LastTime: 19}))
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSegmentInfo(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFormatTooNew) {
				t.Fatalf("error %v matches neither ErrCorrupt nor ErrFormatTooNew", err)
			}
			return
		}
		// The same bytes again, unless a varint was not minimal, which
		// only makes the input longer.
		if again := EncodeSegmentInfo(s); len(again) == len(b) && !bytes.Equal(again, b) {
			t.Fatalf("%x re-encodes to %x", b, again)
		}
	})
}

// FuzzLogRecord: decoding never panics, refuses with ErrCorrupt, and what
// it accepts encodes back to the same bytes.
func FuzzLogRecord(f *testing.F) {
	typ := raftpb.EntryNormal
	f.Add(EncodeLogRecord(nil, &raftpb.Entry{Index: new(uint64(77)), Term: new(uint64(3)), Type: &typ, Data: []byte("x")}))
	f.Add([]byte{1, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeLogRecord(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not match ErrCorrupt", err)
			}
			return
		}
		if again := EncodeLogRecord(nil, e); len(again) == len(b) && !bytes.Equal(again, b) {
			t.Fatalf("%x re-encodes to %x", b, again)
		}
	})
}
