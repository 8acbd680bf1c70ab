package keeper

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/keeper-go/keeper/internal/keys"
	"github.com/keeper-go/keeper/internal/stream"
)

// VerifyOptions configures VerifyBackup and InspectBackup.
type VerifyOptions struct {
	// Key is the 32-byte host key an encrypted stream was written with; nil for
	// a plaintext stream.
	Key []byte
	// Progress, when not nil, is called every few thousand znodes.
	Progress func(Progress)
}

// VerifyBackup reads the whole backup stream in r and checks it as a restore
// would, without writing anything: every chunk checksum (and, when encrypted,
// authentication tag), the footer's counts, the order and structure of the
// znodes (the root first, keys strictly increasing, no zxid above the
// stream's, every znode's parent present with a child count matching its
// children), and the tree digest,
// recomputed from the znodes and compared with the footer's. A damaged stream
// is refused with an error matching ErrCorruptBackup; a wrong or missing key
// with ErrBackupKey. ctx is checked every few thousand znodes.
func VerifyBackup(ctx context.Context, r io.Reader, opts VerifyOptions) (BackupInfo, error) {
	return readTree(ctx, r, opts.Key, opts.Progress, nil, nil, nil)
}

// Inventory describes the contents of a backup stream.
type Inventory struct {
	// Info is the stream's header and footer information.
	Info BackupInfo
	// DataBytes is the sum of every znode's data length.
	DataBytes int64
	// MaxData is the largest data length of any znode.
	MaxData int64
	// Ephemerals, Containers and TTLs count the znodes of those modes.
	Ephemerals, Containers, TTLs int64
	// TopLevel holds one entry per child of "/" (its whole subtree), in path
	// order. Past maxInventorySubtrees distinct children, the rest are summed
	// in Other, so memory stays bounded whatever the tree's width.
	TopLevel []SubtreeSize
	// Other sums the top-level subtrees not listed in TopLevel.
	Other SubtreeSize
	// Largest holds up to ten entries of TopLevel, largest in bytes first.
	Largest []SubtreeSize
	// ZooKeeper, for a backup written by ImportZooKeeper, says where its
	// tree came from; nil otherwise.
	ZooKeeper *ZooKeeperOrigin
}

// SubtreeSize is the size of one subtree in a stream.
type SubtreeSize struct {
	// Path is the subtree's root.
	Path string
	// Znodes is the number of znodes in the subtree, its root included.
	Znodes int64
	// Bytes is the size of the subtree's znode records (paths, Stats, ACLs and
	// data) before compression.
	Bytes int64
}

// maxInventorySubtrees bounds the top-level subtrees an Inventory lists.
const maxInventorySubtrees = 4096

// InspectBackup reads and verifies the backup stream in r, like VerifyBackup,
// and describes its contents. On error the Inventory holds what was read
// before the failure and must not be trusted.
func InspectBackup(ctx context.Context, r io.Reader, opts VerifyOptions) (Inventory, error) {
	var inv Inventory
	top := make(map[string]*SubtreeSize)
	inv.Other.Path = "(other)"
	info, err := readTreeOptional(ctx, r, opts.Key, opts.Progress, nil, func(rec *znodeRecord) error {
		n := &rec.node
		inv.DataBytes += int64(len(n.data))
		inv.MaxData = max(inv.MaxData, int64(len(n.data)))
		switch {
		case n.stat.EphemeralOwner != 0:
			inv.Ephemerals++
		case n.mode == Container:
			inv.Containers++
		case n.mode.IsTTL():
			inv.TTLs++
		}
		if rec.path == "/" {
			return nil
		}
		name := rec.path
		if i := strings.IndexByte(name[1:], '/'); i >= 0 {
			name = name[:i+1]
		}
		s := top[name]
		if s == nil {
			if len(top) >= maxInventorySubtrees {
				s = &inv.Other
			} else {
				s = &SubtreeSize{Path: name}
				top[name] = s
			}
		}
		s.Znodes++
		s.Bytes += int64(len(rec.path) + len(rec.value))
		return nil
	}, nil, func(kind uint8, p []byte) error {
		if kind != recordZooKeeperOrigin {
			return nil
		}
		o, err := decodeZooKeeperOrigin(p)
		if err != nil {
			return err
		}
		inv.ZooKeeper = &o
		return nil
	})
	inv.Info = info
	for _, s := range top {
		inv.TopLevel = append(inv.TopLevel, *s)
	}
	slices.SortFunc(inv.TopLevel, func(a, b SubtreeSize) int { return strings.Compare(a.Path, b.Path) })
	inv.Largest = slices.Clone(inv.TopLevel)
	slices.SortStableFunc(inv.Largest, func(a, b SubtreeSize) int { return -cmp.Compare(a.Bytes, b.Bytes) })
	inv.Largest = inv.Largest[:min(10, len(inv.Largest))]
	return inv, err
}

// znodeRecord is one znode record as read, checked and decoded. Its slices
// alias the reader's buffers and are valid only during the visit call.
type znodeRecord struct {
	path  string
	key   []byte // keys.NodeKey(path)
	value []byte // the stored value
	node  znode  // value decoded; data aliases value
}

// corruptf returns an error matching ErrCorruptBackup.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorruptBackup, fmt.Sprintf(format, args...))
}

// tooNewf returns an error matching ErrFormatTooNew and ErrCorruptBackup.
func tooNewf(format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s", ErrFormatTooNew, stream.ErrVersion, fmt.Sprintf(format, args...))
}

// streamErr wraps an error of the stream reader; a stream from a newer format
// also matches ErrFormatTooNew.
func streamErr(err error) error {
	if errors.Is(err, stream.ErrVersion) {
		return fmt.Errorf("keeper: backup: %w: %w", ErrFormatTooNew, err)
	}
	return fmt.Errorf("keeper: backup: %w", err)
}

// readTree reads a tree stream from r, checks everything VerifyBackup
// promises, calls onHeader (if not nil) once the header is checked, and visit
// (if not nil) with each znode in stream order. It
// returns nil only after the footer, the trailer, the digest and the
// structure check out, so a caller that stages what visit gives it must
// commit only then. Memory is flat: one chunk and the current record.
func readTree(ctx context.Context, r io.Reader, key []byte, progress func(Progress), onHeader func(BackupInfo) error, visit func(*znodeRecord) error, visitSession func(id int64, value []byte) error) (BackupInfo, error) {
	return readTreeOptional(ctx, r, key, progress, onHeader, visit, visitSession, nil)
}

// readTreeOptional is readTree that also hands the optional records it
// skips (kinds from recordOptional up) to visitOptional, if not nil.
func readTreeOptional(ctx context.Context, r io.Reader, key []byte, progress func(Progress), onHeader func(BackupInfo) error, visit func(*znodeRecord) error, visitSession func(id int64, value []byte) error, visitOptional func(kind uint8, p []byte) error) (BackupInfo, error) {
	var lastSession int64
	sr, err := stream.NewReader(r, stream.ReaderOptions{Key: key})
	if err != nil {
		return BackupInfo{}, streamErr(err)
	}
	defer sr.Close()
	hdr := sr.Header()
	info := BackupInfo{
		Zxid:      Zxid(hdr.Zxid),
		ClusterID: hdr.ClusterID,
		Member:    hdr.Member,
		Time:      time.UnixMilli(hdr.Time),
	}
	if hdr.Kind != stream.KindBackup && hdr.Kind != stream.KindRaftSnapshot {
		return info, tooNewf("stream kind %d is not a tree stream", hdr.Kind)
	}
	switch {
	case len(hdr.Extra) == 0 || hdr.Extra[0] == 0:
		return info, corruptf("header extra %x names no znode encoding", hdr.Extra)
	case hdr.Extra[0] > treeEncoding:
		return info, tooNewf("znode encoding %d, this version reads up to %d", hdr.Extra[0], treeEncoding)
	}
	if onHeader != nil {
		if err := onHeader(info); err != nil {
			return info, err
		}
	}

	var (
		rec         znodeRecord
		prevKey     []byte
		h           = xxhash.New()
		sum         uint64 // the digest, recomputed
		parentRefs  uint64 // Σ hash(parent path) over every znode but "/"
		childCounts uint64 // Σ numChildren × hash(path) over every znode
		seenMember  bool
		seenLog     bool
		records     int64
		sinceCheck  int
		report      = func() Progress { return Progress{Znodes: info.Znodes, Bytes: sr.Bytes()} }
	)
	for {
		kind, p, err := sr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return info, streamErr(err)
		}
		records++
		sinceCheck += len(p)
		if records%progressEvery == 0 || sinceCheck >= progressBytes {
			sinceCheck = 0
			if err := ctx.Err(); err != nil {
				return info, fmt.Errorf("keeper: backup: %w", err)
			}
			if progress != nil {
				progress(report())
			}
		}
		switch {
		case kind == recordZnode:
			if seenLog || lastSession != 0 {
				return info, corruptf("znode after a session or log record")
			}
			n, k := binary.Uvarint(p)
			if k <= 0 || n > uint64(len(p)-k) {
				return info, corruptf("znode record %d: bad path length", info.Znodes)
			}
			rec.path = string(p[k : k+int(n)])
			rec.value = p[k+int(n):]
			if err := validatePath(rec.path, false); err != nil {
				return info, corruptf("znode record %d: %v", info.Znodes, err)
			}
			if info.Znodes == 0 && rec.path != "/" {
				return info, corruptf("first znode is %q, not the root", rec.path)
			}
			prevKey, rec.key = rec.key, keys.NodeKey(prevKey[:0], rec.path)
			if info.Znodes > 0 && bytes.Compare(rec.key, prevKey) <= 0 {
				return info, corruptf("znode %q out of order", rec.path)
			}
			if err := decodeZnode(rec.value, &rec.node); err != nil {
				return info, corruptf("znode %q: %v", rec.path, err)
			}
			if st := &rec.node.stat; st.NumChildren < 0 {
				return info, corruptf("znode %q: negative child count", rec.path)
			} else if uint64(max(st.Czxid, st.Mzxid, st.Pzxid)) > uint64(info.Zxid) || min(st.Czxid, st.Mzxid, st.Pzxid) < 0 {
				return info, corruptf("znode %q: zxid outside [0, %d]", rec.path, uint64(info.Zxid))
			}
			sum += nodeHash(h, rec.path, rec.value)
			if rec.path != "/" {
				parent, _ := parentOf(rec.path)
				parentRefs += xxhash.Sum64String(parent)
			}
			childCounts += uint64(rec.node.stat.NumChildren) * xxhash.Sum64String(rec.path)
			info.Znodes++
			if visit != nil {
				if err := visit(&rec); err != nil {
					return info, err
				}
			}
		case kind == recordMembership:
			if seenMember || info.Znodes > 0 {
				return info, corruptf("membership record out of place")
			}
			seenMember = true
			info.setMembership(p)
		case kind == recordSession:
			if seenLog || info.Znodes == 0 {
				return info, corruptf("session record out of place")
			}
			if len(p) < 8 {
				return info, corruptf("session record %d: too short", info.Sessions)
			}
			id := int64(binary.BigEndian.Uint64(p))
			if id <= 0 || uint64(id) > uint64(info.Zxid) {
				return info, corruptf("session id %d outside (0, %d]", id, uint64(info.Zxid))
			}
			if id <= lastSession {
				return info, corruptf("session %d out of order", id)
			}
			lastSession = id
			if _, err := decodeSessionRec(p[8:]); err != nil {
				return info, corruptf("session %d: %v", id, err)
			}
			sum += sessionHash(h, id, p[8:])
			info.Sessions++
			if visitSession != nil {
				if err := visitSession(id, p[8:]); err != nil {
					return info, err
				}
			}
		case kind == recordLog:
			seenLog = true
		case kind >= recordOptional:
			// A later keeper's optional record: skipped, unless the caller
			// wants it.
			if visitOptional != nil {
				if err := visitOptional(kind, p); err != nil {
					return info, err
				}
			}
		default:
			return info, tooNewf("record kind %d", kind)
		}
	}
	foot := sr.Footer()
	info.Bytes = sr.Bytes()
	info.Digest = foot.Digest
	switch {
	case info.Znodes == 0:
		return info, corruptf("no root znode")
	case sum != foot.Digest:
		return info, corruptf("digest of the znodes %x, footer says %x", sum, foot.Digest)
	case parentRefs != childCounts:
		return info, corruptf("child counts do not match the znodes (a parent is missing or miscounted)")
	}
	if progress != nil {
		progress(report())
	}
	return info, nil
}
