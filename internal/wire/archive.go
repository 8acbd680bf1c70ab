package wire

import (
	"encoding/binary"
	"fmt"

	"go.etcd.io/raft/v3/raftpb"
)

// An archive log segment is a stream (internal/stream, kind
// stream.KindLogSegment) whose header's Extra is a SegmentInfo and whose
// records are the segment's raft entries, one LogRecord each, in index
// order without holes.

// SegmentInfoVersion is the first byte of a SegmentInfo.
const SegmentInfoVersion = 1

// SegmentInfo describes an archive log segment: the raft indexes of its
// first and last entries, and the proposal times of its first and last
// entries that carry one (Unix milliseconds; 0 when none does).
//
// Layout: SegmentInfoVersion, uvarint First, uvarint Last, varint
// FirstTime, varint LastTime.
type SegmentInfo struct {
	First, Last         uint64
	FirstTime, LastTime int64
}

// EncodeSegmentInfo returns the bytes of s.
func EncodeSegmentInfo(s SegmentInfo) []byte {
	b := []byte{SegmentInfoVersion}
	b = binary.AppendUvarint(b, s.First)
	b = binary.AppendUvarint(b, s.Last)
	b = binary.AppendVarint(b, s.FirstTime)
	return binary.AppendVarint(b, s.LastTime)
}

// DecodeSegmentInfo is the inverse of EncodeSegmentInfo. A newer version
// is refused with ErrFormatTooNew; damage, or a Last below First, with
// ErrCorrupt.
func DecodeSegmentInfo(b []byte) (SegmentInfo, error) {
	if len(b) == 0 {
		return SegmentInfo{}, fmt.Errorf("%w: empty segment info", ErrCorrupt)
	}
	if b[0] != SegmentInfoVersion {
		return SegmentInfo{}, fmt.Errorf("%w: segment info version %d", ErrFormatTooNew, b[0])
	}
	var s SegmentInfo
	d := varints{b: b[1:]}
	s.First, s.Last = d.uvarint(), d.uvarint()
	s.FirstTime, s.LastTime = d.varint(), d.varint()
	if d.bad || len(d.b) != 0 {
		return SegmentInfo{}, fmt.Errorf("%w: bad segment info", ErrCorrupt)
	}
	if s.First == 0 || s.Last < s.First {
		return SegmentInfo{}, fmt.Errorf("%w: segment info range %d..%d", ErrCorrupt, s.First, s.Last)
	}
	return s, nil
}

// EncodeLogRecord appends an archive log record of e to dst: uvarint
// index, uvarint term, the entry type as one byte, then the entry's data
// to the end of the record.
func EncodeLogRecord(dst []byte, e *raftpb.Entry) []byte {
	dst = binary.AppendUvarint(dst, e.GetIndex())
	dst = binary.AppendUvarint(dst, e.GetTerm())
	dst = append(dst, byte(e.GetType()))
	return append(dst, e.GetData()...)
}

// DecodeLogRecord is the inverse of EncodeLogRecord; the entry's data
// aliases b. Damage, an unknown entry type or index 0 is refused with
// ErrCorrupt.
func DecodeLogRecord(b []byte) (*raftpb.Entry, error) {
	d := varints{b: b}
	index, term := d.uvarint(), d.uvarint()
	if d.bad || len(d.b) == 0 || index == 0 {
		return nil, fmt.Errorf("%w: bad archive log record", ErrCorrupt)
	}
	typ := raftpb.EntryType(d.b[0])
	switch typ {
	case raftpb.EntryNormal, raftpb.EntryConfChange, raftpb.EntryConfChangeV2:
	default:
		return nil, fmt.Errorf("%w: archive log record of entry type %d", ErrCorrupt, typ)
	}
	// One allocation for the entry and the fields it points to.
	le := &logEntry{index: index, term: term, typ: typ}
	e := &le.e
	e.Index, e.Term, e.Type = &le.index, &le.term, &le.typ
	if data := d.b[1:]; len(data) > 0 {
		e.Data = data
	}
	return e, nil
}

// logEntry is a decoded log record: the entry and its fields.
type logEntry struct {
	e           raftpb.Entry
	index, term uint64
	typ         raftpb.EntryType
}

// varints reads uvarints and varints off b; bad turns true at the first
// one that does not decode, and stays true.
type varints struct {
	b   []byte
	bad bool
}

func (d *varints) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *varints) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}
