// Package treefiles swaps a member's tree for one built from a raft snapshot,
// so that a crash at any point leaves a whole tree, old or new, never a mix.
// It is internal because each step renames a member's tree under it: only
// the member's own install and its Open call them.
//
// Layout inside a member's data dir D:
//
//	D/tree                 the live Pebble tree
//	D/.snap.ready.build    a snapshot received, built and verified, not yet
//	                       taken by raft (and D/..snap.ready.* while building)
//	D/snap.ready/tree      a complete, verified, synced new tree: the install
//	                       was decided (this directory appearing is the commit
//	                       point, a rename)
//	D/tree.old             the replaced tree, trash once the swap is done
//
// An install goes: build into a temporary dir renamed to D/.snap.ready.build
// when verified; once raft takes the snapshot, rename that to D/snap.ready
// (sync D); rename D/tree to D/tree.old (sync D); rename D/snap.ready/tree to
// D/tree (sync D); remove D/tree.old and D/snap.ready. The raft log gets the
// snapshot's release mark only after that (see raftlog.RaftLog.Install).
//
// The recovery rule, applied by RecoverInstall before a data dir is opened:
//
//  1. build dirs (D/.snap.ready.build, D/..snap.ready.*) are removed: raft
//     had not taken them, nothing refers to them;
//  2. if D/snap.ready/tree exists the install is rolled forward: a stale
//     D/tree.old is removed, D/tree (if present) becomes D/tree.old, and
//     D/snap.ready/tree becomes D/tree;
//  3. D/tree.old and D/snap.ready are removed.
//
// So a crash before step "snap.ready" keeps the old tree; any crash after it
// ends with the new tree. A tree whose MetaInstalled index equals its applied
// index while the raft log has no release mark there is completed by the
// caller (keeper's Open writes the mark).
package treefiles

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Names of the install's directories inside a data dir.
const (
	treeDir      = "tree"
	stagedDir    = "snap.ready"
	trashTreeDir = "tree.old"
)

// BuildDir returns where a received snapshot is built: a data dir of its own
// (its tree under BuildDir/tree), which must not exist when the build starts.
func BuildDir(dir string) string { return filepath.Join(dir, "."+stagedDir+".build") }

// CommitStaged decides the install of the tree built in BuildDir(dir): it
// renames it to the staging dir, from where a crash rolls the install
// forward. Call it only once raft took the snapshot.
func CommitStaged(dir string) error {
	if err := os.RemoveAll(filepath.Join(dir, stagedDir)); err != nil {
		return fmt.Errorf("storage: install: %w", err)
	}
	return rename(BuildDir(dir), filepath.Join(dir, stagedDir), dir)
}

// HasStaged reports whether a staged tree waits in dir.
func HasStaged(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, stagedDir, treeDir))
	return err == nil
}

// DiscardBuild removes built or half-built snapshot trees, for a snapshot
// raft did not take or a transfer that failed.
func DiscardBuild(dir string) error { return removeBuilds(dir) }

// removeBuilds removes the temporary dirs of unfinished snapshot builds.
func removeBuilds(dir string) error {
	names, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("storage: install recovery: %w", err)
	}
	for _, e := range names {
		if n := e.Name(); strings.HasPrefix(n, ".") && strings.Contains(n, stagedDir+".") {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("storage: install recovery: %w", err)
			}
		}
	}
	return nil
}

// SwapStaged replaces dir's tree with the staged one, following the order
// above; the live store must be closed. step, if not nil, is called after
// each durable step (1: old tree moved to trash, 2: new tree in place), for
// crash tests. On error the caller must not reopen before RecoverInstall.
func SwapStaged(dir string, step func(int)) error {
	staged := filepath.Join(dir, stagedDir, treeDir)
	live := filepath.Join(dir, treeDir)
	trash := filepath.Join(dir, trashTreeDir)
	if _, err := os.Stat(staged); err != nil {
		return fmt.Errorf("storage: install: no staged tree: %w", err)
	}
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("storage: install: %w", err)
	}
	if err := rename(live, trash, dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if step != nil {
		step(1)
	}
	if err := rename(staged, live, dir); err != nil {
		return err
	}
	if step != nil {
		step(2)
	}
	return cleanInstall(dir)
}

// RecoverInstall applies the recovery rule above to dir. Open runs it before
// opening the tree; it is a no-op on a dir with no install in progress.
func RecoverInstall(dir string) error {
	if err := removeBuilds(dir); err != nil {
		return err
	}
	if HasStaged(dir) {
		if err := SwapStaged(dir, nil); err != nil {
			return err
		}
	}
	return cleanInstall(dir)
}

// cleanInstall removes the trash and the (now empty) staging dir.
func cleanInstall(dir string) error {
	for _, d := range []string{trashTreeDir, stagedDir} {
		if err := os.RemoveAll(filepath.Join(dir, d)); err != nil {
			return fmt.Errorf("storage: install cleanup: %w", err)
		}
	}
	return syncDir(dir)
}

// rename renames from to to and syncs their parent dir.
func rename(from, to, parent string) error {
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("storage: install: %w", err)
	}
	return syncDir(parent)
}

// syncDir fsyncs a directory so renames in it are durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("storage: sync dir: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("storage: sync dir %s: %w", dir, err)
	}
	return nil
}
