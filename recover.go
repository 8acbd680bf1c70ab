package keeper

// This file rebuilds a cluster that lost its quorum from one survivor's
// data dir, offline (the member must be stopped), as etcd's
// --force-new-cluster does, but as a function on a data dir.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/keeper-go/keeper/internal/raftlog"
	"github.com/keeper-go/keeper/internal/stream"
	"github.com/keeper-go/keeper/internal/treefiles"
	"github.com/keeper-go/keeper/internal/wire"
	"github.com/keeper-go/keeper/storage"
	"go.etcd.io/raft/v3/raftpb"
)

// RecoverOptions configures RecoverQuorum.
type RecoverOptions struct {
	// ID is the id of the member whose data dir is recovered. Required.
	ID uint64
	// Members lists the ids of the new cluster's members, ID included: the
	// survivors that will form it. Required.
	Members []uint64
	// Force recovers even though Members still form a majority of the old
	// membership (see ErrQuorumIntact).
	Force bool
}

// RecoverInfo describes a finished RecoverQuorum.
type RecoverInfo struct {
	// Zxid is the zxid the new cluster goes on from: every entry the member
	// held, applied.
	Zxid Zxid
	// Digest is the tree digest at Zxid.
	Digest uint64
	// ClusterID is the new cluster's id (Status().ClusterID once it runs).
	ClusterID uint64
	// OldMembers lists the members of the old cluster as the member knew
	// them, voters and learners.
	OldMembers []uint64
	// OldDir is where the member's previous data dir was moved; delete it
	// once the new cluster is healthy.
	OldDir string
}

// RecoverQuorum rewrites the data dir of a stopped member of a cluster that
// lost its quorum, so that it starts a new cluster with only opts.Members,
// keeping every write the member holds. Then Open it with Config{ID:
// opts.ID, Peers: opts.Members}.
//
// It applies every entry of the member's raft log, committed or not as far
// as the member knows (an entry the dead majority committed may be known
// here only as appended): writes whose outcome was reported indeterminate
// may therefore appear; no acknowledged write the member holds is dropped.
// Then it writes the tree, at the last zxid, as a new cluster's member dir
// the way Restore does: a raft log seeded at that zxid with the new
// membership and a new cluster id derived from the old id, the zxid and the
// members, so members of the old cluster coming back cannot talk to the new
// one. zxids keep rising from there. The previous dir is kept beside dir,
// renamed (RecoverInfo.OldDir).
//
// It cannot know offline whether the old cluster really lost its quorum. It
// refuses with ErrQuorumIntact when opts.Members are a majority of the old
// voters, since those can elect a leader by themselves; opts.Force overrides
// that. Every id in opts.Members must have been a member of the old cluster.
//
// The runbook (docs/RUNBOOK.md, "Quorum lost"): stop every survivor,
// InspectDir each, pick the best with BestSurvivor, RecoverQuorum it with
// Members = {its id} alone, Open it, and AddMember the other survivors with
// fresh data dirs (Config.Join); they catch up from it. Running
// RecoverQuorum on several survivors with the same Members yields one
// cluster only if they hold the same zxid; survivors at different zxids get
// different cluster ids and refuse each other, which is safe but useless.
//
// A dir without a raft log is refused with ErrNoLog, a dir in use with
// ErrLocked, one left in the middle of a raft snapshot install with
// ErrInstallPending (Open finishes it). The raft log is read as InspectDir reads it: a torn last
// record is left out.
func RecoverQuorum(ctx context.Context, dir string, opts RecoverOptions) (_ RecoverInfo, err error) {
	cfg := Config{ID: opts.ID, Peers: opts.Members, Dir: dir, Transport: nopTransport{}}
	if err := cfg.Validate(); err != nil {
		return RecoverInfo{}, fmt.Errorf("keeper: recover: %w", err)
	}
	if !raftlog.LogExists(dir) {
		return RecoverInfo{}, fmt.Errorf("keeper: recover %s: %w", dir, ErrNoLog)
	}
	lock, err := lockDir(filepath.Join(dir, lockFile))
	if err != nil {
		return RecoverInfo{}, err
	}
	locked := true
	defer func() {
		if locked {
			unlockDir(lock)
		}
	}()

	if treefiles.HasStaged(dir) {
		return RecoverInfo{}, fmt.Errorf("keeper: recover %s: %w", dir, ErrInstallPending)
	}
	oldCluster, ok, err := storage.PeekClusterID(dir)
	if err != nil {
		return RecoverInfo{}, fmt.Errorf("keeper: recover: %w", err)
	}
	if !ok {
		return RecoverInfo{}, fmt.Errorf("%w: recover %s: no tree", ErrCorrupt, dir)
	}
	t, err := openTreeDir(dir, oldCluster, nil)
	if err != nil {
		return RecoverInfo{}, fmt.Errorf("keeper: recover: %w", err)
	}
	defer func() {
		if t != nil {
			t.close()
		}
	}()
	lt, err := readTail(dir, t)
	if err != nil {
		return RecoverInfo{}, fmt.Errorf("keeper: recover: %w", err)
	}
	if lt.clusterID != oldCluster || lt.member != opts.ID {
		return RecoverInfo{}, fmt.Errorf("%w: raft log of member %d of cluster %x, asked to recover member %d", ErrWrongCluster, lt.member, lt.clusterID, opts.ID)
	}
	tail, old := lt.entries, lt.conf
	oldMembers := membersOf(old)
	for _, id := range opts.Members {
		if !slices.Contains(oldMembers, id) {
			return RecoverInfo{}, fmt.Errorf("%w: recover: %d was not a member of the old cluster %v", ErrUnknownMember, id, oldMembers)
		}
	}
	alive := 0
	for _, v := range old.GetVoters() {
		if slices.Contains(opts.Members, v) {
			alive++
		}
	}
	if alive > len(old.GetVoters())/2 && !opts.Force {
		return RecoverInfo{}, fmt.Errorf("%w: %d of the old voters %v are among the members", ErrQuorumIntact, alive, old.GetVoters())
	}
	// From here on the member's dir is no longer fit for its old cluster:
	// its tree may hold entries that cluster never committed.
	if len(tail) > 0 {
		if _, err := t.apply(tail); err != nil {
			return RecoverInfo{}, fmt.Errorf("keeper: recover: apply entries %d..%d: %w", tail[0].Index, tail[len(tail)-1].Index, err)
		}
	}
	if err := t.sync(); err != nil {
		return RecoverInfo{}, fmt.Errorf("keeper: recover: %w", err)
	}
	info := RecoverInfo{Zxid: Zxid(t.applied()), Digest: t.digest(), OldMembers: oldMembers}
	info.ClusterID = recoveredClusterID(oldCluster, uint64(info.Zxid), opts.Members)

	// Stream the tree into a new member dir beside dir, as Restore does.
	next := dir + ".recovered"
	if err := os.RemoveAll(next); err != nil {
		return RecoverInfo{}, fmt.Errorf("keeper: recover: %w", err)
	}
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		_, err := t.writeStream(ctx, pw, streamHeaderInfo{Kind: stream.KindBackup, Member: opts.ID, Time: time.Now()}, BackupOptions{NoCompression: true}, nil)
		pw.CloseWithError(err)
		errc <- err
	}()
	rinfo, err := Restore(ctx, pr, next, RestoreOptions{ID: opts.ID, Peers: opts.Members, ClusterID: info.ClusterID})
	pr.CloseWithError(errors.New("keeper: recover: restore ended"))
	if werr := <-errc; err == nil && werr != nil {
		err = werr
	}
	if err != nil {
		os.RemoveAll(next)
		return RecoverInfo{}, fmt.Errorf("keeper: recover: %w", err)
	}
	if rinfo.Backup.Zxid != info.Zxid || rinfo.Backup.Digest != info.Digest {
		os.RemoveAll(next)
		return RecoverInfo{}, fmt.Errorf("%w: recover: rewrote zxid %d digest %x, had %d %x", ErrCorrupt, rinfo.Backup.Zxid, rinfo.Backup.Digest, info.Zxid, info.Digest)
	}
	err = t.close()
	t = nil
	if err != nil {
		os.RemoveAll(next)
		return RecoverInfo{}, fmt.Errorf("keeper: recover: %w", err)
	}
	info.OldDir = fmt.Sprintf("%s.pre-recover-%d", dir, time.Now().UnixNano())
	if err := os.Rename(dir, info.OldDir); err != nil {
		os.RemoveAll(next)
		return RecoverInfo{}, fmt.Errorf("keeper: recover: %w", err)
	}
	locked = false
	unlockDir(lock)
	if err := os.Rename(next, dir); err != nil {
		return RecoverInfo{}, fmt.Errorf("keeper: recover: the old dir is at %s, the new one at %s: %w", info.OldDir, next, err)
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return RecoverInfo{}, err
	}
	return info, nil
}

// logTail is what a stopped member's raft log holds beyond its tree's
// applied index.
type logTail struct {
	clusterID, member uint64 // as the log's metadata records them
	// entries are the log's entries after the tree's applied index,
	// committed or not, converted for tree.apply.
	entries []committed
	conf    *raftpb.ConfState // the membership after entries
	hs      *raftpb.HardState // the last hard state logged
	last    raftlog.Mark      // the log's last entry, or its start mark if it holds none
}

// readTail reads every entry of the raft log in dir after t's applied
// index, and the membership after them. It writes nothing in dir
// (raftlog.ReadLog). RecoverQuorum applies the entries; InspectDir reports
// what they lead to.
func readTail(dir string, t *tree) (logTail, error) {
	rep, err := raftlog.ReadLog(dir, t.applied())
	if err != nil {
		return logTail{}, raftLogError("read raft log", err)
	}
	var lt logTail
	var initial []uint64
	lt.clusterID, lt.member, initial, err = wire.DecodeLogMeta(rep.Metadata)
	if err != nil {
		return logTail{}, err
	}
	lt.hs, lt.last = rep.HardState, rep.Start
	if n := len(rep.Entries); n > 0 {
		lt.last = raftlog.Mark{Index: rep.Entries[n-1].GetIndex(), Term: rep.Entries[n-1].GetTerm()}
	}
	cs := &raftpb.ConfState{Voters: initial}
	if m := t.membership(); m != nil {
		if cs, err = wire.DecodeMembership(m); err != nil {
			return logTail{}, err
		}
	}
	applied := t.applied()
	rp, err := newEntryReplay(lt.member, applied, cs)
	if err != nil {
		return logTail{}, err
	}
	for _, e := range rep.Entries {
		if e.GetIndex() <= applied {
			continue
		}
		c, _, err := rp.convert(e)
		if err != nil {
			return logTail{}, err
		}
		lt.entries = append(lt.entries, c)
	}
	lt.conf = rp.conf()
	return lt, nil
}
