package keeper

import (
	"context"
	"fmt"
	"io"
	"math"

	"github.com/keeper-go/keeper/internal/zkfile"
)

// SnapshotCompression is how ExportZooKeeper compresses the snapshot, as
// ZooKeeper's zookeeper.snapshot.compression.method does. ZooKeeper reads
// the file by its name's suffix (ExportInfo.FileName).
type SnapshotCompression uint8

const (
	// SnapshotPlain writes an uncompressed snapshot (ZooKeeper's default).
	SnapshotPlain SnapshotCompression = iota
	// SnapshotGzip writes a gzip snapshot, named *.gz.
	SnapshotGzip
	// SnapshotSnappy writes a snappy snapshot (snappy-java's stream
	// format), named *.snappy.
	SnapshotSnappy
)

// ExportOptions configures ExportZooKeeper.
type ExportOptions struct {
	// Key is the 32-byte host key an encrypted backup was written with.
	Key []byte
	// Compression is the snapshot's; plain by default.
	Compression SnapshotCompression
	// Ephemerals says what becomes of the backup's ephemeral znodes; by
	// default they are dropped. Sessions are never exported.
	Ephemerals EphemeralPolicy
	// TempDir is where the znodes are spooled while the ACLs are collected
	// (ZooKeeper's format puts them first): about the snapshot's size. ""
	// means the system's temporary directory.
	TempDir string
	// Progress, when not nil, is called every few thousand znodes read.
	Progress func(Progress)
}

// ExportInfo describes an export.
type ExportInfo struct {
	// Backup describes the backup read.
	Backup BackupInfo
	// Zxid is the snapshot's zxid: the backup's.
	Zxid Zxid
	// FileName is the name ZooKeeper must find the snapshot under in its
	// dataDir's version-2 directory: "snapshot.<zxid in hex>", with ".gz" or
	// ".snappy" when compressed.
	FileName string
	// Znodes counts the znodes written, ZooKeeper's /zookeeper/quota and
	// /zookeeper/config included.
	Znodes int64
	// Ephemerals counts the ephemeral znodes dropped or kept as persistent.
	Ephemerals int64
	// Digest is ZooKeeper's digest of the tree, written in the snapshot's
	// digest trailer for ZooKeeper 3.6+ to check.
	Digest int64
	// Bytes is the snapshot file's length.
	Bytes int64
}

// ExportZooKeeper reads a keeper backup stream from r and writes the tree
// to w as a ZooKeeper snapshot file ZooKeeper loads (checked against 3.8;
// servers before 3.6 ignore its digest trailer): the way back. Every znode
// keeps its path, data, ACL and Stat (the stored child-create count is
// ZooKeeper's own cversion); container and TTL znodes are written as
// ZooKeeper encodes them (TTL znodes need zookeeper.extendedTypesEnabled=true
// on the server, which otherwise takes them for ephemerals of a dead session
// and deletes them); ephemerals follow opts.Ephemerals. The snapshot's zxid
// is the backup's; its digest trailer holds ZooKeeper's digest of the tree.
//
// The whole stream is verified before anything is written to w: a damaged
// backup is refused with ErrCorruptBackup and w stays untouched. To serve
// the result, put it in an empty dataDir's version-2 directory under
// ExportInfo.FileName and start ZooKeeper there.
func ExportZooKeeper(ctx context.Context, r io.Reader, w io.Writer, opts ExportOptions) (ExportInfo, error) {
	var info ExportInfo
	if opts.Ephemerals > KeepEphemeralsAsPersistent || opts.Compression > SnapshotSnappy {
		return info, fmt.Errorf("keeper: export: %w: options %+v", ErrBadArguments, opts)
	}
	b, err := zkfile.NewSnapshotBuilder(opts.TempDir)
	if err != nil {
		return info, fmt.Errorf("keeper: export: %w", err)
	}
	defer b.Close()
	var nd zkfile.Node
	bi, err := readTree(ctx, r, opts.Key, opts.Progress, nil, func(rec *znodeRecord) error {
		z := &rec.node
		s := &z.stat
		owner := s.EphemeralOwner
		switch {
		case owner != 0:
			info.Ephemerals++
			if opts.Ephemerals == DropEphemerals {
				return nil
			}
			owner = 0
		case z.mode == Container:
			owner = SessionID(zkfile.OwnerOf(zkfile.Container, 0, 0))
		case z.mode.IsTTL():
			owner = SessionID(zkfile.OwnerOf(zkfile.TTL, 0, z.ttl))
		}
		nd = zkfile.Node{Path: rec.path, Data: z.data, Stat: zkfile.Stat{
			Czxid: int64(s.Czxid), Mzxid: int64(s.Mzxid), Ctime: s.Ctime, Mtime: s.Mtime, Version: s.Version,
			Cversion: s.Cversion, Aversion: s.Aversion, EphemeralOwner: int64(owner), Pzxid: int64(s.Pzxid),
		}}
		nd.ACL = make([]zkfile.ACL, len(z.acl))
		for i, a := range z.acl {
			nd.ACL[i] = zkfile.ACL{Perms: int32(a.Perms), Scheme: a.Scheme, ID: a.ID}
		}
		if err := b.Add(&nd); err != nil {
			return err
		}
		if rec.path == "/zookeeper" {
			// ZooKeeper's own children of it, as a new server has them.
			for _, c := range zkfile.SystemNodes() {
				if err := b.Add(&c); err != nil {
					return err
				}
			}
		}
		return nil
	}, nil)
	info.Backup = bi
	if err != nil {
		return info, fmt.Errorf("keeper: export: %w", err)
	}
	if bi.Zxid > math.MaxInt64 {
		return info, fmt.Errorf("keeper: export: %w: zxid %d", ErrZooKeeperUnsupported, bi.Zxid)
	}
	info.Zxid = bi.Zxid
	c := zkfile.Compression(opts.Compression)
	info.FileName = zkfile.SnapshotName(int64(info.Zxid), c)
	info.Znodes, info.Digest = b.Nodes(), b.Digest()
	info.Bytes, err = b.WriteTo(ctx, w, zkfile.SnapshotOptions{
		Compression: c,
		Digest:      &zkfile.Digest{Zxid: int64(info.Zxid), Version: zkfile.DigestVersion, Value: info.Digest},
	})
	if err != nil {
		return info, fmt.Errorf("keeper: export: %w", err)
	}
	return info, nil
}
