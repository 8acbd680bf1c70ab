package keeper_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/transport"
)

// exampleCluster opens three members over an in-memory network in a temporary
// dir and waits for a leader; stop closes them and removes the dir.
func exampleCluster(ctx context.Context) (nodes []*keeper.Node, stop func(), err error) {
	dir, err := os.MkdirTemp("", "keeper-example-")
	if err != nil {
		return nil, nil, err
	}
	net := transport.NewMemory(1)
	stop = func() {
		for _, n := range nodes {
			n.Close()
		}
		net.Close()
		os.RemoveAll(dir)
	}
	peers := []uint64{1, 2, 3}
	for _, id := range peers {
		n, err := keeper.Open(ctx, keeper.Config{
			ID:        id,
			Dir:       filepath.Join(dir, fmt.Sprint(id)),
			Peers:     peers,
			Transport: net.Endpoint(id),
		})
		if err != nil {
			stop()
			return nil, nil, err
		}
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		if _, err := n.WaitLeader(ctx); err != nil {
			stop()
			return nil, nil, err
		}
	}
	return nodes, stop, nil
}

// Three members in one process: a write on one member is read on another.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes, stop, err := exampleCluster(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	if _, err := nodes[0].Create(ctx, "/app", []byte("v1"), keeper.Persistent); err != nil {
		fmt.Println(err)
		return
	}
	// A linearizable read sees every write acknowledged before it began,
	// on any member.
	data, stat, err := nodes[2].Linearizable().Get(ctx, "/app")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s version %d\n", data, stat.Version)

	_, err = nodes[1].Set(ctx, "/app", []byte("v2"), 7)
	fmt.Println(errors.Is(err, keeper.ErrBadVersion))
	// Output:
	// v1 version 0
	// true
}

// Sequential znodes take a ten-digit suffix from their parent; a multi
// applies all of its ops at one zxid or none of them.
func ExampleClient_Multi() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes, stop, err := exampleCluster(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	n := nodes[0]

	n.Create(ctx, "/jobs", nil, keeper.Persistent)
	p, _ := n.Create(ctx, "/jobs/job-", []byte("a"), keeper.PersistentSequential)
	fmt.Println(p)

	_, err = n.Multi(ctx,
		keeper.CreateOp("/jobs/done", nil, keeper.Persistent),
		keeper.DeleteOp("/jobs/missing", keeper.AnyVersion),
	)
	var me *keeper.MultiError
	if errors.As(err, &me) {
		fmt.Println("op", me.Index, "failed:", errors.Is(err, keeper.ErrNoNode))
	}
	_, ok, _ := n.Exists(ctx, "/jobs/done")
	fmt.Println("/jobs/done exists:", ok)
	// Output:
	// /jobs/job-0000000000
	// op 1 failed: true
	// /jobs/done exists: false
}

// An ephemeral znode lives as long as its session; a watch tells another
// session when it goes.
func ExampleSession_ExistsW() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes, stop, err := exampleCluster(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	owner, err := nodes[0].NewSession(ctx, keeper.SessionOptions{Timeout: 4 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := owner.Create(ctx, "/leader", []byte("member 1"), keeper.Ephemeral); err != nil {
		fmt.Println(err)
		return
	}
	watcher, err := nodes[1].NewSession(ctx, keeper.SessionOptions{Timeout: 4 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer watcher.Close(ctx)
	// The watcher's member may not have applied the create yet: Sync first.
	if err := watcher.Sync(ctx, "/leader"); err != nil {
		fmt.Println(err)
		return
	}
	_, ok, w, err := watcher.ExistsW(ctx, "/leader")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("leader present:", ok)

	owner.Close(ctx) // its ephemerals go at one zxid
	ev := <-w.Events()
	fmt.Println(ev.Type, ev.Path)
	// Output:
	// leader present: true
	// NodeDeleted /leader
}

// A backup is any io.Writer; VerifyBackup checks every checksum and the
// digest, and Restore seeds the members of a new cluster from it.
func ExampleNode_Backup() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes, stop, err := exampleCluster(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	for _, p := range []string{"/a", "/a/b", "/c"} {
		if _, err := nodes[0].Create(ctx, p, []byte(p), keeper.Persistent); err != nil {
			fmt.Println(err)
			return
		}
	}

	var buf bytes.Buffer
	info, err := nodes[1].Backup(ctx, &buf, keeper.BackupOptions{Linearizable: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	v, err := keeper.VerifyBackup(ctx, bytes.NewReader(buf.Bytes()), keeper.VerifyOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("znodes:", info.Znodes, "verified digest matches:", v.Digest == info.Digest)

	dir, err := os.MkdirTemp("", "keeper-restore-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ri, err := keeper.Restore(ctx, bytes.NewReader(buf.Bytes()), filepath.Join(dir, "1"),
		keeper.RestoreOptions{ID: 1, Peers: []uint64{1}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("new cluster:", ri.ClusterID != info.ClusterID)
	// Output:
	// znodes: 5 verified digest matches: true
	// new cluster: true
}

// A cluster with Config.Archive sends every committed entry to a Target.
// After a bad delete, the archive puts the subtree back as it was at a
// mark, on the running cluster; the same stream seeds a new cluster's
// member with Restore.
func ExampleArchive_At() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir, err := os.MkdirTemp("", "keeper-archive-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	target := keeper.DirTarget(filepath.Join(dir, "archive"))
	net := transport.NewMemory(1)
	defer net.Close()
	n, err := keeper.Open(ctx, keeper.Config{
		ID: 1, Dir: filepath.Join(dir, "1"), Peers: []uint64{1}, Transport: net.Endpoint(1),
		Archive: &keeper.ArchiveConfig{Target: target, SyncEvery: 20 * time.Millisecond},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()
	// The archive starts with a base of the tree as the leader finds it.
	if err := exampleWaitArchived(ctx, n, 1); err != nil {
		fmt.Println(err)
		return
	}

	n.Create(ctx, "/app", nil, keeper.Persistent)
	n.Create(ctx, "/app/config", []byte("db=primary"), keeper.Persistent)
	mark, err := n.Mark(ctx, "before-cleanup")
	if err != nil {
		fmt.Println(err)
		return
	}
	n.Delete(ctx, "/app/config", keeper.AnyVersion)
	n.Delete(ctx, "/app", keeper.AnyVersion)
	if err := exampleWaitArchived(ctx, n, mark); err != nil {
		fmt.Println(err)
		return
	}

	arch, err := keeper.OpenArchive(ctx, target, keeper.ArchiveOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	at := keeper.AtMark("before-cleanup")
	plan, err := arch.Plan(ctx, at) // the base and segments a restore reads
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("the plan reaches the mark:", plan.Zxid == mark)
	r := arch.At(at)
	defer r.Close()
	info, err := n.RestoreOnline(ctx, r, keeper.RestoreOnlineOptions{Subtree: "/app"})
	if err != nil {
		fmt.Println(err)
		return
	}
	data, _, err := n.Get(ctx, "/app/config")
	fmt.Printf("restored %d znodes; /app/config = %q %v\n", info.Znodes, data, err)

	// Drill rebuilds the tree at a point and throws it away; Verify reads
	// and replays the whole archive.
	d, err := arch.Drill(ctx, at)
	fmt.Println("drill at the mark:", d.Zxid == mark, err)
	rep, err := arch.Verify(ctx)
	fmt.Println("verify:", len(rep.Problems), "problems", err)

	// A new cluster's member, seeded from the archive (each member the same).
	latest := arch.At(keeper.Latest())
	defer latest.Close()
	_, err = keeper.Restore(ctx, latest, filepath.Join(dir, "new-1"), keeper.RestoreOptions{ID: 1, Peers: []uint64{1}})
	fmt.Println("new member's dir restored:", err == nil)
	// Output:
	// the plan reaches the mark: true
	// restored 2 znodes; /app/config = "db=primary" <nil>
	// drill at the mark: true <nil>
	// verify: 0 problems <nil>
	// new member's dir restored: true
}

// exampleWaitArchived waits until n reports that the archive holds zxid z.
func exampleWaitArchived(ctx context.Context, n *keeper.Node, z keeper.Zxid) error {
	for n.Status().ArchivedZxid < z {
		select {
		case <-ctx.Done():
			return fmt.Errorf("the archive holds zxid %d, not %d: %w", n.Status().ArchivedZxid, z, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}
