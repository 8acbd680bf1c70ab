// Command cluster runs a real 3-member keeper cluster inside one process and
// prints what happens, step by step: writes from every member, reads, a
// backup taken while writes go on, the leader killed and a new one elected,
// writes continuing, the backup verified and restored into a brand-new
// cluster, the consistency and availability of each cluster, a member
// whose store rotted repairing itself from the leader, and a cluster with a
// continuous backup undoing a deleteall from its archive.
//
//	go run ./examples/cluster
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/bitrot"
	"github.com/keeper-go/keeper/transport"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

// cluster is a set of in-process members over one in-memory network.
type cluster struct {
	name  string
	net   *transport.Memory
	peers []uint64
	dirs  map[uint64]string
	nodes map[uint64]*keeper.Node
	// archive is every member's Config.Archive; nil for none.
	archive *keeper.ArchiveConfig
}

func startCluster(ctx context.Context, name string, dirs map[uint64]string, peers []uint64, archive *keeper.ArchiveConfig) (*cluster, error) {
	c := &cluster{name: name, net: transport.NewMemory(time.Now().UnixNano()), peers: peers, dirs: dirs, nodes: map[uint64]*keeper.Node{}, archive: archive}
	for _, id := range peers {
		if err := c.open(ctx, id); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

func (c *cluster) open(ctx context.Context, id uint64) error {
	n, err := keeper.Open(ctx, keeper.Config{
		ID: id, Dir: c.dirs[id], Peers: c.peers, Transport: c.net.Endpoint(id),
		CheckInterval: 250 * time.Millisecond, // a consistency check four times a second, for the story
		KeepEntries:   exampleKeep,            // a short log, so a member down for a while needs a snapshot
		Archive:       c.archive,
	})
	if err != nil {
		return fmt.Errorf("open member %d: %w", id, err)
	}
	c.nodes[id] = n
	return nil
}

func (c *cluster) close() {
	for _, n := range c.nodes {
		n.Close()
	}
	c.net.Close()
}

// leader waits until a running member leads and returns it.
func (c *cluster) leader(ctx context.Context) (*keeper.Node, error) {
	for {
		for _, n := range c.nodes {
			if st := n.Status(); st.Role == keeper.RoleLeader {
				return n, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: no leader: %w", c.name, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// figures prints the cluster's two figures as the leader's Status reports
// them, after waiting for a consistency check newer than the call:
// consistency = members whose tree digest at the last checked zxid equals
// the leader's ÷ members; availability = members the leader heard from
// within the election timeout ÷ members.
func (c *cluster) figures(ctx context.Context) {
	l, err := c.leader(ctx)
	if err != nil {
		fmt.Printf("   %s: no leader\n", c.name)
		return
	}
	// Two checks: the first one after the call settles what the members
	// held at the call, the second reports it.
	st := l.Status()
	deadline := time.Now().Add(3 * time.Second)
	for _, since := range []keeper.Zxid{st.Applied, 0} {
		if since == 0 {
			since = st.CheckZxid
		}
		for st.CheckZxid <= since && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			st = l.Status()
		}
	}
	fmt.Printf("   %s: consistency %d/%d = %.2f, availability %d/%d = %.2f (checked at zxid %d; leader %d at zxid %d, digest %016x)\n",
		c.name, st.ConsistentMembers, st.MemberCount, st.Consistency, st.ReachableMembers, st.MemberCount, st.Availability,
		st.CheckZxid, st.ID, st.Applied, st.Digest)
}

// write creates path, retrying while the cluster has no leader. ErrNoLeader
// means nothing was proposed; ErrIndeterminate means the create may or may
// not have happened (the leader died with it in flight), so after one a
// retry that finds the node there counts as done. Sequential creates are
// not retried after ErrIndeterminate: a retry could create a second node.
// exampleKeep is the members' KeepEntries: small, for the story (the
// default is 10,000).
const exampleKeep = 200

// load is 8 writers creating znodes through a member until stopped.
type load struct {
	done atomic.Int64
	quit chan struct{}
	wg   sync.WaitGroup
}

func startLoad(ctx context.Context, n *keeper.Node) *load {
	ld := &load{quit: make(chan struct{})}
	for w := 0; w < 8; w++ {
		ld.wg.Add(1)
		go func() {
			defer ld.wg.Done()
			for {
				select {
				case <-ld.quit:
					return
				case <-ctx.Done():
					return
				default:
				}
				if _, err := n.Create(ctx, "/load/n-", make([]byte, 100), keeper.PersistentSequential); err == nil {
					ld.done.Add(1)
				}
			}
		}()
	}
	return ld
}

func (ld *load) stop() {
	close(ld.quit)
	ld.wg.Wait()
}

func write(ctx context.Context, n *keeper.Node, path string, data []byte, mode keeper.CreateMode) (string, error) {
	unsure := false
	for {
		p, err := n.Create(ctx, path, data, mode)
		switch {
		case err == nil:
			return p, nil
		case unsure && errors.Is(err, keeper.ErrNodeExists):
			return path, nil
		case errors.Is(err, keeper.ErrIndeterminate) && !mode.IsSequential():
			unsure = true
		case !errors.Is(err, keeper.ErrNoLeader):
			return p, err
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func run() error {
	// The deadline only guards against a hang; a busy machine can take
	// several times the story's usual half minute.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	base, err := os.MkdirTemp("", "keeper-example-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(base)
	peers := []uint64{1, 2, 3}
	dirs := map[uint64]string{}
	for _, id := range peers {
		dirs[id] = filepath.Join(base, "a", fmt.Sprint(id))
	}

	fmt.Println("1. Start a 3-member cluster in this process (data in", base+")")
	a, err := startCluster(ctx, "cluster A", dirs, peers, nil)
	if err != nil {
		return err
	}
	defer a.close()
	l, err := a.leader(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("   member %d was elected leader in term %d\n", l.ID(), l.Status().Term)

	fmt.Println("2. Write from every member (followers forward to the leader)")
	for _, p := range []string{"/app", "/load"} {
		if _, err := write(ctx, a.nodes[1], p, []byte("config v1"), keeper.Persistent); err != nil {
			return err
		}
	}
	for _, id := range peers {
		p, err := write(ctx, a.nodes[id], "/app/job-", []byte(fmt.Sprintf("from member %d", id)), keeper.PersistentSequential)
		if err != nil {
			return err
		}
		fmt.Printf("   member %d created %s\n", id, p)
	}
	st, err := a.nodes[2].Set(ctx, "/app", []byte("config v2"), 0)
	if err != nil {
		return err
	}
	fmt.Printf("   member 2 set /app to %q (version %d, zxid %d)\n", "config v2", st.Version, st.Mzxid)
	if _, err := a.nodes[3].Set(ctx, "/app", []byte("config v3"), 0); errors.Is(err, keeper.ErrBadVersion) {
		fmt.Println("   member 3's set with the stale version 0 is refused:", err)
	}

	fmt.Println("3. Read: member 3 syncs, then sees every write")
	if err := a.nodes[3].Sync(ctx, "/app"); err != nil {
		return err
	}
	kids, stat, err := a.nodes[3].Children(ctx, "/app")
	if err != nil {
		return err
	}
	data, _, err := a.nodes[3].Get(ctx, "/app")
	if err != nil {
		return err
	}
	fmt.Printf("   /app = %q, %d children %v\n", data, stat.NumChildren, kids)
	a.figures(ctx)

	fmt.Println("4. Sessions and watches: the leader's session takes a lock, another member watches it")
	holder, err := l.NewSession(ctx, keeper.SessionOptions{Timeout: 4 * time.Second})
	if err != nil {
		return err
	}
	lock, err := holder.Create(ctx, "/app/lock", []byte(fmt.Sprintf("member %d", l.ID())), keeper.Ephemeral)
	if err != nil {
		return err
	}
	var watcherNode *keeper.Node
	for _, id := range peers {
		if id != l.ID() {
			watcherNode = a.nodes[id]
		}
	}
	watcher, err := watcherNode.NewSession(ctx, keeper.SessionOptions{Timeout: 10 * time.Second})
	if err != nil {
		return err
	}
	if err := watcherNode.Sync(ctx, "/"); err != nil {
		return err
	}
	_, held, lockWatch, err := watcher.ExistsW(ctx, lock)
	if err != nil {
		return err
	}
	all, err := watcher.AddWatch(ctx, "/app", keeper.PersistentRecursive)
	if err != nil {
		return err
	}
	fmt.Printf("   session %d on member %d holds %s (ephemeral: it dies with the session); member %d's session watches it (held: %v)\n",
		holder.ID(), l.ID(), lock, watcherNode.ID(), held)
	if _, err := a.nodes[1].Set(ctx, "/app", []byte("config v3"), keeper.AnyVersion); err != nil {
		return err
	}
	if ev, ok := recv(ctx, all); ok {
		fmt.Printf("   the recursive watch on /app saw %s %s at zxid %d\n", ev.Type, ev.Path, ev.Zxid)
	}

	fmt.Println("5. Back up from a follower while writes go on")
	var follower *keeper.Node
	for _, id := range peers {
		if id != l.ID() {
			follower = a.nodes[id]
			break
		}
	}
	during := startLoad(ctx, l)
	for during.done.Load() < 2000 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	backupFile := filepath.Join(base, "cluster-a.kbak")
	info, err := backupToFile(ctx, follower, backupFile)
	during.stop()
	if err != nil {
		return err
	}
	fmt.Printf("   member %d wrote %s at zxid %d: %d znodes, %d bytes, digest %016x\n",
		follower.ID(), filepath.Base(backupFile), info.Zxid, info.Znodes, info.Bytes, info.Digest)
	fmt.Printf("   8 writers created %d znodes under /load meanwhile; the backup holds the tree exactly at its zxid\n", during.done.Load())
	v, err := withFile(backupFile, func(f *os.File) (keeper.BackupInfo, error) {
		return keeper.VerifyBackup(ctx, f, keeper.VerifyOptions{})
	})
	if err != nil {
		return err
	}
	fmt.Printf("   verified: every checksum holds, recomputed digest %016x\n", v.Digest)

	fmt.Println("6. Stop the leader (to the others it is simply gone)")
	old := l.ID()
	killed := time.Now()
	if err := l.Close(); err != nil {
		return err
	}
	delete(a.nodes, old)
	var survivor *keeper.Node
	for _, n := range a.nodes {
		survivor = n
		break
	}
	if _, err := write(ctx, survivor, "/app/after-failover", nil, keeper.Persistent); err != nil {
		return err
	}
	l, err = a.leader(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("   member %d took over in term %d; the next write was acknowledged %v after the kill\n",
		l.ID(), l.Status().Term, time.Since(killed).Round(time.Millisecond))
	a.figures(ctx)
	fmt.Printf("   the old leader's session is gone with it: the new leader expires it after its %v timeout...\n", holder.Timeout())
	for {
		ev, ok := recv(ctx, lockWatch)
		if !ok {
			return fmt.Errorf("the lock watch ended without an event")
		}
		if ev.Type == keeper.NodeDeleted {
			fmt.Printf("   member %d's watch fired: %s %s at zxid %d, %v after the kill; the lock is free\n",
				watcherNode.ID(), ev.Type, ev.Path, ev.Zxid, time.Since(killed).Round(100*time.Millisecond))
			break
		}
	}
	watcher.Close(ctx)

	fmt.Printf("7. While member %d is down, the log moves on past what the leader keeps for it; restart it\n", old)
	from := l.Status().Applied
	more := startLoad(ctx, l)
	for l.Status().Applied < from+(10+1)*exampleKeep && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	more.stop()
	fmt.Printf("   %d more writes; the leader keeps %d entries (KeepEntries), up to 10×%d for a member catching up\n",
		more.done.Load(), exampleKeep, exampleKeep)
	restarted := time.Now()
	if err := a.open(ctx, old); err != nil {
		return err
	}
	back := a.nodes[old]
	for (back.Status().SnapshotsInstalled == 0 || back.Status().Applied < l.Status().Applied) && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	bst := back.Status()
	fmt.Printf("   member %d caught up by a raft snapshot (the tree streamed from the leader, %d installed) in %v: zxid %d, digest %016x\n",
		old, bst.SnapshotsInstalled, time.Since(restarted).Round(time.Millisecond), bst.Applied, bst.Digest)
	if err := back.Sync(ctx, "/"); err != nil {
		return err
	}
	if _, ok, _ := back.Exists(ctx, "/app/after-failover"); ok {
		fmt.Printf("   member %d sees the write made while it was down\n", old)
	}
	a.figures(ctx)

	fmt.Println("8. Restore the backup into a brand-new 3-member cluster")
	bdirs := map[uint64]string{}
	var restored keeper.RestoreInfo
	for _, id := range peers {
		bdirs[id] = filepath.Join(base, "b", fmt.Sprint(id))
		if restored, err = withFile(backupFile, func(f *os.File) (keeper.RestoreInfo, error) {
			return keeper.Restore(ctx, f, bdirs[id], keeper.RestoreOptions{ID: id, Peers: peers})
		}); err != nil {
			return err
		}
	}
	fmt.Printf("   3 data dirs restored at zxid %d, each checked against the backup's digest %016x\n", restored.Backup.Zxid, restored.Backup.Digest)
	b, err := startCluster(ctx, "cluster B", bdirs, peers, nil)
	if err != nil {
		return err
	}
	defer b.close()
	bl, err := b.leader(ctx)
	if err != nil {
		return err
	}
	bs := bl.Status()
	fmt.Printf("   cluster B elected member %d and serves from zxid %d\n", bl.ID(), bs.Applied)
	n, err := bl.AllChildrenNumber(ctx, "/app")
	if err != nil {
		return err
	}
	fmt.Printf("   /app holds %d znodes there (the backup's sessions, and their ephemerals, expire unless their clients come back)\n", n)
	p, err := write(ctx, b.nodes[2], "/app/job-", []byte("new cluster"), keeper.PersistentSequential)
	if err != nil {
		return err
	}
	_, pst, _ := b.nodes[2].Get(ctx, p)
	fmt.Printf("   a write to the new cluster created %s at zxid %d (zxids go on from the backup's)\n", p, pst.Czxid)
	a.figures(ctx)
	b.figures(ctx)

	if err := repairDemo(ctx, a); err != nil {
		return err
	}
	if err := archiveDemo(ctx, base, peers); err != nil {
		return err
	}
	fmt.Println("done")
	return nil
}

// repairDemo stops one of c's followers, flips a byte of a znode's data in
// its store behind its back (bit rot), restarts it, and prints the leader's
// figures as the consistency check finds the damage and after the member
// repaired itself from the leader's tree.
func repairDemo(ctx context.Context, c *cluster) error {
	l, err := c.leader(ctx)
	if err != nil {
		return err
	}
	var victim uint64
	for id := range c.nodes {
		if id != l.ID() {
			victim = id
			break
		}
	}
	fmt.Printf("9. Bit rot on cluster A: stop member %d, flip a byte of /app's data in its store, restart it\n", victim)
	if err := c.nodes[victim].Close(); err != nil {
		return err
	}
	delete(c.nodes, victim)
	if err := bitrot.FlipZnode(c.dirs[victim], "/app"); err != nil {
		return err
	}
	if err := c.open(ctx, victim); err != nil {
		return err
	}
	restarted := time.Now()
	show := func(what string) {
		st := l.Status()
		fmt.Printf("   %v after the restart, %s: consistency %d/%d = %.2f, availability %d/%d = %.2f\n",
			time.Since(restarted).Round(time.Millisecond), what, st.ConsistentMembers, st.MemberCount, st.Consistency,
			st.ReachableMembers, st.MemberCount, st.Availability)
	}
	found, repaired := false, false
	for !repaired {
		st := l.Status()
		mismatch := false
		for _, m := range st.View {
			mismatch = mismatch || (m.ID == victim && m.Check == keeper.CheckMismatch)
		}
		if !found && mismatch {
			found = true
			show(fmt.Sprintf("the check found member %d corrupt (it refuses reads and writes, asks the leader for its tree)", victim))
		}
		if found && !mismatch && st.ConsistentMembers == st.MemberCount && c.nodes[victim].Status().RepairsInstalled > 0 {
			repaired = true
			show(fmt.Sprintf("member %d installed the leader's tree and serves again", victim))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("repair of member %d: %w", victim, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
	data, _, err := c.nodes[victim].Get(ctx, "/app")
	if err != nil {
		return err
	}
	fmt.Printf("   member %d reads /app = %q again\n", victim, data)
	return nil
}

// recv waits for the next event of w, or ctx's end.
func recv(ctx context.Context, w *keeper.Watch) (keeper.Event, bool) {
	select {
	case ev, ok := <-w.Events():
		return ev, ok
	case <-ctx.Done():
		return keeper.Event{}, false
	}
}

// backupToFile writes n's backup to path: beside it first, synced, then
// renamed, so a failed backup never leaves a file that looks whole.
func backupToFile(ctx context.Context, n *keeper.Node, path string) (keeper.BackupInfo, error) {
	tmp := path + ".partial"
	f, err := os.Create(tmp)
	if err != nil {
		return keeper.BackupInfo{}, err
	}
	defer os.Remove(tmp)
	info, err := n.Backup(ctx, f, keeper.BackupOptions{Linearizable: true})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	return info, err
}

// withFile opens path for reading and runs fn on it.
func withFile[T any](path string, fn func(*os.File) (T, error)) (T, error) {
	f, err := os.Open(path)
	if err != nil {
		var zero T
		return zero, err
	}
	defer f.Close()
	return fn(f)
}
