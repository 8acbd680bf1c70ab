package keeper

import (
	"context"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/keeper-go/keeper/internal/keys"
	"github.com/keeper-go/keeper/storage"
)

// The tree digest is the sum, modulo 2^64, of nodeHash over every znode and
// sessionHash (sessiontable.go) over every session record. A sum is
// order-independent, so two replicas agree whatever order their batches
// wrote keys in, and it updates in O(change): apply subtracts the hash of a
// record's old value and adds the hash of its new one.

// nodeHash is xxhash64 of path, a 0x00 byte, and the stored value (encodeZnode:
// full Stat but DataLength, which is len(data), mode, TTL, ACL, data).
func nodeHash(h *xxhash.Digest, path string, value []byte) uint64 {
	h.Reset()
	_, _ = h.WriteString(path)
	_, _ = h.Write([]byte{0})
	_, _ = h.Write(value)
	return h.Sum64()
}

// imageVisitor receives the records of a tree image as sumImage walks it.
// Either field may be nil; an error it returns ends the walk.
type imageVisitor struct {
	node    func(path string, value []byte) error
	session func(id int64, value []byte) error
}

// sumImage walks every znode and then every session record of snap, in key
// order, handing each to visit, and returns the digest they sum to: what a
// sound tree stored as its running digest at snap's applied index. The
// consistency check's scan and the snapshot stream are its two readers; ctx
// is checked every few thousand records. A key that does not parse is
// ErrCorrupt. Errors are unprefixed: the caller says what it was doing.
func sumImage(ctx context.Context, snap *storage.Snapshot, visit imageVisitor) (sum uint64, err error) {
	h := xxhash.New()
	n := 0
	lo, hi := keys.NodeSpan()
	err = walkSpan(snap, lo, hi, func(k, v []byte) error {
		if n++; n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		path, ok := keys.NodePath(k)
		if !ok {
			return fmt.Errorf("node key %q: %w", k, ErrCorrupt)
		}
		sum += nodeHash(h, path, v)
		if visit.node != nil {
			return visit.node(path, v)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	lo, hi = keys.SessionSpan()
	err = walkSpan(snap, lo, hi, func(k, v []byte) error {
		id, ok := keys.SessionID(k)
		if !ok {
			return fmt.Errorf("session key %q: %w", k, ErrCorrupt)
		}
		sum += sessionHash(h, id, v)
		if visit.session != nil {
			return visit.session(id, v)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return sum, nil
}

// walkSpan calls f with each key and value of snap in [lo, hi), in order,
// until f returns an error.
func walkSpan(snap *storage.Snapshot, lo, hi []byte, f func(k, v []byte) error) error {
	it, err := snap.NewIter(lo, hi)
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.Value()
		if err == nil {
			err = f(it.Key(), v)
		}
		if err != nil {
			_ = it.Close()
			return err
		}
	}
	return it.Close()
}
