package zkfile

import (
	"encoding/binary"
	"hash"
	"io"
)

// juteWriter encodes jute's binary encoding to w. The first error sticks.
// With sum set, every byte written is added to it.
type juteWriter struct {
	w   io.Writer
	sum hash.Hash32
	n   int64 // bytes written
	err error
	tmp [8]byte
}

func (j *juteWriter) write(p []byte) {
	if j.err != nil {
		return
	}
	if j.sum != nil {
		j.sum.Write(p)
	}
	n, err := j.w.Write(p)
	j.n += int64(n)
	j.err = err
}

func (j *juteWriter) int32(v int32) {
	binary.BigEndian.PutUint32(j.tmp[:4], uint32(v))
	j.write(j.tmp[:4])
}

func (j *juteWriter) int64(v int64) {
	binary.BigEndian.PutUint64(j.tmp[:8], uint64(v))
	j.write(j.tmp[:8])
}

func (j *juteWriter) bool(v bool) {
	j.tmp[0] = 0
	if v {
		j.tmp[0] = 1
	}
	j.write(j.tmp[:1])
}

func (j *juteWriter) buffer(b []byte) {
	j.int32(int32(len(b)))
	j.write(b)
}

func (j *juteWriter) str(s string) {
	j.int32(int32(len(s)))
	if j.err == nil && len(s) > 0 {
		if j.sum != nil {
			j.sum.Write([]byte(s))
		}
		n, err := io.WriteString(j.w, s)
		j.n += int64(n)
		j.err = err
	}
}

func (j *juteWriter) acls(acl []ACL) {
	j.int32(int32(len(acl)))
	for _, a := range acl {
		j.int32(a.Perms)
		j.str(a.Scheme)
		j.str(a.ID)
	}
}
