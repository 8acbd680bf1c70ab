package keeper

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/keeper-go/keeper/internal/stream"
	"github.com/keeper-go/keeper/internal/zkfile"
)

// ImportOptions configures ImportZooKeeper.
type ImportOptions struct {
	// Ephemerals says what becomes of ZooKeeper's ephemeral znodes; by
	// default they are dropped. ZooKeeper's sessions are never imported.
	// The choice is recorded in the backup (ZooKeeperOrigin).
	Ephemerals EphemeralPolicy
	// IgnoreDigest imports a tree whose replay disagrees with a digest
	// ZooKeeper 3.6+ recorded, noting it in ImportInfo.Notes, instead of
	// refusing it with ErrZooKeeperDigest.
	IgnoreDigest bool
	// TempDir is where the tree is staged while it is put in keeper's order:
	// a directory that is removed at the end, needing room for about the
	// data's size. "" means the system's temporary directory.
	TempDir string
	// Key, when not nil, is the 32-byte AES-256 host key the backup is
	// encrypted with, as BackupOptions.Key.
	Key []byte
	// NoCompression turns off the backup's zstd compression.
	NoCompression bool
	// Progress, when not nil, is called every few thousand znodes written to
	// the backup, once ZooKeeper's files have been read.
	Progress func(Progress)
}

// ImportInfo describes an import.
type ImportInfo struct {
	// Backup describes the stream written. Its Zxid is ZooKeeperZxid (or
	// the largest zxid a znode carries, if that is larger).
	Backup BackupInfo
	// ZooKeeperZxid is the last zxid ZooKeeper applied: the last logged
	// transaction's, or the snapshot's. Its high 32 bits are ZooKeeper's
	// epoch, the low ones the counter within it.
	ZooKeeperZxid Zxid
	// Snapshot and SnapshotZxid are the snapshot file the tree was loaded
	// from and the zxid in its name.
	Snapshot     string
	SnapshotZxid Zxid
	// Logs are the transaction log files read, Txns the transactions
	// replayed from them after the snapshot.
	Logs []string
	Txns int64
	// Torn lists the records dropped from the ends of logs because they
	// were never completely written ("file at offset N: reason").
	Torn []string
	// Sessions counts ZooKeeper's sessions open at ZooKeeperZxid, which are
	// not imported.
	Sessions int64
	// Ephemerals counts the ephemeral znodes dropped or kept as persistent.
	Ephemerals int64
	// ZooKeeperZnodes counts the znodes under /zookeeper/ (ZooKeeper's
	// quota and config nodes) left out: keeper's /zookeeper has none.
	ZooKeeperZnodes int64
	// ACLs counts the distinct ACL lists in the snapshot's ACL cache.
	ACLs int64
	// DigestZxid is the zxid at which the replayed tree was found equal to
	// the digest ZooKeeper recorded in the snapshot, 0 when there was none to
	// check; TxnDigests counts the transactions whose recorded digest was
	// checked after it.
	DigestZxid Zxid
	TxnDigests int64
	// Refused lists the snapshots that could not be read, with why; an
	// older one was used, as ZooKeeper itself would.
	Refused []string
	// Notes lists what else to know: checks that could not be made, ACL
	// schemes keeper does not authenticate, a digest that disagreed with
	// IgnoreDigest.
	Notes []string
}

// ImportZooKeeper reads a stopped ZooKeeper server's data dir (3.4 to 3.9)
// and writes its tree to w as a keeper backup stream, which VerifyBackup,
// Restore and RestoreOnline take as any other backup.
//
// The tree is the one ZooKeeper would load: the newest snapshot that reads
// whole (plain, gzip or snappy), then every logged transaction after it
// replayed as ZooKeeper's DataTree replays them, to the last complete
// record. A record cut short at the end of a log is dropped (ImportInfo.Torn);
// a checksum that fails with data after it is refused with
// ErrZooKeeperCorrupt naming the file and offset (*ZooKeeperFileError), as
// are logs that leave out transactions. ZooKeeper 3.6+'s digests are
// checked against the replay.
//
// Every znode keeps its path, data, ACL and every Stat field, the
// internal child-create count behind Cversion included, so reads return what
// ZooKeeper served and the next sequential create continues its numbering.
// Container and TTL znodes keep their modes; ephemerals follow
// opts.Ephemerals; /zookeeper is keeper's own (ZooKeeper's quota and config
// znodes under it are left out). The stream's zxid is ZooKeeper's last
// zxid as an integer (epoch << 32 | counter), and every Stat zxid is kept:
// a cluster restored from it continues above ZooKeeper's zxids.
//
// Memory does not grow with the tree: it is staged in a temporary store in
// opts.TempDir (about 200 MiB outside the Go heap for its memtables and
// cache) and streamed from there in keeper's order; the log is replayed a
// bounded chunk at a time. Nothing is written to w before ZooKeeper's files
// have been read whole; a failure after that leaves a stream without its
// footer, which VerifyBackup and Restore refuse.
func ImportZooKeeper(ctx context.Context, dirs ZooKeeperDirs, w io.Writer, opts ImportOptions) (ImportInfo, error) {
	var info ImportInfo
	if opts.Ephemerals > KeepEphemeralsAsPersistent {
		return info, fmt.Errorf("keeper: import: %w: ephemeral policy %d", ErrBadArguments, opts.Ephemerals)
	}
	tree, li, err := zkfile.Load(ctx, zkfile.Dirs{Data: dirs.Data, Log: dirs.Log}, zkfile.LoadOptions{TempDir: opts.TempDir, IgnoreDigest: opts.IgnoreDigest})
	info.fromLoad(li)
	if err != nil {
		return info, zkError("import", err)
	}
	defer tree.Close()
	if info.Sessions, err = tree.Sessions(); err != nil {
		return info, zkError("import", err)
	}

	im := importer{opts: opts, info: &info}
	counts, err := tree.Count(ctx, im.keep)
	if err != nil {
		return info, zkError("import", err)
	}
	if !im.sawZooKeeper {
		return info, zkError("import", fmt.Errorf("%w: the tree has no /zookeeper znode", zkfile.ErrCorrupt))
	}
	info.Ephemerals, info.ZooKeeperZnodes = im.ephemerals, im.under

	zxid := max(info.ZooKeeperZxid, Zxid(counts.MaxZxid))
	var id [8]byte
	_, _ = rand.Read(id[:])
	tm := time.Now()
	info.Backup = BackupInfo{Zxid: zxid, ClusterID: binary.LittleEndian.Uint64(id[:]), Time: time.UnixMilli(tm.UnixMilli())}
	sw, err := stream.NewWriter(w, stream.Header{
		ClusterID: info.Backup.ClusterID,
		Zxid:      uint64(zxid),
		Time:      tm.UnixMilli(),
		Kind:      stream.KindBackup,
		Extra:     []byte{treeEncoding},
	}, stream.WriterOptions{Key: opts.Key, NoCompression: opts.NoCompression})
	if err != nil {
		return info, fmt.Errorf("keeper: import: %w", err)
	}
	closed := false
	defer func() {
		if !closed {
			sw.Abort() // no footer: what was written is refused
		}
	}()
	origin := ZooKeeperOrigin{
		Zxid: info.ZooKeeperZxid, Snapshot: baseName(info.Snapshot), SnapshotZxid: info.SnapshotZxid, Txns: info.Txns,
		Ephemerals: opts.Ephemerals, EphemeralZnodes: info.Ephemerals, Sessions: info.Sessions,
	}
	if err := sw.WriteRecord(recordZooKeeperOrigin, origin.encode()); err != nil {
		return info, fmt.Errorf("keeper: import: %w", err)
	}
	im.sw, im.h, im.total = sw, xxhash.New(), counts.Znodes
	if err := tree.Walk(ctx, im.keep, im.write); err != nil {
		return info, zkError("import", err)
	}
	if err := ctx.Err(); err != nil {
		return info, fmt.Errorf("keeper: import: %w", err)
	}
	closed = true
	if err := sw.Close(stream.Footer{Digest: im.sum}); err != nil {
		return info, fmt.Errorf("keeper: import: %w", err)
	}
	info.Backup.Znodes, info.Backup.Digest, info.Backup.Bytes = im.znodes, im.sum, sw.Bytes()
	for _, scheme := range slices.Sorted(maps.Keys(im.schemes)) {
		info.Notes = append(info.Notes, fmt.Sprintf("ACLs of scheme %q were kept; keeper authenticates world, auth and digest only, so only the super user passes them", scheme))
	}
	if opts.Progress != nil {
		opts.Progress(Progress{Znodes: im.znodes, Bytes: info.Backup.Bytes, TotalZnodes: counts.Znodes})
	}
	return info, nil
}

// fromLoad copies what Load found into info.
func (info *ImportInfo) fromLoad(li zkfile.LoadInfo) {
	info.ZooKeeperZxid = Zxid(li.Zxid)
	info.Snapshot, info.SnapshotZxid, info.ACLs = li.Snapshot.File, Zxid(li.Snapshot.Zxid), li.Snapshot.ACLs
	for _, l := range li.Logs {
		info.Logs = append(info.Logs, l.File)
		if l.Torn != nil {
			info.Torn = append(info.Torn, fmt.Sprintf("%s at offset %d: %s", l.File, l.Torn.Offset, l.Torn.Reason))
		}
	}
	info.Txns, info.DigestZxid, info.TxnDigests = li.Txns, Zxid(li.DigestZxid), li.TxnDigests
	info.Refused, info.Notes = li.Refused, li.Notes
}

// importer turns the staged ZooKeeper tree into keeper's znode records.
type importer struct {
	opts ImportOptions
	info *ImportInfo

	// Counted by keep during Count.
	sawZooKeeper bool
	ephemerals   int64
	under        int64

	sw      *stream.Writer
	h       *xxhash.Digest
	sum     uint64
	znodes  int64
	total   int64
	rec     []byte
	val     []byte
	since   int
	schemes map[string]bool
}

// keep leaves out the znodes under /zookeeper/ and, unless kept as
// persistent, the ephemerals.
func (im *importer) keep(path string, s *zkfile.Stat) bool {
	counting := im.sw == nil
	if strings.HasPrefix(path, "/zookeeper/") {
		if counting {
			im.under++
		}
		return false
	}
	if counting && path == "/zookeeper" {
		im.sawZooKeeper = true
	}
	if k, _ := zkfile.KindOf(s.EphemeralOwner); k == zkfile.Ephemeral {
		if counting {
			im.ephemerals++
		}
		return im.opts.Ephemerals == KeepEphemeralsAsPersistent
	}
	return true
}

// write converts one ZooKeeper znode and writes its record.
func (im *importer) write(n *zkfile.Node, children int32) error {
	if err := validatePath(n.Path, false); err != nil {
		return fmt.Errorf("%w: znode %q: keeper refuses its path: %v", zkfile.ErrUnsupported, n.Path, err)
	}
	z := znode{data: n.Data}
	s := &n.Stat
	z.stat = Stat{
		Czxid: Zxid(s.Czxid), Mzxid: Zxid(s.Mzxid), Pzxid: Zxid(s.Pzxid), Ctime: s.Ctime, Mtime: s.Mtime,
		Version: s.Version, Cversion: s.Cversion, Aversion: s.Aversion, NumChildren: children,
	}
	switch k, ttl := zkfile.KindOf(s.EphemeralOwner); k {
	case zkfile.Container:
		z.mode = Container
	case zkfile.TTL:
		z.mode, z.ttl = PersistentWithTTL, ttl
		if ttl <= 0 {
			return fmt.Errorf("%w: znode %q: TTL %d", zkfile.ErrUnsupported, n.Path, ttl)
		}
	}
	if n.Path == "/zookeeper" {
		z = znode{} // keeper's own: zero Stat, no children, OpenACL
	}
	if len(n.ACL) == 0 {
		return fmt.Errorf("%w: znode %q has an empty ACL, which keeper cannot store", zkfile.ErrUnsupported, n.Path)
	}
	z.acl = make([]ACL, len(n.ACL))
	for i, a := range n.ACL {
		z.acl[i] = ACL{Perms: Perm(a.Perms), Scheme: a.Scheme, ID: a.ID}
		if a.Scheme != schemeWorld && a.Scheme != "digest" && a.Scheme != "auth" {
			if im.schemes == nil {
				im.schemes = make(map[string]bool)
			}
			im.schemes[a.Scheme] = true
		}
	}
	if n.Path == "/zookeeper" {
		z.acl = OpenACL()
	}
	im.val = encodeZnode(im.val[:0], &z)
	im.rec = binary.AppendUvarint(im.rec[:0], uint64(len(n.Path)))
	im.rec = append(im.rec, n.Path...)
	im.rec = append(im.rec, im.val...)
	if len(im.rec) > stream.MaxRecordSize {
		return fmt.Errorf("%w: znode %q: %d bytes of data", zkfile.ErrUnsupported, n.Path, len(n.Data))
	}
	im.sum += nodeHash(im.h, n.Path, im.val)
	if err := im.sw.WriteRecord(recordZnode, im.rec); err != nil {
		return err
	}
	im.znodes++
	im.since += len(im.rec)
	if im.znodes%progressEvery == 0 || im.since >= progressBytes {
		im.since = 0
		if im.opts.Progress != nil {
			im.opts.Progress(Progress{Znodes: im.znodes, Bytes: im.sw.Bytes(), TotalZnodes: im.total})
		}
	}
	return nil
}

// baseName returns the last element of a slash-separated path.
func baseName(p string) string {
	return p[strings.LastIndexByte(p, '/')+1:]
}
