package wire

import (
	"encoding/binary"
	"fmt"
)

// installMarkLen is the length of an install mark.
const installMarkLen = 16

// EncodeInstallMark returns the value of the meta key installed, which a
// tree built from a raft snapshot carries: the snapshot's index and term,
// 8 bytes big-endian each. Open reads it to release the raft log up to the
// snapshot once the new tree is in place. It has no version byte: its
// length is fixed.
func EncodeInstallMark(index, term uint64) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, installMarkLen), index)
	return binary.BigEndian.AppendUint64(b, term)
}

// DecodeInstallMark is the inverse of EncodeInstallMark. Any other length
// is refused with an error matching ErrCorrupt.
func DecodeInstallMark(b []byte) (index, term uint64, err error) {
	if len(b) != installMarkLen {
		return 0, 0, fmt.Errorf("%w: install mark %x", ErrCorrupt, b)
	}
	return binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:]), nil
}
