package wire

import (
	"encoding/binary"
	"fmt"
)

// EnvelopeVersion is the first byte of every proposal's entry: a normal
// raft entry whose data starts with it carries an Envelope. A consistency
// entry starts with CheckMarker instead, so the two never mix.
const EnvelopeVersion = 1

// Envelope is a proposal as the raft log holds it: the proposing member and
// its sequence number, so that member can hand the apply result to its
// waiting caller, and the payload (the root package's encoded request).
//
// Layout: EnvelopeVersion, uvarint Member, uvarint Seq, then the payload to
// the end of the entry.
type Envelope struct {
	Member  uint64
	Seq     uint64
	Payload []byte
}

// EncodeEnvelope wraps a payload with the proposing member and its sequence
// number.
func EncodeEnvelope(member, seq uint64, payload []byte) []byte {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(payload))
	b = append(b, EnvelopeVersion)
	b = binary.AppendUvarint(b, member)
	b = binary.AppendUvarint(b, seq)
	return append(b, payload...)
}

// DecodeEnvelope is the inverse of EncodeEnvelope. The payload aliases b.
// Errors match ErrCorruptEntry.
func DecodeEnvelope(b []byte) (Envelope, error) {
	if len(b) == 0 || b[0] != EnvelopeVersion {
		return Envelope{}, fmt.Errorf("%w: unknown envelope version", ErrCorruptEntry)
	}
	b = b[1:]
	member, n := binary.Uvarint(b)
	if n <= 0 {
		return Envelope{}, fmt.Errorf("%w: bad envelope member", ErrCorruptEntry)
	}
	b = b[n:]
	seq, n := binary.Uvarint(b)
	if n <= 0 {
		return Envelope{}, fmt.Errorf("%w: bad envelope sequence", ErrCorruptEntry)
	}
	return Envelope{Member: member, Seq: seq, Payload: b[n:]}, nil
}
