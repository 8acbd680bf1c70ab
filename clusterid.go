package keeper

import (
	"encoding/binary"
	"hash/fnv"
	"slices"
)

// A cluster id tells one cluster's frames, logs and backups from another's.
// Every id keeper derives itself is the 64-bit FNV-1a hash of a list of
// numbers (idHash), so members that derive it from the same facts agree
// without talking: a new cluster from its peers, a restored one from the
// backup and its peers, a recovered one from the old id, the recovery zxid
// and the survivors.

// idHash is the 64-bit FNV-1a hash of vals, each as 8 big-endian bytes,
// followed by extra sorted (extra is not changed).
func idHash(vals []uint64, extra []uint64) uint64 {
	h := fnv.New64a()
	var b [8]byte
	for _, v := range append(slices.Clone(vals), slices.Sorted(slices.Values(extra))...) {
		binary.BigEndian.PutUint64(b[:], v)
		h.Write(b[:])
	}
	return h.Sum64()
}

// nonZeroID is id, or 1 if id is 0 (0 means "derive one").
func nonZeroID(id uint64) uint64 { return max(id, 1) }

// deriveClusterID hashes the sorted peer ids, so members given the same
// peers derive the same cluster id.
func deriveClusterID(peers []uint64) uint64 {
	return nonZeroID(idHash(nil, peers))
}

// restoredClusterID derives a restored cluster's id from the backup it was
// restored from and its peers, so every member restored from the same
// backup with the same peers agrees on it, and it differs from the backup's.
func restoredClusterID(h BackupInfo, peers []uint64) uint64 {
	const restored = 0x7265_7374_6f72_6564 // "restored"
	return nonZeroID(idHash([]uint64{restored, h.ClusterID, uint64(h.Zxid), uint64(h.Time.UnixMilli())}, peers))
}

// recoveredClusterID derives the id of a cluster recovered at zxid from
// cluster old with members, so every survivor recovered at the same zxid
// with the same members agrees on it, and it differs from old.
func recoveredClusterID(old, zxid uint64, members []uint64) uint64 {
	const recovered = 0x7265_636f_7665_7265 // "recovere"
	if id := idHash([]uint64{recovered, old, zxid}, members); id != 0 && id != old {
		return id
	}
	return old + 1
}
