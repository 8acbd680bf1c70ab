package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/keeper-go/keeper"
)

// importZK writes a stopped ZooKeeper server's data as a backup file.
func importZK(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("import-zk", flag.ExitOnError)
	logDir := fs.String("log-dir", "", "ZooKeeper's dataLogDir, when not the dataDir")
	keep := fs.Bool("keep-ephemerals", false, "keep ephemeral znodes as persistent ones (default: drop them)")
	ignoreDigest := fs.Bool("ignore-digest", false, "import even if the replay disagrees with ZooKeeper's digest")
	keyFile := fs.String("key-file", "", "file with a 32-byte key: encrypt the backup")
	tmp := fs.String("tmp", "", "directory for the staging store (default: the system's)")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: backup import-zk [flags] <zookeeper dataDir> <out.kbak>")
		fs.PrintDefaults()
	}
	fs.Parse(args)
	if fs.NArg() != 2 {
		fs.Usage()
		return errors.New("import-zk needs a ZooKeeper dataDir and an output file")
	}
	dir, out := fs.Arg(0), fs.Arg(1)
	key, err := readKey(*keyFile)
	if err != nil {
		return err
	}
	opts := keeper.ImportOptions{Key: key, TempDir: *tmp, IgnoreDigest: *ignoreDigest}
	if *keep {
		opts.Ephemerals = keeper.KeepEphemeralsAsPersistent
	}
	report, done := progress("import")
	opts.Progress = report
	start := time.Now()
	var info keeper.ImportInfo
	err = writeAtomically(out, func(w *bufio.Writer) error {
		var err error
		info, err = keeper.ImportZooKeeper(ctx, keeper.ZooKeeperDirs{Data: dir, Log: *logDir}, w, opts)
		return err
	})
	done()
	for _, r := range info.Refused {
		fmt.Fprintln(os.Stderr, "refused snapshot:", r)
	}
	if err != nil {
		return err
	}
	fmt.Printf("imported %s: ZooKeeper zxid %#x (snapshot %s + %d transactions from %d logs), %d znodes, %d bytes, in %v\n",
		dir, info.ZooKeeperZxid, filepath.Base(info.Snapshot), info.Txns, len(info.Logs), info.Backup.Znodes, info.Backup.Bytes, time.Since(start).Round(time.Millisecond))
	fmt.Printf("  ephemerals: %d (%v); %d ZooKeeper sessions not imported; %d znodes under /zookeeper/ left out\n",
		info.Ephemerals, opts.Ephemerals, info.Sessions, info.ZooKeeperZnodes)
	if info.DigestZxid != 0 {
		fmt.Printf("  ZooKeeper's digest matched at zxid %#x and after %d transactions\n", info.DigestZxid, info.TxnDigests)
	}
	for _, t := range info.Torn {
		fmt.Println("  dropped a torn record:", t)
	}
	for _, n := range info.Notes {
		fmt.Println("  note:", n)
	}
	return nil
}

// exportZK writes a backup file as a ZooKeeper snapshot.
func exportZK(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("export-zk", flag.ExitOnError)
	keep := fs.Bool("keep-ephemerals", false, "keep ephemeral znodes as persistent ones (default: drop them)")
	compression := fs.String("compression", "", `snapshot compression: "", "gz" or "snappy"`)
	keyFile := fs.String("key-file", "", "file with the 32-byte key of an encrypted backup")
	tmp := fs.String("tmp", "", "directory for the spool (default: the system's)")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: backup export-zk [flags] <in.kbak> <snapshot file | new ZooKeeper dataDir>")
		fs.PrintDefaults()
	}
	fs.Parse(args)
	if fs.NArg() != 2 {
		fs.Usage()
		return errors.New("export-zk needs a backup file and a target")
	}
	in, target := fs.Arg(0), fs.Arg(1)
	key, err := readKey(*keyFile)
	if err != nil {
		return err
	}
	opts := keeper.ExportOptions{Key: key, TempDir: *tmp}
	switch *compression {
	case "":
	case "gz":
		opts.Compression = keeper.SnapshotGzip
	case "snappy":
		opts.Compression = keeper.SnapshotSnappy
	default:
		return fmt.Errorf("unknown -compression %q", *compression)
	}
	if *keep {
		opts.Ephemerals = keeper.KeepEphemeralsAsPersistent
	}
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	// A directory target gets the file where ZooKeeper looks, under the
	// name it needs; the name is known once the backup is read, so the
	// snapshot is written to a temporary name first.
	intoDir := false
	if fi, err := os.Stat(target); err == nil && fi.IsDir() {
		intoDir = true
		target = filepath.Join(target, "version-2")
		if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
		target = filepath.Join(target, "snapshot.export")
	}
	report, done := progress("export")
	opts.Progress = report
	start := time.Now()
	var info keeper.ExportInfo
	err = writeAtomically(target, func(w *bufio.Writer) error {
		var err error
		info, err = keeper.ExportZooKeeper(ctx, bufio.NewReaderSize(f, 1<<20), w, opts)
		return err
	})
	done()
	if err != nil {
		return err
	}
	if intoDir {
		final := filepath.Join(filepath.Dir(target), info.FileName)
		if err := os.Rename(target, final); err != nil {
			return err
		}
		target = final
	}
	fmt.Printf("exported %s to %s: zxid %#x, %d znodes, %d bytes, ZooKeeper digest %016x, in %v\n",
		in, target, info.Zxid, info.Znodes, info.Bytes, uint64(info.Digest), time.Since(start).Round(time.Millisecond))
	if !intoDir && filepath.Base(target) != info.FileName {
		fmt.Printf("  ZooKeeper loads it only as <dataDir>/version-2/%s\n", info.FileName)
	}
	if info.Ephemerals > 0 {
		fmt.Printf("  ephemerals: %d (%v)\n", info.Ephemerals, opts.Ephemerals)
	}
	return nil
}

// writeAtomically writes a file through write: beside the target, synced,
// renamed into place only when write succeeded; on any failure nothing is
// left behind.
func writeAtomically(target string, write func(w *bufio.Writer) error) error {
	tmp := target + ".partial"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	w := bufio.NewWriterSize(f, 1<<20)
	err = write(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, target)
}
