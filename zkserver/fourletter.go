package zkserver

import (
	"bytes"
	"os"
	"strings"
	"time"

	"github.com/keeper-go/keeper"
)

// Version is the ZooKeeper version the server reports (srvr, stat, envi,
// mntr): the newest protocol it serves, with keeper named where ZooKeeper
// names its git revision, so that tools parsing "major.minor.patch" read
// 3.9.
const Version = "3.9.0-keeper"

// notServing is ZooKeeper's answer to most words while it serves no
// clients; keeper's member gives it while it knows no leader or has
// failed a consistency check.
const notServing = "This ZooKeeper instance is not currently serving requests\n"

// A fourLetterAnswer writes a word's answer to w. c is the connection that
// asked, st the member's status when it asked.
type fourLetterAnswer func(s *Server, c *conn, st keeper.Status, w *bytes.Buffer)

// A fourLetterWord is a word the server answers: its answer, and whether
// it answers while the member is not serving, rather than with notServing.
type fourLetterWord struct {
	answer fourLetterAnswer
	always bool
}

// fourLetterWords are the words the server answers, as ZooKeeper 3.8
// words them (its command classes under org.apache.zookeeper.server.command).
var fourLetterWords = map[string]fourLetterWord{
	// The process answers; whether it serves is srvr's to say.
	"ruok": {always: true, answer: func(_ *Server, _ *conn, _ keeper.Status, w *bytes.Buffer) { w.WriteString("imok") }},
	// keeper has no read-only mode: a member serves reads and writes, or
	// nothing ("null", as ZooKeeper's answer when it serves nothing).
	"isro": {always: true, answer: func(_ *Server, _ *conn, st keeper.Status, w *bytes.Buffer) {
		if serving(st) {
			w.WriteString("rw")
		} else {
			w.WriteString("null")
		}
	}},
	"envi": {always: true, answer: (*Server).writeEnvi},
	"srvr": {answer: func(s *Server, _ *conn, st keeper.Status, w *bytes.Buffer) { s.writeStat(st, w, false) }},
	"stat": {answer: func(s *Server, _ *conn, st keeper.Status, w *bytes.Buffer) { s.writeStat(st, w, true) }},
	"cons": {answer: (*Server).writeCons},
	"mntr": {answer: (*Server).writeMntr},
	"conf": {answer: (*Server).writeConf},
	"dirs": {answer: (*Server).writeDirs},
	"wchs": {answer: (*Server).writeWchs},
	"wchc": {answer: func(s *Server, _ *conn, _ keeper.Status, w *bytes.Buffer) { s.writeWatches(w, false) }},
	"wchp": {answer: func(s *Server, _ *conn, _ keeper.Status, w *bytes.Buffer) { s.writeWatches(w, true) }},
	"crst": {answer: func(s *Server, _ *conn, _ keeper.Status, w *bytes.Buffer) {
		for _, c := range s.connections() {
			c.stats.reset()
		}
		w.WriteString("Connection stats reset.\n")
	}},
	"srst": {answer: func(s *Server, _ *conn, _ keeper.Status, w *bytes.Buffer) {
		s.stats.reset()
		w.WriteString("Server stats reset.\n")
	}},
}

// knownWords are every word ZooKeeper 3.8 knows. The ones keeper does not
// serve (dump, gtmk, stmk, hash) are refused as words not allowed are, so
// that a client gets an answer rather than a closed connection.
var knownWords = map[string]bool{
	"ruok": true, "isro": true, "envi": true, "srvr": true, "stat": true, "cons": true,
	"mntr": true, "conf": true, "dirs": true, "wchs": true, "wchc": true, "wchp": true,
	"crst": true, "srst": true, "dump": true, "gtmk": true, "stmk": true, "hash": true,
}

// allowedWords is the allow-list of Options.FourLetterWords, read as
// ZooKeeper reads 4lw.commands.whitelist: entries are trimmed, empty ones
// skipped, "*" stands for every word served, and srvr is always allowed
// (zkServer.sh status needs it).
func allowedWords(words []string) map[string]bool {
	out := map[string]bool{"srvr": true}
	for _, w := range words {
		w = strings.TrimSpace(w)
		if w == "*" {
			for k := range fourLetterWords {
				out[k] = true
			}
			continue
		}
		if w != "" {
			out[w] = true
		}
	}
	return out
}

// fourLetterWord answers word on the connection, which then closes, as
// ZooKeeper does. Like ZooKeeper, the server counts the word as a packet
// received and its answer as one sent.
func (c *conn) fourLetterWord(word string) {
	s := c.srv
	c.stats.fourLetter.Store(true)
	c.stats.received.Add(1)
	s.stats.received.Add(1)
	_ = c.nc.SetWriteDeadline(time.Now().Add(s.opts.HandshakeTimeout))
	var b bytes.Buffer
	st := s.n.Status()
	fw, served := fourLetterWords[word]
	switch {
	case !served || !s.words[word]:
		b.WriteString(word + " is not executed because it is not in the whitelist.\n")
	case !fw.always && !serving(st):
		b.WriteString(notServing)
	default:
		fw.answer(s, c, st, &b)
	}
	if _, err := c.nc.Write(b.Bytes()); err == nil {
		s.stats.sent.Add(1)
	}
}

// serving reports whether the member serves clients: it knows a leader and
// has not failed a consistency check. A ZooKeeper server that is not
// serving answers most words with notServing.
func serving(st keeper.Status) bool { return st.Leader != 0 && !st.Corrupt }

// fullVersion is Version as ZooKeeper's Version.getFullVersion words it,
// with the build date of the running program: its executable's
// modification time, or the server's start when that is unknown.
func fullVersion(started time.Time) string {
	built := started
	if exe, err := os.Executable(); err == nil {
		if fi, err := os.Stat(exe); err == nil {
			built = fi.ModTime()
		}
	}
	return Version + ", built on " + built.UTC().Format("2006-01-02 15:04") + " UTC"
}
