package zkserver

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/keeper-go/keeper"
)

// watched is one connection's watched paths, as ZooKeeper's watch words
// list them.
type watched struct {
	session keeper.SessionID
	paths   []string // sorted, each once
}

// watchedPaths returns, for each connection of the server whose session
// watches something, the paths it watches, as ZooKeeper's WatchManager of
// data watches holds them: one entry per connection and path, whatever the
// kinds. Like ZooKeeper's wchs, wchc and wchp, it leaves child watches out
// (ZooKeeper keeps them in a table of their own) and counts data, exist
// and persistent watches.
func (s *Server) watchedPaths() []watched {
	var out []watched
	for _, c := range s.connections() {
		sess, _ := c.stats.session()
		if sess == nil {
			continue
		}
		var paths []string
		for _, w := range sess.Watches() {
			if w.Kind() == keeper.ChildWatch {
				continue
			}
			if n := len(paths); n == 0 || paths[n-1] != w.Path() {
				paths = append(paths, w.Path()) // Watches is sorted by path
			}
		}
		if len(paths) > 0 {
			out = append(out, watched{session: sess.ID(), paths: paths})
		}
	}
	return out
}

// writeWchs writes wchs's answer, as ZooKeeper's WatchManager.toString
// words it.
func (s *Server) writeWchs(_ *conn, _ keeper.Status, w *bytes.Buffer) {
	all := s.watchedPaths()
	paths := map[string]bool{}
	total := 0
	for _, c := range all {
		for _, p := range c.paths {
			paths[p] = true
		}
		total += len(c.paths)
	}
	fmt.Fprintf(w, "%d connections watching %d paths\nTotal watches:%d\n", len(all), len(paths), total)
}

// writeWatches writes wchc's answer (each session, then the paths it
// watches) or, byPath, wchp's (each path, then the sessions watching it),
// as ZooKeeper's WatchManager.dumpWatches words them, ending with an empty
// line. Sessions come in the order their connections were established,
// paths sorted.
func (s *Server) writeWatches(w *bytes.Buffer, byPath bool) {
	all := s.watchedPaths()
	if !byPath {
		for _, c := range all {
			fmt.Fprintf(w, "0x%s\n", javaHex(int64(c.session)))
			for _, p := range c.paths {
				fmt.Fprintf(w, "\t%s\n", p)
			}
		}
		w.WriteString("\n")
		return
	}
	watchers := map[string][]keeper.SessionID{}
	for _, c := range all {
		for _, p := range c.paths {
			watchers[p] = append(watchers[p], c.session)
		}
	}
	paths := make([]string, 0, len(watchers))
	for p := range watchers {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		fmt.Fprintf(w, "%s\n", p)
		for _, id := range watchers[p] {
			fmt.Fprintf(w, "\t0x%s\n", javaHex(int64(id)))
		}
	}
	w.WriteString("\n")
}
