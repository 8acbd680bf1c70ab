package keeper

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/keeper-go/keeper/internal/keys"
	"github.com/keeper-go/keeper/internal/raftlog"
	"github.com/keeper-go/keeper/storage"
)

// Footprint is how much a member holds: its tree's counts and the size of
// its files, the figures monitoring tools ask a ZooKeeper server for (the
// zk_znode_count, zk_ephemerals_count, zk_approximate_data_size and
// zk_global_sessions of its mntr command, the sizes of its dirs command).
// Node.Footprint measures it.
type Footprint struct {
	// Znodes counts the tree's znodes, "/" and "/zookeeper" included.
	Znodes int64
	// Ephemerals counts the ephemeral znodes, of every session.
	Ephemerals int64
	// DataBytes is the length of every znode's path plus the length of its
	// data, summed: ZooKeeper's approximate data size.
	DataBytes int64
	// Sessions counts the sessions of the cluster's session table, as this
	// member applied it.
	Sessions int64
	// TreeBytes and LogBytes are the sizes of the files under the member's
	// tree directory and raft log directory (Settings.TreeDir and
	// Settings.LogDir).
	TreeBytes, LogBytes int64
}

// Footprint measures what the member holds. The counts come from one
// point-in-time view of its tree, as of its applied zxid, read without
// holding up writes; they cost one scan of the tree, O(znodes). The file
// sizes are read from the directories as they are during the call. ctx
// bounds the scan. It returns ErrClosed after Close and ErrReplicaCorrupt
// on a member that failed a consistency check.
func (n *Node) Footprint(ctx context.Context) (Footprint, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(n.closing, cancel)()
	var fp Footprint
	err := n.withTree(func(t *tree) error {
		snap := t.newSnapshot()
		defer snap.Close()
		return countImage(ctx, snap, &fp)
	})
	if err != nil {
		return Footprint{}, err
	}
	dir := n.r.cfg.Dir
	if fp.TreeBytes, err = dirBytes(storage.TreeDir(dir)); err != nil {
		return Footprint{}, err
	}
	if fp.LogBytes, err = dirBytes(raftlog.Dir(dir)); err != nil {
		return Footprint{}, err
	}
	return fp, nil
}

// countImage fills fp's counts from snap: its znodes, their path and data
// lengths, its ephemeral index and its session records.
func countImage(ctx context.Context, snap *storage.Snapshot, fp *Footprint) error {
	seen := 0
	var zn znode
	lo, hi := keys.NodeSpan()
	err := walkSpan(snap, lo, hi, func(k, v []byte) error {
		if seen++; seen%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		pathLen, ok := keys.NodePathLen(k)
		if !ok {
			return fmt.Errorf("keeper: footprint: node key %q: %w", k, ErrCorrupt)
		}
		if err := decodeZnode(v, &zn); err != nil {
			return err
		}
		fp.Znodes++
		fp.DataBytes += int64(pathLen + len(zn.data))
		return nil
	})
	if err != nil {
		return err
	}
	count := func(lo, hi []byte, n *int64) error {
		return walkSpan(snap, lo, hi, func(_, _ []byte) error {
			if seen++; seen%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			*n++
			return nil
		})
	}
	lo, hi = keys.EphemeralSpan()
	if err := count(lo, hi, &fp.Ephemerals); err != nil {
		return err
	}
	lo, hi = keys.SessionSpan()
	return count(lo, hi, &fp.Sessions)
}

// dirBytes sums the sizes of the regular files under dir. Files removed
// while it walks (a compaction's, a released log segment) are skipped; a
// missing dir holds 0 bytes.
func dirBytes(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if !e.Type().IsRegular() {
			return nil
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		total += info.Size()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("keeper: footprint: %w", err)
	}
	return total, nil
}
