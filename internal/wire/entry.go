package wire

import (
	"fmt"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// EntryKind says what a raft log entry carries.
type EntryKind uint8

const (
	// EntryEmpty is a normal entry without data: a new leader's empty
	// entry.
	EntryEmpty EntryKind = iota + 1
	// EntryProposal is a normal entry carrying a proposal in an Envelope.
	EntryProposal
	// EntryCheck is a normal entry carrying a consistency entry (it starts
	// with CheckMarker).
	EntryCheck
	// EntryConfChange is a configuration change: raft's ConfChange or
	// ConfChangeV2.
	EntryConfChange
)

// Entry is a decoded raft log entry. Byte slices alias the entry's data.
type Entry struct {
	Index uint64
	Kind  EntryKind
	// Proposal is an EntryProposal's envelope.
	Proposal Envelope
	// Check is an EntryCheck's data, left to DecodeCheck: each reader
	// decides what an undecodable consistency entry means to it.
	Check []byte
	// Conf is an EntryConfChange's change.
	Conf raftpb.ConfChangeI
}

// DecodeEntry says what a raft log entry is and decodes it. It is the one
// decoder of log entries: the raft loop's apply, recovery of a stopped
// member's log (InspectDir, RecoverQuorum), a repair's re-apply and the
// leader's filter of forwarded proposals all use it, each deciding what a
// kind means to it.
//
// A normal entry's data is empty, a consistency entry (first byte
// CheckMarker) or an Envelope (first byte EnvelopeVersion); a configuration
// change's data is raft's marshalled ConfChange or ConfChangeV2. Anything
// else returns an error matching ErrCorruptEntry that names the entry's
// index.
func DecodeEntry(e *raftpb.Entry) (Entry, error) {
	d := Entry{Index: e.GetIndex()}
	switch e.GetType() {
	case raftpb.EntryNormal:
		switch data := e.GetData(); {
		case len(data) == 0:
			d.Kind = EntryEmpty
		case IsCheck(data):
			d.Kind, d.Check = EntryCheck, data
		default:
			env, err := DecodeEnvelope(data)
			if err != nil {
				return Entry{}, fmt.Errorf("entry %d: %w", e.GetIndex(), err)
			}
			d.Kind, d.Proposal = EntryProposal, env
		}
	case raftpb.EntryConfChange:
		var cc raftpb.ConfChange
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			return Entry{}, fmt.Errorf("%w: entry %d: %w", ErrCorruptEntry, e.GetIndex(), err)
		}
		d.Kind, d.Conf = EntryConfChange, &cc
	case raftpb.EntryConfChangeV2:
		var cc raftpb.ConfChangeV2
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			return Entry{}, fmt.Errorf("%w: entry %d: %w", ErrCorruptEntry, e.GetIndex(), err)
		}
		d.Kind, d.Conf = EntryConfChange, &cc
	default:
		return Entry{}, fmt.Errorf("%w: entry %d has unknown type %d", ErrCorruptEntry, e.GetIndex(), e.GetType())
	}
	return d, nil
}
