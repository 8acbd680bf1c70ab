package wire

import (
	"encoding/binary"
	"fmt"
)

// confContextLen is the length of a membership change's context.
const confContextLen = 8

// EncodeConfContext returns the Context of a membership change this member
// proposes (a ConfChangeV2 in the raft log): the id of the change its
// caller waits for, 8 bytes big-endian. When the change applies, the
// member that proposed it finds its waiting caller by it; other members
// ignore it. It has no version byte: its length is fixed.
func EncodeConfContext(id uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, confContextLen), id)
}

// DecodeConfContext is the inverse of EncodeConfContext. Any other length
// (raft's own changes carry none) is refused with an error matching
// ErrCorrupt.
func DecodeConfContext(b []byte) (uint64, error) {
	if len(b) != confContextLen {
		return 0, fmt.Errorf("%w: membership change context of %d bytes", ErrCorrupt, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}
