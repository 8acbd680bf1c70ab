package keeper

import (
	"encoding/binary"
	"fmt"
)

// recordZooKeeperOrigin is an optional record of a backup written by
// ImportZooKeeper: where its tree came from (docs/BACKUP_FORMAT.md).
const recordZooKeeperOrigin uint8 = 0x82

// zooKeeperOriginVersion is the first byte of the record's payload.
const zooKeeperOriginVersion = 1

// ZooKeeperOrigin describes the ZooKeeper data a backup was imported from;
// InspectBackup reports it.
type ZooKeeperOrigin struct {
	// Zxid is ZooKeeper's last zxid (epoch << 32 | counter).
	Zxid Zxid
	// Snapshot is the snapshot file's name, SnapshotZxid the zxid in it.
	Snapshot     string
	SnapshotZxid Zxid
	// Txns counts the logged transactions replayed after the snapshot.
	Txns int64
	// Ephemerals is the import's choice for ephemeral znodes, and
	// EphemeralZnodes how many it applied to.
	Ephemerals      EphemeralPolicy
	EphemeralZnodes int64
	// Sessions counts ZooKeeper's open sessions, which were not imported.
	Sessions int64
}

// encode returns the record's payload: version 1, the ephemeral policy,
// then uvarints zxid, snapshot zxid, transactions, ephemeral znodes,
// sessions, and the snapshot's name (uvarint length, bytes).
func (o ZooKeeperOrigin) encode() []byte {
	b := []byte{zooKeeperOriginVersion, byte(o.Ephemerals)}
	for _, v := range []int64{int64(o.Zxid), int64(o.SnapshotZxid), o.Txns, o.EphemeralZnodes, o.Sessions} {
		b = binary.AppendUvarint(b, uint64(v))
	}
	b = binary.AppendUvarint(b, uint64(len(o.Snapshot)))
	return append(b, o.Snapshot...)
}

// decodeZooKeeperOrigin decodes a record payload; a later version's is
// refused.
func decodeZooKeeperOrigin(p []byte) (ZooKeeperOrigin, error) {
	var o ZooKeeperOrigin
	if len(p) < 2 || p[0] != zooKeeperOriginVersion {
		return o, corruptf("zookeeper origin record version")
	}
	o.Ephemerals = EphemeralPolicy(p[1])
	p = p[2:]
	var zxid, snapZxid int64
	for _, v := range []*int64{&zxid, &snapZxid, &o.Txns, &o.EphemeralZnodes, &o.Sessions} {
		x, k := binary.Uvarint(p)
		if k <= 0 || x > 1<<63-1 {
			return o, corruptf("zookeeper origin record")
		}
		*v, p = int64(x), p[k:]
	}
	o.Zxid, o.SnapshotZxid = Zxid(zxid), Zxid(snapZxid)
	n, k := binary.Uvarint(p)
	if k <= 0 || n != uint64(len(p)-k) {
		return o, corruptf("zookeeper origin record: snapshot name")
	}
	o.Snapshot = string(p[k:])
	return o, nil
}

func (o ZooKeeperOrigin) String() string {
	return fmt.Sprintf("zookeeper zxid 0x%x (snapshot %s, %d transactions replayed), ephemerals: %v (%d), %d sessions not imported",
		o.Zxid, o.Snapshot, o.Txns, o.Ephemerals, o.EphemeralZnodes, o.Sessions)
}
