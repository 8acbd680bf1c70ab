// Package keys is the key layout of a member's tree database (a
// storage.Store): which key holds a znode, an index entry, a session, a
// staged restore chunk or a meta value. It is internal because a write under
// these keys from outside the member changes its tree behind raft's back.
package keys

import (
	"bytes"
	"encoding/binary"
)

// Key layout of the tree database. Every key starts with one byte naming its
// family; docs/DESIGN.md ("The tree") explains the choice.
//
//	'n' parent 0x00 name   a znode, value = encoded Stat, mode, TTL, ACL, data.
//	                       parent is the parent's path ("" for children of "/");
//	                       the root "/" itself is the single key "n".
//	'e' owner(8, BE) path  an ephemeral znode of session owner; empty value.
//	'c' path               a container znode; empty value.
//	't' path               a TTL znode; value = TTL in ms, 8 bytes BE.
//	's' id(8, BE)          a session; value = encoded timeout, owner, nonce.
//	'r' id(8, BE) seq(8, BE)
//	                       a staged chunk of an online restore (keeper's
//	                       restore_online.go); value = the chunk's bytes.
//	'm' name               meta: format, cluster id, applied index, digest,
//	                       membership.
//
// Paths never contain 0x00 (path validation refuses it), so 0x00 ends the
// parent part unambiguously.
const (
	prefixNode      = 'n'
	prefixEphemeral = 'e'
	prefixContainer = 'c'
	prefixTTL       = 't'
	prefixMeta      = 'm'
	prefixSession   = 's'
	prefixRestore   = 'r'
)

// Meta key names.
const (
	MetaFormat     = "format"
	MetaCluster    = "cluster"
	MetaApplied    = "applied"
	MetaDigest     = "digest"
	MetaMembership = "members"
	// MetaInstalled is set in a tree built from a raft snapshot: the
	// snapshot's index and term, 8 bytes big-endian each (see install.go).
	MetaInstalled = "installed"
	// MetaRestoring is set while an online restore commit is being written
	// (keeper's restore_online.go): what it learned of the scope before
	// changing it, for a replay after a crash.
	MetaRestoring = "restoring"
	// MetaArchived is the last raft index the cluster's archive is known
	// to hold (8 bytes, big-endian), set by archive mark entries.
	MetaArchived = "archived"
)

// MetaKey returns the key of the meta value name.
func MetaKey(name string) []byte { return append([]byte{prefixMeta}, name...) }

// NodeKey appends the key of the znode at the valid absolute path to dst.
func NodeKey(dst []byte, path string) []byte {
	dst = append(dst, prefixNode)
	if path == "/" {
		return dst
	}
	i := lastSlash(path)
	dst = append(dst, path[:i]...)
	dst = append(dst, 0)
	return append(dst, path[i+1:]...)
}

// ChildPrefix appends the prefix shared by the keys of path's children, in
// name order, to dst.
func ChildPrefix(dst []byte, path string) []byte {
	dst = append(dst, prefixNode)
	if path != "/" {
		dst = append(dst, path...)
	}
	return append(dst, 0)
}

// DescendantPrefix appends the prefix shared by the keys of path's
// descendants below its children (grandchildren and deeper) to dst.
func DescendantPrefix(dst []byte, path string) []byte {
	dst = append(dst, prefixNode)
	if path != "/" {
		dst = append(dst, path...)
	}
	return append(dst, '/')
}

// NodePathLen returns the length of the path of the znode whose key is key,
// without building the path, or false if key is not a node key.
func NodePathLen(key []byte) (int, bool) {
	if len(key) == 0 || key[0] != prefixNode {
		return 0, false
	}
	if len(key) == 1 {
		return 1, true // "/"
	}
	// The family byte goes and the 0x00 between parent and name becomes
	// the "/" before the name.
	return len(key) - 1, bytes.IndexByte(key, 0) > 0
}

// NodePath returns the path of the znode whose key is key, or false if key is
// not a node key.
func NodePath(key []byte) (string, bool) {
	if len(key) == 0 || key[0] != prefixNode {
		return "", false
	}
	if len(key) == 1 {
		return "/", true
	}
	for i := len(key) - 1; i >= 1; i-- {
		if key[i] == 0 {
			return string(key[1:i]) + "/" + string(key[i+1:]), true
		}
	}
	return "", false
}

// ChildName returns the name part of a node key.
func ChildName(key []byte) []byte {
	for i := len(key) - 1; i >= 1; i-- {
		if key[i] == 0 {
			return key[i+1:]
		}
	}
	return nil
}

// NodeSpan returns the bounds [lower, upper) of all node keys.
func NodeSpan() (lower, upper []byte) { return []byte{prefixNode}, []byte{prefixNode + 1} }

// EphemeralKey appends the index key of the ephemeral znode path of owner.
func EphemeralKey(dst []byte, owner int64, path string) []byte {
	dst = EphemeralPrefix(dst, owner)
	return append(dst, path...)
}

// EphemeralPrefix appends the prefix of owner's ephemeral index keys to dst.
func EphemeralPrefix(dst []byte, owner int64) []byte {
	dst = append(dst, prefixEphemeral)
	return binary.BigEndian.AppendUint64(dst, uint64(owner))
}

// EphemeralSpan returns the bounds [lower, upper) of every session's
// ephemeral index keys.
func EphemeralSpan() (lower, upper []byte) {
	return []byte{prefixEphemeral}, []byte{prefixEphemeral + 1}
}

// ContainerKey appends the index key of the container znode path to dst.
func ContainerKey(dst []byte, path string) []byte {
	return append(append(dst, prefixContainer), path...)
}

// ContainerSpan returns the bounds of the container index.
func ContainerSpan() (lower, upper []byte) {
	return []byte{prefixContainer}, []byte{prefixContainer + 1}
}

// TTLKey appends the index key of the TTL znode path to dst.
func TTLKey(dst []byte, path string) []byte {
	return append(append(dst, prefixTTL), path...)
}

// TTLSpan returns the bounds of the TTL index.
func TTLSpan() (lower, upper []byte) { return []byte{prefixTTL}, []byte{prefixTTL + 1} }

// PrefixEnd returns the smallest key greater than every key with prefix p, or
// nil if there is none.
func PrefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

func lastSlash(p string) int {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return i
		}
	}
	return -1
}

// SessionKey appends the key of session id to dst.
func SessionKey(dst []byte, id int64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, prefixSession), uint64(id))
}

// SessionSpan returns the bounds of the session records.
func SessionSpan() (lower, upper []byte) {
	return []byte{prefixSession}, []byte{prefixSession + 1}
}

// SessionID returns the id of the session whose key is key, or false if key
// is not a session key.
func SessionID(key []byte) (int64, bool) {
	if len(key) != 9 || key[0] != prefixSession {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(key[1:])), true
}

// RestoreChunkKey appends the key of chunk seq of online restore id to dst.
func RestoreChunkKey(dst []byte, id, seq uint64) []byte {
	dst = RestorePrefix(dst, id)
	return binary.BigEndian.AppendUint64(dst, seq)
}

// RestorePrefix appends the prefix of the staged chunks of online restore id
// to dst.
func RestorePrefix(dst []byte, id uint64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, prefixRestore), id)
}

// RestoreSpan returns the bounds of every staged online restore chunk.
func RestoreSpan() (lower, upper []byte) {
	return []byte{prefixRestore}, []byte{prefixRestore + 1}
}

// RestoreChunkID returns the restore id and sequence number of a staged
// chunk's key, or false if key is not one.
func RestoreChunkID(key []byte) (id, seq uint64, ok bool) {
	if len(key) != 17 || key[0] != prefixRestore {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(key[1:9]), binary.BigEndian.Uint64(key[9:]), true
}
