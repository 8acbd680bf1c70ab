package zkfile

import (
	"encoding/binary"
	"hash/crc32"
	"strings"
)

// DigestVersion is the digest version ZooKeeper 3.6 to 3.9 compute
// (DigestCalculator): the only one NodeDigest knows.
const DigestVersion = 2

// NodeDigest is ZooKeeper's digest of one znode (DigestCalculator, version
// 2): the CRC-32 (IEEE) of the path ("" for the root), the data, and the
// Stat's czxid, mzxid, pzxid, ctime, mtime, version, cversion, aversion and
// ephemeralOwner, big-endian. Znodes under /zookeeper/ count 0. The tree's
// digest is the sum of its znodes' digests, modulo 2^64.
func NodeDigest(path string, data []byte, s *Stat) int64 {
	if strings.HasPrefix(path, "/zookeeper/") {
		return 0
	}
	if path == "/" {
		path = ""
	}
	var b [60]byte
	binary.BigEndian.PutUint64(b[0:], uint64(s.Czxid))
	binary.BigEndian.PutUint64(b[8:], uint64(s.Mzxid))
	binary.BigEndian.PutUint64(b[16:], uint64(s.Pzxid))
	binary.BigEndian.PutUint64(b[24:], uint64(s.Ctime))
	binary.BigEndian.PutUint64(b[32:], uint64(s.Mtime))
	binary.BigEndian.PutUint32(b[40:], uint32(s.Version))
	binary.BigEndian.PutUint32(b[44:], uint32(s.Cversion))
	binary.BigEndian.PutUint32(b[48:], uint32(s.Aversion))
	binary.BigEndian.PutUint64(b[52:], uint64(s.EphemeralOwner))
	c := crc32.Update(0, crc32.IEEETable, []byte(path))
	c = crc32.Update(c, crc32.IEEETable, data)
	c = crc32.Update(c, crc32.IEEETable, b[:])
	return int64(c)
}
