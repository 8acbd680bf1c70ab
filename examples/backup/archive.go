package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keeper-go/keeper"
)

// archiveFlags are the flags every archive command takes: where the
// archive is, its key, and which cluster's archive to read.
type archiveFlags struct {
	target, keyFile, cluster *string
}

func addArchiveFlags(fs *flag.FlagSet) archiveFlags {
	return archiveFlags{
		target:  fs.String("target", "", "directory the members archive to (ArchiveConfig.Target = keeper.DirTarget(dir))"),
		keyFile: fs.String("key-file", "", "file with the 32-byte key of an encrypted archive"),
		cluster: fs.String("cluster", "", "cluster id in hex, when the target holds several (default: the newest)"),
	}
}

// open opens the archive the flags name.
func (f archiveFlags) open(ctx context.Context, cmd string) (*keeper.Archive, error) {
	if *f.target == "" {
		return nil, fmt.Errorf("%s needs -target", cmd)
	}
	key, err := readKey(*f.keyFile)
	if err != nil {
		return nil, err
	}
	opts := keeper.ArchiveOptions{Key: key}
	if *f.cluster != "" {
		if opts.ClusterID, err = strconv.ParseUint(*f.cluster, 16, 64); err != nil {
			return nil, fmt.Errorf("bad -cluster %q: %w", *f.cluster, err)
		}
	}
	return keeper.OpenArchive(ctx, keeper.DirTarget(*f.target), opts)
}

// pointFlags name a point of the archive: -zxid, -time or -mark, or the
// word latest, and -exclusive for the point just before.
type pointFlags struct {
	zxid      *uint64
	time      *string
	mark      *string
	exclusive *bool
}

func addPointFlags(fs *flag.FlagSet) pointFlags {
	return pointFlags{
		zxid:      fs.Uint64("zxid", 0, "the tree right after this zxid"),
		time:      fs.String("time", "", "the tree at this time (RFC 3339)"),
		mark:      fs.String("mark", "", "the tree at the newest mark of this name (Node.Mark)"),
		exclusive: fs.Bool("exclusive", false, "the point just before: before the zxid, the time or the mark"),
	}
}

// parse parses args with fs, whose flags include pf's, and returns the
// point they name. The word latest may stand among the flags.
func (pf pointFlags) parse(fs *flag.FlagSet, args []string) (keeper.Point, error) {
	fs.Parse(args)
	latest := false
	for fs.NArg() > 0 {
		if fs.Arg(0) != "latest" {
			return keeper.Point{}, fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
		}
		latest = true
		fs.Parse(fs.Args()[1:])
	}
	var points []keeper.Point
	if *pf.zxid != 0 {
		points = append(points, keeper.AtZxid(keeper.Zxid(*pf.zxid)))
	}
	if *pf.time != "" {
		t, err := time.Parse(time.RFC3339Nano, *pf.time)
		if err != nil {
			return keeper.Point{}, fmt.Errorf("bad -time: %w", err)
		}
		points = append(points, keeper.AtTime(t))
	}
	if *pf.mark != "" {
		points = append(points, keeper.AtMark(*pf.mark))
	}
	if latest {
		points = append(points, keeper.Latest())
	}
	if len(points) != 1 {
		return keeper.Point{}, fmt.Errorf("%s needs one point: -zxid N, -time RFC3339, -mark NAME or latest", fs.Name())
	}
	if *pf.exclusive {
		return points[0].Exclusive(), nil
	}
	return points[0], nil
}

// archiveList prints the clusters archived on the target, then the chosen
// cluster's bases, segments and gaps as their names describe them.
func archiveList(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("archive-list", flag.ExitOnError)
	af := addArchiveFlags(fs)
	fs.Parse(args)
	arch, err := af.open(ctx, "archive-list")
	if err != nil {
		return err
	}
	clusters, err := arch.Clusters(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s holds the archives of %d cluster(s):\n", *af.target, len(clusters))
	for _, c := range clusters {
		fmt.Fprintf(out, "  %016x  %d objects, %d bytes, newest %s\n", c.ClusterID, c.Objects, c.Bytes, stamp(c.Newest))
	}
	objs, err := keeper.DirTarget(*af.target).List(ctx, fmt.Sprintf("%016x/", arch.ClusterID()))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "cluster %016x:\n", arch.ClusterID())
	var names []archName
	var bytes int64
	for _, o := range objs {
		if n, ok := parseObjectName(o); ok {
			names = append(names, n)
			bytes += o.Size
		}
	}
	// Bases, gaps and segments each list in zxid order; show them merged.
	slices.SortStableFunc(names, func(a, b archName) int {
		if a.first != b.first {
			return cmp.Compare(a.first, b.first)
		}
		return cmp.Compare(a.kind, b.kind) // base, gap, log
	})
	var bases, segments, gaps int
	var reach uint64 // the last zxid the objects listed so far reach without a hole
	for _, n := range names {
		if reach != 0 && n.first > reach+1 {
			fmt.Fprintf(out, "  MISSING  zxid %d..%d: no object holds them\n", reach+1, n.first-1)
		}
		switch n.kind {
		case "base":
			bases++
			fmt.Fprintf(out, "  base     zxid %d at %s, %d bytes\n", n.first, stamp(n.t1), n.size)
		case "log":
			segments++
			fmt.Fprintf(out, "  segment  zxid %d..%d, %s .. %s, %d bytes\n", n.first, n.last, stamp(n.t0), stamp(n.t1), n.size)
		case "gap":
			gaps++
			fmt.Fprintf(out, "  GAP      zxid %d..%d were released from the raft log before they were archived\n", n.first, n.last)
		}
		reach = max(reach, n.last)
	}
	fmt.Fprintf(out, "  %d bases, %d segments, %d gaps, %d bytes\n", bases, segments, gaps, bytes)
	return nil
}

// archName is what an archive object's name says (docs/BACKUP_FORMAT.md,
// "Archive"): its kind, zxid range and times.
type archName struct {
	kind        string // base, log or gap
	first, last uint64
	t0, t1      time.Time
	size        int64
}

// parseObjectName reads an archive object's name; ok is false for other
// objects.
func parseObjectName(o keeper.TargetObject) (archName, bool) {
	parts := strings.Split(o.Name, "/")
	if len(parts) != 3 {
		return archName{}, false
	}
	stem, _, _ := strings.Cut(parts[2], ".")
	var nums []uint64
	for _, s := range strings.Split(stem, "-") {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return archName{}, false
		}
		nums = append(nums, v)
	}
	ms := func(v uint64) time.Time {
		if v == 0 {
			return time.Time{}
		}
		return time.UnixMilli(int64(v))
	}
	switch {
	case parts[1] == "base" && len(nums) == 2:
		return archName{kind: "base", first: nums[0], last: nums[0], t0: ms(nums[1]), t1: ms(nums[1]), size: o.Size}, true
	case parts[1] == "log" && len(nums) == 4:
		return archName{kind: "log", first: nums[0], last: nums[1], t0: ms(nums[2]), t1: ms(nums[3]), size: o.Size}, true
	case parts[1] == "gap" && len(nums) == 2:
		return archName{kind: "gap", first: nums[0], last: nums[1], size: o.Size}, true
	}
	return archName{}, false
}

// stamp prints a time to the millisecond, or "-" for none.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// archivePlan prints what a restore to a point would read.
func archivePlan(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("archive-plan", flag.ExitOnError)
	af := addArchiveFlags(fs)
	p, err := addPointFlags(fs).parse(fs, args)
	if err != nil {
		return err
	}
	arch, err := af.open(ctx, "archive-plan")
	if err != nil {
		return err
	}
	plan, err := arch.Plan(ctx, p)
	if err != nil {
		return err
	}
	printPlan(out, plan)
	return nil
}

func printPlan(out io.Writer, plan keeper.RestorePlan) {
	fmt.Fprintf(out, "%v is zxid %d:\n", plan.Point, plan.Zxid)
	fmt.Fprintf(out, "  base     zxid %d at %s, %d bytes (%s)\n", plan.Base.First, stamp(plan.Base.Time), plan.Base.Size, plan.Base.Name)
	for _, s := range plan.Segments {
		fmt.Fprintf(out, "  segment  zxid %d..%d to %s, %d bytes\n", s.First, s.Last, stamp(s.Time), s.Size)
	}
	fmt.Fprintf(out, "  applies %d entries after the base, reads %d bytes\n", plan.Entries, plan.Bytes)
}

// archiveVerify reads the whole archive and replays it; problems make it
// fail.
func archiveVerify(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("archive-verify", flag.ExitOnError)
	af := addArchiveFlags(fs)
	fs.Parse(args)
	arch, err := af.open(ctx, "archive-verify")
	if err != nil {
		return err
	}
	start := time.Now()
	rep, err := arch.Verify(ctx)
	if err != nil && len(rep.Problems) == 0 {
		return err // the target failed, or ctx ended
	}
	fmt.Fprintf(out, "archive of cluster %016x: %d bases, %d segments, %d gaps, %d bytes, read in %v\n",
		arch.ClusterID(), rep.Bases, rep.Segments, rep.Gaps, rep.Bytes, time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(out, "  restores zxid %d..%d; %d digests matched the cluster's\n", rep.From, rep.To, rep.DigestsChecked)
	for _, m := range rep.Missing {
		fmt.Fprintf(out, "  missing  zxid %d..%d\n", m.First, m.Last)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(out, "  problem: %v\n", p)
	}
	if len(rep.Problems) > 0 {
		return fmt.Errorf("archive-verify: %d problem(s)", len(rep.Problems))
	}
	return nil
}

// archiveDrill rebuilds the tree at a point and throws it away.
func archiveDrill(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("archive-drill", flag.ExitOnError)
	af := addArchiveFlags(fs)
	p, err := addPointFlags(fs).parse(fs, args)
	if err != nil {
		return err
	}
	arch, err := af.open(ctx, "archive-drill")
	if err != nil {
		return err
	}
	d, err := arch.Drill(ctx, p)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "drill to %v: rebuilt zxid %d, digest %016x, %d digests matched the cluster's, from the base at zxid %d and %d entries, in %v\n",
		p, d.Zxid, d.Digest, d.DigestsChecked, d.Plan.Base.First, d.Plan.Entries, d.Took.Round(time.Millisecond))
	return nil
}

// archiveRestore restores the tree at a point into a new member's data
// dir.
func archiveRestore(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("archive-restore", flag.ExitOnError)
	af := addArchiveFlags(fs)
	dir := fs.String("dir", "", "new member's data dir (must not exist or be empty)")
	id := fs.Uint64("id", 0, "the new member's id")
	peersFlag := fs.String("peers", "", "comma-separated ids of every member of the new cluster")
	p, err := addPointFlags(fs).parse(fs, args)
	if err != nil {
		return err
	}
	if *dir == "" || *id == 0 || *peersFlag == "" {
		return errors.New("archive-restore needs -dir, -id and -peers")
	}
	peers, err := parsePeers(*peersFlag)
	if err != nil {
		return err
	}
	arch, err := af.open(ctx, "archive-restore")
	if err != nil {
		return err
	}
	// The plan first: it names what the archive lacks for a point it cannot
	// reach before anything is read.
	plan, err := arch.Plan(ctx, p)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "restoring %v (zxid %d): the base at zxid %d and %d entries, %d bytes\n", p, plan.Zxid, plan.Base.First, plan.Entries, plan.Bytes)
	report, done := progress("restore")
	start := time.Now()
	r := arch.At(p)
	defer r.Close()
	ri, err := keeper.Restore(ctx, r, *dir, keeper.RestoreOptions{ID: *id, Peers: peers, Progress: report})
	done()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "restored %v (zxid %d) into %s as member %d of %v: %d znodes, new cluster id %016x, in %v\n",
		p, ri.Backup.Zxid, *dir, *id, peers, ri.Backup.Znodes, ri.ClusterID, time.Since(start).Round(time.Millisecond))
	fmt.Fprintln(out, "open it with keeper.Open and the same ID and Peers; run archive-restore with the same point for every other member")
	return nil
}

// parsePeers parses a comma-separated list of member ids.
func parsePeers(s string) ([]uint64, error) {
	var peers []uint64
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(p), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad -peers %q: %w", s, err)
		}
		peers = append(peers, n)
	}
	return peers, nil
}
