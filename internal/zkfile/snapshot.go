package zkfile

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/adler32"
	"io"
	"strconv"
	"strings"
)

// File magics: "ZKSN" and "ZKLG" as big-endian int32s.
const (
	snapMagic = 0x5a4b534e
	logMagic  = 0x5a4b4c47
	// fileVersion is the only FileHeader version ZooKeeper has written.
	fileVersion = 2
)

// Stat is ZooKeeper's StatPersisted: a znode's metadata as the server keeps
// it. Cversion is the server's internal count of child creates (clients are
// shown 2 × Cversion − NumChildren); NumChildren is not stored.
type Stat struct {
	Czxid          int64
	Mzxid          int64
	Ctime          int64
	Mtime          int64
	Version        int32
	Cversion       int32
	Aversion       int32
	EphemeralOwner int64
	Pzxid          int64
}

// Node is one znode as a snapshot holds it.
type Node struct {
	// Path is the znode's path; "/" for the root (stored as "").
	Path string
	Data []byte
	// ACL is the znode's ACL, resolved from the snapshot's ACL cache.
	ACL  []ACL
	Stat Stat
}

// Digest is ZooKeeper's ZxidDigest: the tree digest after zxid Zxid.
type Digest struct {
	Zxid    int64
	Version int32
	Value   int64
}

// SnapshotInfo describes a snapshot file that was read.
type SnapshotInfo struct {
	// File is the file's path as given.
	File string
	// Zxid is the zxid in the file's name: the last zxid applied when the
	// server began writing it (later ones may be in it too: it is fuzzy).
	Zxid int64
	// DBID is the header's dbid.
	DBID int64
	// Sessions, ACLs and Nodes count what the file holds.
	Sessions, ACLs, Nodes int64
	// Digest is the 3.6+ digest trailer, or nil when the file has none (or
	// an empty one, zxid 0).
	Digest *Digest
}

// SnapshotVisitor receives a snapshot's contents in file order. A nil func
// skips that part. Slices handed to Node are valid only during the call.
type SnapshotVisitor struct {
	Session func(id int64, timeout int32) error
	Node    func(n *Node) error
}

// Compression is how a snapshot file is compressed; ZooKeeper tells it by the
// file name's suffix.
type Compression uint8

const (
	// Plain is an uncompressed snapshot (no suffix).
	Plain Compression = iota
	// Gzip is a snapshot named *.gz.
	Gzip
	// Snappy is a snapshot named *.snappy, in snappy-java's stream format.
	Snappy
)

// Suffix returns the file name suffix ZooKeeper gives the compression.
func (c Compression) Suffix() string {
	switch c {
	case Gzip:
		return ".gz"
	case Snappy:
		return ".snappy"
	}
	return ""
}

// CompressionOf returns the compression ZooKeeper reads a file named name
// with: the last dot-separated part "gz" or "snappy" (any case), else plain.
func CompressionOf(name string) Compression {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return Plain
	}
	switch strings.ToLower(name[i+1:]) {
	case "gz":
		return Gzip
	case "snappy":
		return Snappy
	}
	return Plain
}

// ZxidOfName returns the zxid in a file name "<prefix>.<hex zxid>[.suffix]",
// or false if name is not one.
func ZxidOfName(name, prefix string) (int64, bool) {
	parts := strings.Split(name, ".")
	if len(parts) < 2 || parts[0] != prefix {
		return 0, false
	}
	z, err := strconv.ParseInt(parts[1], 16, 64)
	if err != nil {
		return 0, false
	}
	return z, true
}

// snapshotReadBuffer is the read buffer of the snapshot reader.
const snapshotReadBuffer = 256 << 10

// ReadSnapshot reads the snapshot file named file from r, decompressing it
// as its name says, and hands its sessions and znodes to v in file order.
// It returns nil only after the checksum seal (and, when present, the digest
// and its seal) checked out and the stream ended there. Memory is one znode
// and the ACL cache.
//
// A file that is not a snapshot is refused with ErrNotZooKeeper, a damaged
// or truncated one with ErrCorrupt, both as a *FileError.
func ReadSnapshot(ctx context.Context, file string, r io.Reader, v SnapshotVisitor) (SnapshotInfo, error) {
	info := SnapshotInfo{File: file}
	info.Zxid, _ = ZxidOfName(baseName(file), "snapshot")
	switch CompressionOf(file) {
	case Gzip:
		gz, err := gzip.NewReader(r)
		if err != nil {
			return info, &FileError{File: file, Err: fmt.Errorf("%w: gzip: %v", ErrCorrupt, err)}
		}
		defer gz.Close()
		r = decompressed{gz, "gzip"}
	case Snappy:
		r = decompressed{newSnappyReader(r), "snappy"}
	}
	j := &juteReader{r: bufio.NewReaderSize(r, snapshotReadBuffer), sum: adler32.New()}
	fail := func(what string) (SnapshotInfo, error) { return info, j.errAt(file, 0, what) }

	magic := j.int32()
	version := j.int32()
	info.DBID = j.int64()
	switch {
	case j.err != nil:
		if j.off == 0 {
			return info, &FileError{File: file, Err: fmt.Errorf("%w: empty file", ErrNotZooKeeper)}
		}
		return fail("header")
	case magic != snapMagic:
		return info, &FileError{File: file, Err: fmt.Errorf("%w: magic %#x is not a snapshot's", ErrNotZooKeeper, uint32(magic))}
	case version != fileVersion:
		return info, &FileError{File: file, Offset: 4, Err: unsupportedf("snapshot version %d", version)}
	}

	n, _ := j.length("session count", 1<<31-1)
	for i := 0; i < n && j.err == nil; i++ {
		id, to := j.int64(), j.int32()
		if j.err == nil && v.Session != nil {
			if err := v.Session(id, to); err != nil {
				return info, err
			}
		}
		info.Sessions++
	}
	if j.err != nil {
		return fail("sessions")
	}

	cache := make(map[int64][]ACL)
	n, _ = j.length("ACL cache size", 1<<31-1)
	for i := 0; i < n && j.err == nil; i++ {
		ref := j.int64()
		if l, null := j.length("ACL vector", 1<<31-1); null {
			j.fail(corruptf("ACL %d: null ACL vector", ref))
		} else if j.err == nil {
			cache[ref] = j.aclEntries(l)
		}
		info.ACLs++
	}
	if j.err != nil {
		return fail("ACL cache")
	}

	var nd Node
	for {
		start := j.off
		path, null := j.str("path")
		if j.err != nil {
			return fail("znode path")
		}
		if null {
			return info, &FileError{File: file, Offset: start, Err: corruptf("null znode path")}
		}
		if path == "/" {
			break
		}
		if info.Nodes == 0 && path != "" {
			return info, &FileError{File: file, Offset: start, Err: corruptf("first znode %q is not the root", path)}
		}
		if info.Nodes > 0 {
			if err := checkPath(path); err != nil {
				return info, &FileError{File: file, Offset: start, Err: err}
			}
			nd.Path = path
		} else {
			nd.Path = "/"
		}
		nd.Data = j.buffer(nd.Data, "data")
		var fixed [8 + statSize]byte // the ACL reference and the Stat
		j.fill(fixed[:])
		ref := int64(binary.BigEndian.Uint64(fixed[:8]))
		_ = decodeStat(fixed[8:], &nd.Stat)
		if j.err != nil {
			return fail("znode " + nd.Path)
		}
		if ref == -1 {
			nd.ACL = OpenACL
		} else if nd.ACL = cache[ref]; nd.ACL == nil {
			return info, &FileError{File: file, Offset: start, Err: corruptf("znode %s: ACL %d is not in the snapshot's ACL cache", nd.Path, ref)}
		}
		info.Nodes++
		if v.Node != nil {
			if err := v.Node(&nd); err != nil {
				return info, err
			}
		}
		if info.Nodes%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return info, err
			}
		}
	}
	if info.Nodes == 0 {
		return info, &FileError{File: file, Offset: j.off, Err: corruptf("no root znode")}
	}
	if err := checkSeal(j, file); err != nil {
		return info, err
	}
	// 3.6+: the digest and a second seal; older files end here.
	at := j.off
	zxid := j.int64()
	if errors.Is(j.err, io.EOF) && j.off == at {
		return info, nil
	}
	d := Digest{Zxid: zxid, Version: j.int32()}
	if d.Version < 2 {
		s, null := j.str("digest")
		if j.err == nil {
			x, err := strconv.ParseUint(s, 16, 64)
			if null || err != nil {
				return info, &FileError{File: file, Offset: at, Err: corruptf("digest %q is not hex", s)}
			}
			d.Value = int64(x)
		}
	} else {
		d.Value = j.int64()
	}
	if j.err != nil {
		return fail("digest")
	}
	if err := checkSeal(j, file); err != nil {
		return info, err
	}
	if d.Zxid > 0 {
		info.Digest = &d
	}
	at = j.off
	if j.fill(j.tmp[:1]) {
		return info, &FileError{File: file, Offset: at, Err: corruptf("bytes after the end of the snapshot")}
	}
	if !errors.Is(j.err, io.EOF) {
		return fail("end")
	}
	return info, nil
}

// aclEntries reads n ACL entries (the count already read).
func (j *juteReader) aclEntries(n int) []ACL {
	acl := make([]ACL, 0, min(n, 16))
	for i := 0; i < n && j.err == nil; i++ {
		var a ACL
		a.Perms = j.int32()
		s, sNull := j.str("ACL scheme")
		id, idNull := j.str("ACL id")
		if sNull || idNull {
			j.fail(corruptf("ACL entry with a null scheme or id"))
		}
		a.Scheme, a.ID = s, id
		acl = append(acl, a)
	}
	return acl
}

// checkSeal reads a seal (the Adler-32 so far, then "/") and checks it.
func checkSeal(j *juteReader, file string) error {
	at := j.off
	want := int64(j.sum.Sum32())
	got := j.int64()
	slash, _ := j.str("seal")
	if j.err != nil {
		return j.errAt(file, 0, "seal")
	}
	if got != want || slash != "/" {
		return &FileError{File: file, Offset: at, Err: corruptf("checksum %#x, the bytes before it sum to %#x", got, want)}
	}
	return nil
}

// checkPath checks the shape of a non-root znode path: it starts with "/",
// has no empty name, no trailing "/" and no null character.
func checkPath(p string) error {
	if len(p) < 2 || p[0] != '/' || p[len(p)-1] == '/' || strings.Contains(p, "//") || strings.IndexByte(p, 0) >= 0 {
		return corruptf("znode path %q", p)
	}
	return nil
}

// baseName returns the last element of a slash-separated file path.
func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// decompressed reports a decompressor's errors, but the end, as damage.
type decompressed struct {
	r    io.Reader
	what string
}

func (d decompressed) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
		err = corruptf("%s: %v", d.what, err)
	}
	return n, err
}
