package zkfile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// Dirs names a ZooKeeper server's data: Data is its dataDir (snapshots) and
// Log its dataLogDir (transaction logs), "" meaning Data. Either may be the
// configured dir or its version-2 subdirectory, which holds the files.
type Dirs struct {
	Data string
	Log  string
}

// LoadOptions configures Load.
type LoadOptions struct {
	// TempDir is where the tree's temporary store goes; "" is the system's
	// temporary directory. It needs room for about the size of the data.
	TempDir string
	// IgnoreDigest reports a digest that disagrees in LoadInfo.Notes instead
	// of refusing the data with ErrDigest.
	IgnoreDigest bool
}

// LoadInfo describes what Load read.
type LoadInfo struct {
	// Snapshot is the snapshot the tree was loaded from.
	Snapshot SnapshotInfo
	// Logs are the log files read after it, in order.
	Logs []LogInfo
	// Txns counts the transactions applied after the snapshot.
	Txns int64
	// Zxid is the last zxid ZooKeeper would have applied: the last
	// transaction's, or the snapshot's when no transaction follows it.
	Zxid int64
	// DigestZxid is the zxid at which the tree's digest was found equal to
	// the snapshot's, 0 when it could not be checked; TxnDigests counts the
	// transactions whose recorded digest was checked after it.
	DigestZxid int64
	TxnDigests int64
	// Refused lists the snapshots that could not be loaded, newest first,
	// each with why; Load then uses an older one, as ZooKeeper does.
	Refused []string
	// Notes lists what else the caller should know: a check that could not
	// be made, a multi ZooKeeper applies only in part.
	Notes []string
}

// Load rebuilds the tree a ZooKeeper server would load from dirs, as its
// FileTxnSnapLog.restore does: the newest snapshot that reads whole, then
// every logged transaction after its zxid, in order, to the last whole
// record. It checks the digests ZooKeeper 3.6+ records: the snapshot's at
// its zxid and, from there on, every transaction's. The caller closes the
// returned tree.
//
// A dir without a readable snapshot is refused with ErrNotZooKeeper; logs
// that leave out transactions between the snapshot and the last one with
// ErrGap; damage with ErrCorrupt; a digest that disagrees with ErrDigest.
func Load(ctx context.Context, dirs Dirs, o LoadOptions) (*Tree, LoadInfo, error) {
	var info LoadInfo
	snapDir := versionDir(dirs.Data)
	logDir := snapDir
	if dirs.Log != "" {
		logDir = versionDir(dirs.Log)
	}
	snaps, err := listFiles(snapDir, "snapshot", false)
	if err != nil {
		return nil, info, err
	}
	logs, err := listFiles(logDir, "log", true)
	if err != nil {
		return nil, info, err
	}
	if len(snaps) == 0 {
		return nil, info, fmt.Errorf("%w: no snapshot file in %s", ErrNotZooKeeper, snapDir)
	}
	var t *Tree
	for _, s := range snaps {
		t, info.Snapshot, err = loadSnapshot(ctx, s.path, o.TempDir)
		if err == nil {
			break
		}
		var fe *FileError
		if !errors.As(err, &fe) {
			return nil, info, err
		}
		info.Refused = append(info.Refused, err.Error())
	}
	if t == nil {
		return nil, info, fmt.Errorf("%w: no snapshot in %s can be read: %v", ErrNotZooKeeper, snapDir, info.Refused)
	}
	r := replay{t: t, info: &info, o: o, prev: info.Snapshot.Zxid}
	if err := r.run(ctx, logs); err != nil {
		_ = t.Close()
		return nil, info, err
	}
	return t, info, nil
}

// versionDir returns dir's version-2 subdirectory if it has one, else dir.
func versionDir(dir string) string {
	v := filepath.Join(dir, "version-2")
	if fi, err := os.Stat(v); err == nil && fi.IsDir() {
		return v
	}
	return dir
}

type dirFile struct {
	path string
	zxid int64
}

// listFiles lists the files "<prefix>.<hex zxid>..." in dir by zxid.
func listFiles(dir, prefix string, ascending bool) ([]dirFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("zkfile: %w", err)
	}
	var files []dirFile
	for _, e := range ents {
		if z, ok := ZxidOfName(e.Name(), prefix); ok && e.Type().IsRegular() {
			files = append(files, dirFile{filepath.Join(dir, e.Name()), z})
		}
	}
	slices.SortStableFunc(files, func(a, b dirFile) int {
		if ascending {
			return cmp.Compare(a.zxid, b.zxid)
		}
		return cmp.Compare(b.zxid, a.zxid)
	})
	return files, nil
}

// loadSnapshot loads one snapshot file into a new tree.
func loadSnapshot(ctx context.Context, path, tmp string) (*Tree, SnapshotInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, SnapshotInfo{}, fmt.Errorf("zkfile: %w", err)
	}
	defer f.Close()
	t, err := NewTree(tmp)
	if err != nil {
		return nil, SnapshotInfo{}, err
	}
	si, err := t.LoadSnapshot(ctx, path, f)
	if err != nil {
		_ = t.Close()
		return nil, si, err
	}
	return t, si, nil
}

// replay applies the logged transactions after the snapshot, in chunks
// (Tree.ApplyAll reads what a chunk touches in one pass).
type replay struct {
	t    *Tree
	info *LoadInfo
	o    LoadOptions
	prev int64 // the zxid of the last transaction read
	// digest is the snapshot's digest while its zxid is ahead; checking
	// says the tree matched it, so every transaction's digest is checked.
	digest   *Digest
	checking bool
	started  bool // a transaction after the snapshot was read
	chunk    []pending
	size     int // the chunk's data bytes
	done     int // the chunk's transactions applied
}

// pending is a transaction read and not applied yet, with where it was
// read.
type pending struct {
	tx   *Txn
	file string
	at   int64
}

// A chunk holds at most chunkTxns transactions and about chunkBytes of
// their data.
const (
	chunkTxns  = 8192
	chunkBytes = 16 << 20
)

func (r *replay) run(ctx context.Context, logs []dirFile) error {
	snap := r.info.Snapshot
	r.info.Zxid = snap.Zxid
	switch d := snap.Digest; {
	case d == nil:
		r.note("the snapshot has no digest: the replay is not checked against ZooKeeper's")
	case d.Version != DigestVersion:
		r.note(fmt.Sprintf("the snapshot's digest has version %d, not %d: not checked", d.Version, DigestVersion))
	case d.Zxid < snap.Zxid:
		r.note(fmt.Sprintf("the snapshot's digest is of zxid 0x%x, before the snapshot's 0x%x: not checked", d.Zxid, snap.Zxid))
	default:
		r.digest = d
		if err := r.checkSnapshotDigest(snap.File, snap.Zxid); err != nil {
			return err
		}
	}
	// The log that starts at or before the snapshot's zxid, and every later
	// one (FileTxnLog.getLogFiles).
	first := 0
	for i, l := range logs {
		if l.zxid <= snap.Zxid {
			first = i
		}
	}
	for _, l := range logs[first:] {
		if err := r.log(ctx, l.path); err != nil {
			return err
		}
		if err := r.apply(); err != nil {
			return err
		}
	}
	if r.digest != nil {
		r.note(fmt.Sprintf("the snapshot's digest is of zxid 0x%x, past the last logged transaction 0x%x: not checked", r.digest.Zxid, r.info.Zxid))
	}
	return nil
}

func (r *replay) note(s string) { r.info.Notes = append(r.info.Notes, s) }

// checkSnapshotDigest compares the tree with the snapshot's digest once the
// tree is at its zxid.
func (r *replay) checkSnapshotDigest(file string, zxid int64) error {
	if r.digest == nil || r.digest.Zxid != zxid {
		return nil
	}
	d := r.digest
	r.digest = nil
	if got := r.t.Digest(); got != d.Value {
		err := fmt.Errorf("%w: %s: the tree replayed to zxid 0x%x has digest %#x, the snapshot recorded %#x", ErrDigest, file, d.Zxid, uint64(got), uint64(d.Value))
		if !r.o.IgnoreDigest {
			return err
		}
		r.note(err.Error())
		return nil
	}
	r.info.DigestZxid = d.Zxid
	r.checking = true
	return nil
}

// log reads one log file, applying its transactions a chunk at a time.
func (r *replay) log(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("zkfile: %w", err)
	}
	defer f.Close()
	li, err := ReadLog(ctx, path, f, func(tx *Txn, at int64) error {
		if !r.started && tx.Zxid <= r.info.Snapshot.Zxid {
			return nil // in the snapshot already
		}
		r.started = true
		if !follows(r.prev, tx.Zxid) {
			return &FileError{File: path, Offset: at, Err: fmt.Errorf("%w: zxid 0x%x after 0x%x", ErrGap, tx.Zxid, r.prev)}
		}
		r.prev = tx.Zxid
		r.chunk = append(r.chunk, pending{tx, path, at})
		r.size += txnSize(tx)
		if len(r.chunk) >= chunkTxns || r.size >= chunkBytes {
			return r.apply()
		}
		return nil
	})
	r.info.Logs = append(r.info.Logs, li)
	return err
}

// txnSize estimates the memory a transaction holds.
func txnSize(tx *Txn) int {
	n := 64 + len(tx.Path) + len(tx.Data)
	for i := range tx.Ops {
		n += txnSize(&tx.Ops[i])
	}
	return n
}

// apply applies the chunk read so far, checking digests as it goes.
func (r *replay) apply() error {
	if len(r.chunk) == 0 {
		return nil
	}
	txns := make([]*Txn, len(r.chunk))
	for i := range r.chunk {
		txns[i] = r.chunk[i].tx
	}
	r.done = 0
	err := r.t.ApplyAll(txns, func(i int) error {
		r.done = i + 1
		p := r.chunk[i]
		tx := p.tx
		if tx.OpsCut != "" {
			r.note(fmt.Sprintf("%s at offset %d: multi 0x%x: %s; ZooKeeper applies the ops before it only", p.file, p.at, tx.Zxid, tx.OpsCut))
		}
		r.info.Txns++
		r.info.Zxid = tx.Zxid
		if err := r.checkSnapshotDigest(r.info.Snapshot.File, tx.Zxid); err != nil {
			return err
		}
		if r.checking && tx.Digest != nil && tx.Digest.Version == DigestVersion {
			r.info.TxnDigests++
			if got := r.t.Digest(); got != tx.Digest.Tree {
				err := &FileError{File: p.file, Offset: p.at, Err: fmt.Errorf("%w: after txn 0x%x the tree's digest is %#x, the log recorded %#x", ErrDigest, tx.Zxid, uint64(got), uint64(tx.Digest.Tree))}
				if !r.o.IgnoreDigest {
					return err
				}
				r.note(err.Error())
				r.checking = false
			}
		}
		return nil
	})
	if err != nil {
		var fe *FileError
		if !errors.As(err, &fe) && !errors.Is(err, ErrDigest) && r.done < len(r.chunk) {
			// A transaction the tree cannot apply: name where it was read.
			p := r.chunk[r.done]
			err = &FileError{File: p.file, Offset: p.at, Err: err}
		}
		return err
	}
	r.chunk, r.size = r.chunk[:0], 0
	return nil
}

// follows reports whether a server logs zxid right after prev: the next
// counter of the same epoch, or the first of a later one.
func follows(prev, zxid int64) bool {
	return zxid == prev+1 || (zxid>>32 > prev>>32 && zxid&0xffffffff == 1)
}
