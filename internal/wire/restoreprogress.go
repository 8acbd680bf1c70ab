package wire

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// RestoreProgress is what an online restore's commit learned of its scope
// before changing it. The commit's first write stores it under the meta
// key restoring, so that a replay of the commit after a crash does not have
// to read the scope it changed.
//
// Layout (no version byte; the record lives only between the two writes of
// one commit on one member): Zxid, ID, Digest and Removed as big-endian
// uint64s, the RootWas byte (1 or 0), then per ephemeral: uvarint path
// length, path, uvarint value length, value.
type RestoreProgress struct {
	Zxid    uint64 // the commit entry's zxid
	ID      uint64 // the online restore's id
	Digest  uint64 // the tree digest without the scope's znodes
	Removed uint64 // znodes in scope
	RootWas bool   // the scope's root existed
	// Ephemerals are the ephemerals in scope, in key order.
	Ephemerals []KeptNode
}

// KeptNode is a znode by its path and stored value (znode.go's encoding).
type KeptNode struct {
	Path  string
	Value []byte
}

// restoreProgressHead is the length of the fixed part of a record.
const restoreProgressHead = 4*8 + 1

// Encode returns the record's bytes.
func (p *RestoreProgress) Encode() []byte {
	b := binary.BigEndian.AppendUint64(nil, p.Zxid)
	b = binary.BigEndian.AppendUint64(b, p.ID)
	b = binary.BigEndian.AppendUint64(b, p.Digest)
	b = binary.BigEndian.AppendUint64(b, p.Removed)
	if p.RootWas {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	for _, e := range p.Ephemerals {
		b = binary.AppendUvarint(b, uint64(len(e.Path)))
		b = append(b, e.Path...)
		b = binary.AppendUvarint(b, uint64(len(e.Value)))
		b = append(b, e.Value...)
	}
	return b
}

// DecodeRestoreProgress is the inverse of Encode; a RootWas byte other than
// 1 reads as false. The values are copies, not aliases of b (a store's
// buffer). Errors match ErrCorrupt.
func DecodeRestoreProgress(b []byte) (RestoreProgress, error) {
	var p RestoreProgress
	if len(b) < restoreProgressHead {
		return p, fmt.Errorf("restore progress record: too short: %w", ErrCorrupt)
	}
	p.Zxid = binary.BigEndian.Uint64(b)
	p.ID = binary.BigEndian.Uint64(b[8:])
	p.Digest = binary.BigEndian.Uint64(b[16:])
	p.Removed = binary.BigEndian.Uint64(b[24:])
	p.RootWas = b[32] == 1
	b = b[restoreProgressHead:]
	next := func() ([]byte, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, false
		}
		v := b[k : k+int(n)]
		b = b[k+int(n):]
		return v, true
	}
	for len(b) > 0 {
		path, ok := next()
		if !ok {
			return p, fmt.Errorf("restore progress record: bad length: %w", ErrCorrupt)
		}
		v, ok := next()
		if !ok {
			return p, fmt.Errorf("restore progress record: bad length: %w", ErrCorrupt)
		}
		p.Ephemerals = append(p.Ephemerals, KeptNode{Path: string(path), Value: bytes.Clone(v)})
	}
	return p, nil
}
