package keeper

// This file reads a stopped member's data dir without changing it, so an
// operator can compare the survivors of a lost quorum and pick the one to
// recover (docs/RUNBOOK.md, "Quorum lost").

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/keeper-go/keeper/internal/raftlog"
	"github.com/keeper-go/keeper/internal/treefiles"
	"github.com/keeper-go/keeper/storage"
)

// DirInfo describes a stopped member's data dir, as InspectDir reads it.
type DirInfo struct {
	// Dir is the data dir inspected.
	Dir string
	// ClusterID is the id of the cluster the dir belongs to.
	ClusterID uint64
	// Member is the id of the member the dir belongs to, as its raft log
	// records it.
	Member uint64
	// Applied is the zxid (raft index) the tree has applied.
	Applied Zxid
	// Digest is the tree digest at Applied.
	Digest uint64
	// LastIndex and LastTerm are the index and term of the last entry of
	// the raft log. Entries after Applied, committed or not as far as the
	// member knows, are the ones RecoverQuorum applies: the recovered
	// cluster goes on from LastIndex.
	LastIndex Zxid
	LastTerm  uint64
	// Commit is the highest index the member knew committed: the raft log's
	// last hard state, or Applied if higher (what the tree applied was
	// committed, and a hard state that only moves the commit index is not
	// synced).
	Commit Zxid
	// Term is the raft term of the last hard state.
	Term uint64
	// Voters and Learners are the membership after every entry of the raft
	// log, sorted.
	Voters   []uint64
	Learners []uint64
}

// InspectDir reads the data dir of a stopped member and reports what it
// holds, without changing anything in it but taking its lock files: the
// tree is opened read-only and the raft log read without opening it for
// appending. It takes the data dir's lock as Open does (creating the lock
// file if it is missing), so a dir in use by a running member is refused
// with ErrLocked.
//
// A dir without a raft log is refused with an error matching ErrNoLog, a
// damaged one with an error matching ErrCorrupt (a raft log torn in its last
// record, as a crash in the middle of an append leaves it, is read up to
// that record, as RecoverQuorum reads it). A dir left in the middle of a
// raft snapshot install is refused with ErrInstallPending: Open finishes
// the install.
//
// Use it on every survivor of a lost quorum and BestSurvivor to choose the
// one to pass to RecoverQuorum.
func InspectDir(ctx context.Context, dir string) (info DirInfo, err error) {
	if err := ctx.Err(); err != nil {
		return DirInfo{}, err
	}
	if !raftlog.LogExists(dir) {
		return DirInfo{}, fmt.Errorf("keeper: inspect %s: %w", dir, ErrNoLog)
	}
	lock, err := lockDir(filepath.Join(dir, lockFile))
	if err != nil {
		return DirInfo{}, err
	}
	defer unlockDir(lock)
	if treefiles.HasStaged(dir) {
		return DirInfo{}, fmt.Errorf("inspect %s: %w", dir, ErrInstallPending)
	}
	// Decoders of damaged data are meant to return errors; should one panic
	// all the same, the dir is damaged, which is no reason to crash the host.
	defer func() {
		if p := recover(); p != nil {
			info, err = DirInfo{}, fmt.Errorf("%w: inspect %s: %v", ErrCorrupt, dir, p)
		}
	}()
	st, err := storage.Open(dir, storage.Options{ReadOnly: true})
	if err != nil {
		return DirInfo{}, fmt.Errorf("keeper: inspect: %w", err)
	}
	defer st.Close()
	t, err := openTree(st)
	if err != nil {
		return DirInfo{}, fmt.Errorf("keeper: inspect %s: %w", dir, err)
	}
	lt, err := readTail(dir, t)
	if err != nil {
		return DirInfo{}, fmt.Errorf("keeper: inspect %s: %w", dir, err)
	}
	if lt.clusterID != st.ClusterID() {
		return DirInfo{}, fmt.Errorf("%w: inspect %s: raft log of cluster %x, tree of %x", ErrWrongCluster, dir, lt.clusterID, st.ClusterID())
	}
	return DirInfo{
		Dir:       dir,
		ClusterID: lt.clusterID,
		Member:    lt.member,
		Applied:   Zxid(t.applied()),
		Digest:    t.digest(),
		LastIndex: Zxid(lt.last.Index),
		LastTerm:  lt.last.Term,
		Commit:    Zxid(max(lt.hs.GetCommit(), t.applied())),
		Term:      lt.hs.GetTerm(),
		Voters:    slices.Sorted(slices.Values(lt.conf.GetVoters())),
		Learners:  slices.Sorted(slices.Values(lt.conf.GetLearners())),
	}, nil
}

// BestSurvivor returns the index in infos of the data dir holding the
// most: the one whose raft log is the most up to date by raft's own rule
// (the highest LastTerm, then the highest LastIndex), ties broken by the
// highest Applied. It holds every entry the old cluster committed that any
// of them holds, so RecoverQuorum on it keeps the most acknowledged writes.
// infos should all come from one cluster (the same ClusterID). It returns
// -1 for no infos.
func BestSurvivor(infos []DirInfo) int {
	best := -1
	for i, in := range infos {
		if best < 0 || moreUpToDate(in, infos[best]) {
			best = i
		}
	}
	return best
}

// moreUpToDate reports whether a holds more than b (see BestSurvivor).
func moreUpToDate(a, b DirInfo) bool {
	if a.LastTerm != b.LastTerm {
		return a.LastTerm > b.LastTerm
	}
	if a.LastIndex != b.LastIndex {
		return a.LastIndex > b.LastIndex
	}
	return a.Applied > b.Applied
}
