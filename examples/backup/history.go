package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/keeper-go/keeper"
)

// archiveHistory lists every change of a znode (or, with -subtree, of
// every znode under it) the archive holds: when, which op, by which
// session and identities, and the data before and after.
func archiveHistory(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("archive-history", flag.ExitOnError)
	af := addArchiveFlags(fs)
	subtree := fs.Bool("subtree", false, "list the changes of every znode at or below the path")
	since := fs.String("since", "", "list changes proposed at or after this time (RFC 3339)")
	until := fs.String("until", "", "list changes proposed at or before this time (RFC 3339)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || !strings.HasPrefix(fs.Arg(0), "/") {
		return errors.New("archive-history needs one znode path, after the flags")
	}
	var opts []keeper.HistoryOption
	if *subtree {
		opts = append(opts, keeper.Subtree())
	}
	for _, f := range []struct {
		value string
		opt   func(time.Time) keeper.HistoryOption
	}{{*since, keeper.Since}, {*until, keeper.Until}} {
		if f.value == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, f.value)
		if err != nil {
			return fmt.Errorf("archive-history: %w", err)
		}
		opts = append(opts, f.opt(t))
	}
	arch, err := af.open(ctx, "archive-history")
	if err != nil {
		return err
	}
	n := 0
	for v, err := range arch.History(ctx, fs.Arg(0), opts...) {
		if err != nil {
			return fmt.Errorf("archive-history: after %d changes: %w", n, err)
		}
		n++
		var who []string
		for _, id := range v.Identities {
			who = append(who, id.Scheme+":"+id.ID)
		}
		flags := ""
		if v.Multi {
			flags += " multi"
		}
		if v.Uncertain {
			flags += " uncertain"
		}
		fmt.Fprintf(out, "zxid %d %s %s %s session %#x identities [%s] version %d%s: %q -> %q\n",
			v.Zxid, stamp(v.Time), v.Op, v.Path, int64(v.Session), strings.Join(who, " "), v.DataVersion, flags, v.Before, v.Data)
	}
	fmt.Fprintf(out, "%d changes\n", n)
	return nil
}
