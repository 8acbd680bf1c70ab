// Package leakcheck finds goroutines started by keeper's packages that
// outlive a test.
package leakcheck

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// module is the prefix of the creators this package watches.
const module = "created by github.com/keeper-go/keeper"

// Start records the module's goroutines running now and returns a func that
// fails t if others, created by the module but not by a package whose import
// path starts with one of ignore, are still running after a 5 s grace period.
func Start(t testing.TB, ignore ...string) func() {
	before := make(map[string]bool)
	for _, g := range goroutines(ignore) {
		before[id(g)] = true
	}
	return func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			var extra []string
			for _, g := range goroutines(ignore) {
				if !before[id(g)] {
					extra = append(extra, g)
				}
			}
			if len(extra) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d goroutines leaked:\n%s", len(extra), strings.Join(extra, "\n\n"))
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// goroutines returns the stacks of the module's goroutines, except those
// created in the ignored packages.
func goroutines(ignore []string) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var gs []string
next:
	for _, g := range strings.Split(string(buf), "\n\n") {
		if !strings.Contains(g, module) {
			continue
		}
		for _, p := range ignore {
			if strings.Contains(g, "created by "+p) {
				continue next
			}
		}
		gs = append(gs, g)
	}
	return gs
}

// id returns "goroutine N" from a stack's first line.
func id(stack string) string {
	line, _, _ := strings.Cut(stack, " [")
	return line
}
