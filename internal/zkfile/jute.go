package zkfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
)

// MaxLength is the longest string or buffer the readers accept: ZooKeeper's
// default jute.maxbuffer is 1 MiB, and servers configured above 64 MiB are
// not served. A longer length is read as damage.
const MaxLength = 64 << 20

// readStep bounds the memory a damaged length costs: a buffer grows in steps
// of this size as its bytes really arrive.
const readStep = 1 << 20

// ACL is one entry of a znode's access list, as jute's ACL record.
type ACL struct {
	Perms  int32
	Scheme string
	ID     string
}

// OpenACL is ZooKeeper's OPEN_ACL_UNSAFE, which ACL reference −1 and a null
// ACL vector stand for.
var OpenACL = []ACL{{Perms: 31, Scheme: "world", ID: "anyone"}}

// IsOpenACL reports whether acl is exactly OpenACL.
func IsOpenACL(acl []ACL) bool { return len(acl) == 1 && acl[0] == OpenACL[0] }

// juteReader decodes jute's binary encoding from r. The first error sticks:
// every later read returns zero values. With sum set, every byte consumed is
// added to it (the Adler-32 of snapshots).
type juteReader struct {
	r   io.Reader
	sum hash.Hash32
	off int64 // bytes consumed
	err error
	tmp [8]byte
}

// fill reads len(p) bytes. A read that finds no byte at all sets io.EOF; one
// cut short, io.ErrUnexpectedEOF.
func (j *juteReader) fill(p []byte) bool {
	if j.err != nil {
		return false
	}
	n, err := io.ReadFull(j.r, p)
	j.off += int64(n)
	if j.sum != nil {
		j.sum.Write(p[:n])
	}
	if err != nil {
		j.err = err
		return false
	}
	return true
}

func (j *juteReader) int32() int32 {
	if !j.fill(j.tmp[:4]) {
		return 0
	}
	return int32(binary.BigEndian.Uint32(j.tmp[:4]))
}

func (j *juteReader) int64() int64 {
	if !j.fill(j.tmp[:8]) {
		return 0
	}
	return int64(binary.BigEndian.Uint64(j.tmp[:8]))
}

func (j *juteReader) bool() bool {
	if !j.fill(j.tmp[:1]) {
		return false
	}
	return j.tmp[0] != 0
}

// length reads a string, buffer or vector length; −1 is null.
func (j *juteReader) length(what string, limit int) (n int, null bool) {
	v := j.int32()
	if j.err != nil {
		return 0, false
	}
	switch {
	case v == -1:
		return 0, true
	case v < 0 || int(v) > limit:
		j.fail(corruptf("%s length %d out of range", what, v))
		return 0, false
	}
	return int(v), false
}

// fail records err unless an error is already set.
func (j *juteReader) fail(err error) {
	if j.err == nil {
		j.err = err
	}
}

// buffer reads a buffer into dst[:0]; null reads as empty.
func (j *juteReader) buffer(dst []byte, what string) []byte {
	n, _ := j.length(what, MaxLength)
	return j.bytes(dst[:0], n)
}

// bytes appends n bytes to dst, growing it only as the bytes arrive, so a
// damaged length costs memory only for what is really there.
func (j *juteReader) bytes(dst []byte, n int) []byte {
	start := len(dst)
	for len(dst)-start < n && j.err == nil {
		step := min(n-(len(dst)-start), readStep)
		if cap(dst)-len(dst) < step {
			grown := make([]byte, len(dst), len(dst)+step)
			copy(grown, dst)
			dst = grown
		}
		j.fill(dst[len(dst) : len(dst)+step])
		dst = dst[:len(dst)+step]
	}
	if j.err != nil {
		return dst[:start]
	}
	return dst
}

// str reads a string; null reports true.
func (j *juteReader) str(what string) (string, bool) {
	n, null := j.length(what, MaxLength)
	if null || j.err != nil {
		return "", null
	}
	if n <= len(j.tmp) {
		j.fill(j.tmp[:n])
		return string(j.tmp[:n]), false
	}
	return string(j.bytes(nil, n)), false
}

// acls reads an ACL vector; null reads as OpenACL, as ZooKeeper's
// ReferenceCountedACLCache converts it.
func (j *juteReader) acls() []ACL {
	n, null := j.length("ACL vector", 1<<31-1)
	if null {
		return OpenACL
	}
	acl := j.aclEntries(n)
	if j.err != nil {
		return nil
	}
	return acl
}

// errAt wraps the reader's error as a FileError at the current offset:
// running out of bytes is damage, ErrCorrupt.
func (j *juteReader) errAt(file string, base int64, what string) error {
	err := j.err
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = corruptf("%s: cut short", what)
	} else if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrNotZooKeeper) {
		err = fmt.Errorf("%s: %w", what, err)
	}
	return &FileError{File: file, Offset: base + j.off, Err: err}
}
