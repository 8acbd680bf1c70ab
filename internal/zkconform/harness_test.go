package zkconform

import (
	"errors"
	"strings"
	"testing"
)

// TestNormaliseZkCli pins what the zkCli comparison ignores: times, zxids
// and owning session ids; and what it keeps: everything else, "no owner"
// included.
func TestNormaliseZkCli(t *testing.T) {
	for in, want := range map[string]string{
		"ctime = Wed Dec 02 00:35:21 UTC 2026": "ctime = <time>",
		"mtime = Thu Jan 01 00:00:00 UTC 1970": "mtime = <time>",
		"cZxid = 0x18":                         "cZxid = <zxid>",
		"pZxid = 0x0":                          "pZxid = <zxid>",
		"ephemeralOwner = 0x1000291f44f0001":   "ephemeralOwner = <session>",
		"ephemeralOwner = 0x0":                 "ephemeralOwner = 0x0",
		"dataVersion = 3":                      "dataVersion = 3",
		"Node does not exist: /a  ":            "Node does not exist: /a",
		"cZxid = 0x18 extra":                   "cZxid = 0x18 extra",
	} {
		if got := normaliseZkCli(in); got != want {
			t.Errorf("normaliseZkCli(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFirstDifference checks that a transcript differing in one line, or
// in its length, is reported with the line.
func TestFirstDifference(t *testing.T) {
	if d := firstDifference("a\nb\n", "a\nb\n"); d != "" {
		t.Fatalf("equal texts: %q", d)
	}
	if d := firstDifference("a\nb\n", "a\nc\n"); !strings.Contains(d, "line 2") {
		t.Fatalf("changed line: %q", d)
	}
	if d := firstDifference("a\n", "a\nb\n"); !strings.Contains(d, "line 2") {
		t.Fatalf("added line: %q", d)
	}
}

// TestScriptFailure checks that a script run counts as passed only when
// it exited 0, checked something and reported no violation.
func TestScriptFailure(t *testing.T) {
	exit := errors.New("exit status 1")
	for _, c := range []struct {
		out  string
		err  error
		fail bool
	}{
		{"ok: a\nok: b\n", nil, false},
		{"ok: a\nFAIL: b\n", nil, true},
		{"ok: a\n", exit, true},
		{"nothing checked\n", nil, true},
	} {
		if f := scriptFailure("x.py", c.out, c.err); (f != "") != c.fail {
			t.Errorf("scriptFailure(%q, %v) = %q, want failure %v", c.out, c.err, f, c.fail)
		}
	}
}

// TestCuratorFailures checks that a Curator run passes only when every
// recipe reported ok.
func TestCuratorFailures(t *testing.T) {
	all := "result mutex ok a\nresult latch ok b\nresult barrier ok c\nresult cache ok d\ndone\n"
	if f := curatorFailures(all); len(f) != 0 {
		t.Fatalf("all ok: %v", f)
	}
	if f := curatorFailures(strings.Replace(all, "barrier ok", "barrier FAIL 2 early", 1)); len(f) != 1 || !strings.HasPrefix(f[0], "barrier: FAIL") {
		t.Fatalf("one failed: %v", f)
	}
	if f := curatorFailures(strings.Replace(all, "result cache ok d\n", "", 1)); len(f) != 1 || f[0] != "cache: no result" {
		t.Fatalf("one missing: %v", f)
	}
}
