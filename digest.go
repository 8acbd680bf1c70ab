package keeper

import "github.com/cespare/xxhash/v2"

// The tree digest is the sum, modulo 2^64, of nodeHash over every znode. A sum
// is order-independent, so two replicas agree whatever order their batches
// wrote keys in, and it updates in O(change): apply subtracts the hash of a
// node's old value and adds the hash of its new one.

// nodeHash is xxhash64 of path, a 0x00 byte, and the stored value (encodeZnode:
// full Stat but DataLength, which is len(data), mode, TTL, ACL, data).
func nodeHash(h *xxhash.Digest, path string, value []byte) uint64 {
	h.Reset()
	_, _ = h.WriteString(path)
	_, _ = h.Write([]byte{0})
	_, _ = h.Write(value)
	return h.Sum64()
}
