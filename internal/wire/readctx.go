package wire

import (
	"encoding/binary"
	"fmt"
)

// readContextLen is the length of a ReadIndex request context.
const readContextLen = 8

// EncodeReadContext returns the context of a linearizable read's ReadIndex
// request: the requesting member's read id, 8 bytes big-endian. Raft
// carries it to the leader and back (a MsgReadIndex entry's data, then the
// ReadState), so only the member that asked decodes it. It has no version
// byte: its length is fixed.
func EncodeReadContext(id uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, readContextLen), id)
}

// DecodeReadContext is the inverse of EncodeReadContext. Any other length
// is refused with an error matching ErrCorrupt.
func DecodeReadContext(b []byte) (uint64, error) {
	if len(b) != readContextLen {
		return 0, fmt.Errorf("%w: read context of %d bytes", ErrCorrupt, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}
