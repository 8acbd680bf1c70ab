package keeper

import (
	"encoding/binary"
	"fmt"
)

// znodeVersion is the first byte of a stored znode value.
const znodeVersion = 1

// znode is one node of the tree as stored. A znode reachable from the apply
// overlays or returned by load is never modified: changes work on a clone.
type znode struct {
	stat Stat
	mode CreateMode
	ttl  int64 // milliseconds, for the TTL modes
	acl  []ACL
	data []byte
}

// clone returns a shallow copy; acl and data are shared and never mutated.
func (n *znode) clone() *znode {
	c := *n
	return &c
}

// openACLShared is what an ACL list of length 0 decodes to: OpenACL, stored
// in one byte. It is read-only.
var openACLShared = OpenACL()

// encodeZnode appends the stored value of n: version byte; varint czxid,
// mzxid, pzxid, ctime, mtime, version, cversion, aversion, ephemeralOwner,
// numChildren; mode byte; uvarint TTL; ACL list (count 0 = OpenACL); data to
// the end. DataLength is len(data).
func encodeZnode(dst []byte, n *znode) []byte {
	s := &n.stat
	dst = append(dst, znodeVersion)
	dst = binary.AppendVarint(dst, int64(s.Czxid))
	dst = binary.AppendVarint(dst, int64(s.Mzxid))
	dst = binary.AppendVarint(dst, int64(s.Pzxid))
	dst = binary.AppendVarint(dst, s.Ctime)
	dst = binary.AppendVarint(dst, s.Mtime)
	dst = binary.AppendVarint(dst, int64(s.Version))
	dst = binary.AppendVarint(dst, int64(s.Cversion))
	dst = binary.AppendVarint(dst, int64(s.Aversion))
	dst = binary.AppendVarint(dst, int64(s.EphemeralOwner))
	dst = binary.AppendVarint(dst, int64(s.NumChildren))
	dst = append(dst, byte(n.mode))
	dst = binary.AppendUvarint(dst, uint64(n.ttl))
	if isOpenACL(n.acl) {
		dst = append(dst, 0)
	} else {
		dst = appendACL(dst, n.acl)
	}
	return append(dst, n.data...)
}

func isOpenACL(acl []ACL) bool {
	return len(acl) == 1 && acl[0] == ACL{Perms: PermAll, Scheme: schemeWorld, ID: worldAnyone}
}

// decodeZnode decodes a stored value into n; n.data aliases v.
func decodeZnode(v []byte, n *znode) error {
	d := decoder{b: v}
	if d.byte() != znodeVersion {
		return fmt.Errorf("keeper: znode value version: %w", ErrCorrupt)
	}
	s := &n.stat
	s.Czxid = Zxid(d.varint())
	s.Mzxid = Zxid(d.varint())
	s.Pzxid = Zxid(d.varint())
	s.Ctime = d.varint()
	s.Mtime = d.varint()
	s.Version = d.int32()
	s.Cversion = d.int32()
	s.Aversion = d.int32()
	s.EphemeralOwner = SessionID(d.varint())
	s.NumChildren = d.int32()
	n.mode = CreateMode(d.byte())
	n.ttl = int64(d.uvarint())
	n.acl = d.acl()
	if n.acl == nil {
		n.acl = openACLShared
	}
	if d.err != nil {
		return fmt.Errorf("keeper: znode value: %w", d.err)
	}
	n.data = d.b
	s.DataLength = int32(len(d.b))
	return nil
}
