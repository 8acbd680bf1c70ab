package keeper

import (
	"encoding/binary"
	"hash/fnv"
	"slices"
)

// deriveClusterID hashes the sorted peer ids, so members given the same
// peers derive the same cluster id.
func deriveClusterID(peers []uint64) uint64 {
	ids := slices.Clone(peers)
	slices.Sort(ids)
	h := fnv.New64a()
	var buf [8]byte
	for _, id := range ids {
		binary.BigEndian.PutUint64(buf[:], id)
		h.Write(buf[:])
	}
	if s := h.Sum64(); s != 0 {
		return s
	}
	return 1
}

// restoredClusterID derives a restored cluster's id from the backup it was
// restored from and its members, so that every member's Restore picks the
// same id without coordination, and it differs from the source cluster's.
func restoredClusterID(h BackupInfo, peers []uint64) uint64 {
	f := fnv.New64a()
	var b [8]byte
	for _, v := range []uint64{0x7265_7374_6f72_6564, h.ClusterID, h.Zxid, uint64(h.Time.UnixMilli())} {
		binary.BigEndian.PutUint64(b[:], v)
		f.Write(b[:])
	}
	for _, p := range slices.Sorted(slices.Values(peers)) {
		binary.BigEndian.PutUint64(b[:], p)
		f.Write(b[:])
	}
	if id := f.Sum64(); id != 0 {
		return id
	}
	return 1
}

// recoveredClusterID derives the id of a cluster recovered at zxid from
// cluster old with members, so every survivor recovered at the same zxid
// with the same members agrees on it, and it differs from old.
func recoveredClusterID(old, zxid uint64, members []uint64) uint64 {
	f := fnv.New64a()
	var b [8]byte
	for _, v := range append([]uint64{0x7265_636f_7665_7265, old, zxid}, slices.Sorted(slices.Values(members))...) {
		binary.BigEndian.PutUint64(b[:], v)
		f.Write(b[:])
	}
	if id := f.Sum64(); id != 0 && id != old {
		return id
	}
	return old + 1
}
