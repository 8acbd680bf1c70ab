package zkfile

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"hash/adler32"
	"io"
	"os"
)

// SnapshotBuilder writes a snapshot file from znodes handed to it one at a
// time, parents before children. ZooKeeper's format puts the ACL cache
// before the znodes, so the builder spools the encoded znodes to a
// temporary file while it collects the distinct ACLs, and WriteTo writes
// the file: memory holds the distinct ACLs, not the znodes.
type SnapshotBuilder struct {
	spool  *os.File
	bw     *bufio.Writer
	j      juteWriter
	refs   map[string]int64 // ACL list key → reference
	acls   [][]ACL          // by reference
	digest int64
	nodes  int64
	key    []byte
}

// NewSnapshotBuilder creates a builder whose spool lives in tmp ("" for the
// system's temporary directory). Close removes it.
func NewSnapshotBuilder(tmp string) (*SnapshotBuilder, error) {
	f, err := os.CreateTemp(tmp, "keeper-zkexport-")
	if err != nil {
		return nil, fmt.Errorf("zkfile: %w", err)
	}
	b := &SnapshotBuilder{spool: f, bw: bufio.NewWriterSize(f, 256<<10), refs: make(map[string]int64)}
	b.j.w = b.bw
	return b, nil
}

// Close removes the spool.
func (b *SnapshotBuilder) Close() error {
	if b.spool == nil {
		return nil
	}
	err := b.spool.Close()
	if rerr := os.Remove(b.spool.Name()); err == nil {
		err = rerr
	}
	b.spool = nil
	return err
}

// Nodes returns the number of znodes added.
func (b *SnapshotBuilder) Nodes() int64 { return b.nodes }

// Digest returns ZooKeeper's digest of the znodes added.
func (b *SnapshotBuilder) Digest() int64 { return b.digest }

// Add appends a znode. The first must be the root, "/"; every other comes
// after its parent. An OpenACL list is stored as reference −1, as ZooKeeper
// does; other lists get a reference each, shared by equal lists.
func (b *SnapshotBuilder) Add(n *Node) error {
	if (b.nodes == 0) != (n.Path == "/") {
		return fmt.Errorf("zkfile: snapshot node %q: the root comes first, once", n.Path)
	}
	path := n.Path
	if path == "/" {
		path = ""
	}
	ref := int64(-1)
	if !IsOpenACL(n.ACL) {
		b.key = aclKey(b.key[:0], n.ACL)
		r, ok := b.refs[string(b.key)]
		if !ok {
			r = int64(len(b.acls)) + 1
			b.refs[string(b.key)] = r
			b.acls = append(b.acls, append([]ACL(nil), n.ACL...))
		}
		ref = r
	}
	b.j.str(path)
	b.j.buffer(n.Data)
	b.j.int64(ref)
	writeStat(&b.j, &n.Stat)
	b.digest += NodeDigest(n.Path, n.Data, &n.Stat)
	b.nodes++
	if b.j.err != nil {
		return fmt.Errorf("zkfile: spool: %w", b.j.err)
	}
	return nil
}

// aclKey appends a key that equal ACL lists share.
func aclKey(dst []byte, acl []ACL) []byte {
	for _, a := range acl {
		dst = fmt.Appendf(dst, "%d\x00%s\x00%s\x00", a.Perms, a.Scheme, a.ID)
	}
	return dst
}

func writeStat(j *juteWriter, s *Stat) {
	j.int64(s.Czxid)
	j.int64(s.Mzxid)
	j.int64(s.Ctime)
	j.int64(s.Mtime)
	j.int32(s.Version)
	j.int32(s.Cversion)
	j.int32(s.Aversion)
	j.int64(s.EphemeralOwner)
	j.int64(s.Pzxid)
}

// SnapshotOptions describes the snapshot file WriteTo writes.
type SnapshotOptions struct {
	// Compression must match the suffix of the file's name.
	Compression Compression
	// DBID is the header's dbid; ZooKeeper writes 0.
	DBID int64
	// Digest, when not nil, is written as the 3.6+ digest trailer.
	Digest *Digest
	// Sessions are written as the snapshot's sessions, id to timeout.
	Sessions map[int64]int32
}

// WriteTo writes the snapshot file to w: header, sessions, ACL cache, the
// znodes added, the "/" terminator, the seal and, with o.Digest, the digest
// and a second seal. It returns the bytes written to w.
func (b *SnapshotBuilder) WriteTo(ctx context.Context, w io.Writer, o SnapshotOptions) (int64, error) {
	if b.nodes == 0 {
		return 0, fmt.Errorf("zkfile: snapshot without a root")
	}
	if err := b.bw.Flush(); err != nil {
		return 0, fmt.Errorf("zkfile: spool: %w", err)
	}
	if _, err := b.spool.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("zkfile: spool: %w", err)
	}
	cw := &countWriter{w: w}
	var out io.Writer = cw
	var closer io.Closer
	switch o.Compression {
	case Gzip:
		gz := gzip.NewWriter(cw)
		out, closer = gz, gz
	case Snappy:
		sn := newSnappyWriter(cw)
		out, closer = sn, sn
	}
	bw := bufio.NewWriterSize(out, 256<<10)
	j := &juteWriter{w: bw, sum: adler32.New()}
	j.int32(snapMagic)
	j.int32(fileVersion)
	j.int64(o.DBID)
	j.int32(int32(len(o.Sessions)))
	for id, to := range o.Sessions {
		j.int64(id)
		j.int32(to)
	}
	j.int32(int32(len(b.acls)))
	for i, acl := range b.acls {
		j.int64(int64(i) + 1)
		j.acls(acl)
	}
	// The spooled znodes, through the checksum.
	buf := make([]byte, 256<<10)
	for j.err == nil {
		n, err := b.spool.Read(buf)
		j.write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return cw.n, fmt.Errorf("zkfile: spool: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return cw.n, err
		}
	}
	j.str("/")
	seal(j)
	if o.Digest != nil {
		j.int64(o.Digest.Zxid)
		j.int32(o.Digest.Version)
		j.int64(o.Digest.Value)
		seal(j)
	}
	err := j.err
	if err == nil {
		err = bw.Flush()
	}
	if err == nil && closer != nil {
		err = closer.Close()
	}
	if err != nil {
		return cw.n, fmt.Errorf("zkfile: write snapshot: %w", err)
	}
	return cw.n, nil
}

// seal writes the Adler-32 of everything so far and "/".
func seal(j *juteWriter) {
	j.int64(int64(j.sum.Sum32()))
	j.str("/")
}

// SystemNodes returns the znodes a new ZooKeeper server has under
// /zookeeper: config, readable by everyone only, and quota.
func SystemNodes() []Node {
	return []Node{
		{Path: "/zookeeper/config", ACL: []ACL{{Perms: 1, Scheme: "world", ID: "anyone"}}},
		{Path: "/zookeeper/quota", ACL: OpenACL},
	}
}

// SnapshotName returns the file name ZooKeeper gives a snapshot at zxid.
func SnapshotName(zxid int64, c Compression) string {
	return fmt.Sprintf("snapshot.%x%s", zxid, c.Suffix())
}

// LogName returns the file name ZooKeeper gives a log starting at zxid.
func LogName(zxid int64) string { return fmt.Sprintf("log.%x", zxid) }

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
