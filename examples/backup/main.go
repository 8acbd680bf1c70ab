// Command backup is a small operator tool a host team can copy: it backs up
// a stopped member's data dir, verifies and inspects backup files, and
// restores one into a new member's data dir.
//
//	go run ./examples/backup backup  -dir /var/lib/svc/keeper -out tree.kbak
//	go run ./examples/backup verify  -in tree.kbak
//	go run ./examples/backup inspect -in tree.kbak
//	go run ./examples/backup restore -in tree.kbak -dir /var/lib/svc/keeper-new -id 1 -peers 1,2,3
//	go run ./examples/backup import-zk /var/lib/zookeeper zk.kbak
//	go run ./examples/backup export-zk zk.kbak /var/lib/zookeeper-new
//
// import-zk reads a stopped ZooKeeper server's dataDir (-log-dir for a
// separate dataLogDir) into a backup file; export-zk writes a backup as a
// ZooKeeper snapshot: into <dir>/version-2 under the name ZooKeeper needs
// when the target is a directory, else to the file named.
//
// The archive commands read a continuous backup (keeper.Config.Archive with
// keeper.DirTarget) and restore the tree as it was at a point: -zxid N,
// -time RFC3339, -mark NAME or the word latest, and -exclusive for the
// point just before it.
//
//	go run ./examples/backup archive-list    -target /backup/keeper
//	go run ./examples/backup archive-plan    -target /backup/keeper -mark before-migration
//	go run ./examples/backup archive-verify  -target /backup/keeper
//	go run ./examples/backup archive-drill   -target /backup/keeper latest
//	go run ./examples/backup archive-history -target /backup/keeper -since 2026-12-01T09:00:00Z /app/config
//	go run ./examples/backup archive-restore -target /backup/keeper -time 2026-12-01T09:30:00Z -exclusive \
//	                                         -dir /var/lib/svc/keeper-new -id 1 -peers 1,2,3
//
// archive-list shows the clusters on the target, then one cluster's bases,
// segments and gaps (-cluster picks it; default the newest); archive-plan
// what a restore to the point reads, or what the archive lacks for it;
// archive-verify reads and replays the whole archive and fails on any
// problem; archive-drill rebuilds the tree at the point and throws it away;
// archive-restore writes it into a new member's data dir; archive-history
// lists every change of a znode (-subtree: of the znodes under it), with
// its time, op, session, identities and data before and after.
//
// With -key-file (a file holding 32 bytes) the stream is encrypted with
// AES-256-GCM, and verify, inspect and restore need the same key; so do the
// archive commands for an archive written with ArchiveConfig.Key. Long runs
// print a progress line on stderr.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/keeper-go/keeper"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	switch os.Args[1] {
	case "backup":
		err = backup(ctx, os.Args[2:])
	case "verify":
		err = verify(ctx, os.Args[2:], false)
	case "inspect":
		err = verify(ctx, os.Args[2:], true)
	case "restore":
		err = restore(ctx, os.Args[2:])
	case "import-zk":
		err = importZK(ctx, os.Args[2:])
	case "export-zk":
		err = exportZK(ctx, os.Args[2:])
	case "archive-list":
		err = archiveList(ctx, os.Args[2:], os.Stdout)
	case "archive-plan":
		err = archivePlan(ctx, os.Args[2:], os.Stdout)
	case "archive-verify":
		err = archiveVerify(ctx, os.Args[2:], os.Stdout)
	case "archive-drill":
		err = archiveDrill(ctx, os.Args[2:], os.Stdout)
	case "archive-restore":
		err = archiveRestore(ctx, os.Args[2:], os.Stdout)
	case "archive-history":
		err = archiveHistory(ctx, os.Args[2:], os.Stdout)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "backup:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: backup backup|verify|inspect|restore|import-zk|export-zk|archive-list|archive-plan|archive-verify|archive-drill|archive-restore|archive-history [flags]; -h after a subcommand lists its flags")
	os.Exit(2)
}

// readKey reads a 32-byte key file, or returns nil for no file.
func readKey(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	k, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(k) != 32 {
		return nil, fmt.Errorf("key file %s holds %d bytes, want 32", path, len(k))
	}
	return k, nil
}

// progress returns a callback that rewrites one status line on stderr at
// most every 200 ms, and a func that ends the line.
func progress(verb string) (func(keeper.Progress), func()) {
	var last time.Time
	printed := false
	f := func(p keeper.Progress) {
		if time.Since(last) < 200*time.Millisecond {
			return
		}
		last = time.Now()
		printed = true
		if p.TotalZnodes > 0 {
			fmt.Fprintf(os.Stderr, "\r%s: %d/%d znodes (%.0f%%), %.1f MB", verb, p.Znodes, p.TotalZnodes,
				100*float64(p.Znodes)/float64(p.TotalZnodes), float64(p.Bytes)/1e6)
		} else {
			fmt.Fprintf(os.Stderr, "\r%s: %d znodes, %.1f MB", verb, p.Znodes, float64(p.Bytes)/1e6)
		}
	}
	return f, func() {
		if printed {
			fmt.Fprintln(os.Stderr)
		}
	}
}

func backup(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("backup", flag.ExitOnError)
	dir := fs.String("dir", "", "data dir of a stopped member")
	out := fs.String("out", "", "backup file to write")
	keyFile := fs.String("key-file", "", "file with a 32-byte key: encrypt the backup")
	fs.Parse(args)
	if *dir == "" || *out == "" {
		return errors.New("backup needs -dir and -out")
	}
	key, err := readKey(*keyFile)
	if err != nil {
		return err
	}
	// Written beside the target and renamed when complete: a failed backup
	// never leaves a file that looks whole.
	report, done := progress("backup")
	start := time.Now()
	var info keeper.BackupInfo
	err = writeAtomically(*out, func(w *bufio.Writer) error {
		var err error
		info, err = keeper.BackupDir(ctx, *dir, w, keeper.BackupOptions{Key: key, Progress: report})
		return err
	})
	done()
	if err != nil {
		return err
	}
	fmt.Printf("backed up %s: zxid %d, %d znodes, %d sessions, %d bytes, digest %016x, in %v\n",
		*dir, info.Zxid, info.Znodes, info.Sessions, info.Bytes, info.Digest, time.Since(start).Round(time.Millisecond))
	return nil
}

func verify(ctx context.Context, args []string, inspect bool) error {
	name := "verify"
	if inspect {
		name = "inspect"
	}
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	in := fs.String("in", "", "backup file to read")
	keyFile := fs.String("key-file", "", "file with the 32-byte key of an encrypted backup")
	fs.Parse(args)
	if *in == "" {
		return fmt.Errorf("%s needs -in", name)
	}
	key, err := readKey(*keyFile)
	if err != nil {
		return err
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	report, done := progress(name)
	opts := keeper.VerifyOptions{Key: key, Progress: report}
	if !inspect {
		info, err := keeper.VerifyBackup(ctx, r, opts)
		done()
		if err != nil {
			return err
		}
		fmt.Printf("%s is whole: zxid %d, %d znodes, %d sessions, digest %016x (recomputed), taken %s from cluster %016x\n",
			*in, info.Zxid, info.Znodes, info.Sessions, info.Digest, info.Time.Format(time.RFC3339), info.ClusterID)
		return nil
	}
	inv, err := keeper.InspectBackup(ctx, r, opts)
	done()
	if err != nil {
		return err
	}
	printInventory(os.Stdout, *in, inv)
	return nil
}

func printInventory(w io.Writer, name string, inv keeper.Inventory) {
	i := inv.Info
	fmt.Fprintf(w, "%s\n", name)
	fmt.Fprintf(w, "  cluster   %016x (member %d)\n", i.ClusterID, i.Member)
	fmt.Fprintf(w, "  taken     %s at zxid %d\n", i.Time.Format(time.RFC3339), i.Zxid)
	fmt.Fprintf(w, "  members   %v\n", i.Members)
	fmt.Fprintf(w, "  znodes    %d (%d ephemeral, %d container, %d TTL), %d sessions\n", i.Znodes, inv.Ephemerals, inv.Containers, inv.TTLs, i.Sessions)
	fmt.Fprintf(w, "  data      %d bytes, largest znode %d bytes; stream %d bytes\n", inv.DataBytes, inv.MaxData, i.Bytes)
	fmt.Fprintf(w, "  digest    %016x\n", i.Digest)
	if o := inv.ZooKeeper; o != nil {
		fmt.Fprintf(w, "  imported  %v\n", o)
	}
	if len(inv.Largest) > 0 {
		fmt.Fprintf(w, "  largest subtrees:\n")
		for _, s := range inv.Largest {
			fmt.Fprintf(w, "    %-30s %8d znodes %12d bytes\n", s.Path, s.Znodes, s.Bytes)
		}
	}
}

func restore(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("restore", flag.ExitOnError)
	in := fs.String("in", "", "backup file to read")
	dir := fs.String("dir", "", "new member's data dir (must not exist or be empty)")
	id := fs.Uint64("id", 0, "the new member's id")
	peersFlag := fs.String("peers", "", "comma-separated ids of every member of the new cluster")
	keyFile := fs.String("key-file", "", "file with the 32-byte key of an encrypted backup")
	fs.Parse(args)
	if *in == "" || *dir == "" || *id == 0 || *peersFlag == "" {
		return errors.New("restore needs -in, -dir, -id and -peers")
	}
	peers, err := parsePeers(*peersFlag)
	if err != nil {
		return err
	}
	key, err := readKey(*keyFile)
	if err != nil {
		return err
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	report, done := progress("restore")
	start := time.Now()
	ri, err := keeper.Restore(ctx, bufio.NewReaderSize(f, 1<<20), *dir, keeper.RestoreOptions{ID: *id, Peers: peers, Key: key, Progress: report})
	done()
	if err != nil {
		return err
	}
	fmt.Printf("restored %s into %s as member %d of %v: zxid %d, %d znodes, new cluster id %016x, in %v\n",
		*in, *dir, *id, peers, ri.Backup.Zxid, ri.Backup.Znodes, ri.ClusterID, time.Since(start).Round(time.Millisecond))
	fmt.Println("open it with keeper.Open and the same ID and Peers; restore the same file for every other member")
	return nil
}
