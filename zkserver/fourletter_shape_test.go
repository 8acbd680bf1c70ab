package zkserver_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// The shape of ZooKeeper 3.8's four-letter-word answers, as the tools that
// read them parse them, and a comparison of two answers by that shape.
//
// The value formats come from the parsers in use: go-zookeeper's FLWSrvr
// and FLWCons regular expressions (flw.go; its version pattern predates
// 3.8's "yyyy-MM-dd HH:mm UTC" build dates and is taken in 3.8's form),
// the Datadog zk check (a version's "\d+\.\d+\.\d+", integers after the
// colons of stat, a hexadecimal zxid, mntr's tab-separated integers),
// kazoo's envi parse ("zookeeper.version=" then a dotted version) and
// ZooKeeper's own printing (Java's Double.toString for mean latencies,
// Long.toHexString for zxids and session ids).

const (
	versionRe    = `^\d+\.\d+\.\d+-\S+, built on \d{4}-\d\d-\d\d \d\d:\d\d UTC$`
	javaDoubleRe = `^-?\d+\.\d+(E-?\d+)?$`
	uintRe       = `^\d+$`
	intRe        = `^-?\d+$`
	hexRe        = `^0x[0-9a-f]+$`
	modeRe       = `^(standalone|leader|follower|observer)$`
	// A connection in brief (stat, and cons for one without a session)
	// and in full (cons), as go-zookeeper's FLWCons reads it.
	briefClientRe   = `^ /\d+\.\d+\.\d+\.\d+:\d+\[[0-9a-f]+\]\(queued=\d+,recved=\d+,sent=\d+\)$`
	sessionClientRe = `^ /\d+\.\d+\.\d+\.\d+:\d+\[[0-9a-f]+\]\(queued=\d+,recved=\d+,sent=\d+,sid=0x[0-9a-f]+,lop=\w+,est=\d+,to=\d+,` +
		`lcxid=0x[0-9a-f]+,lzxid=0x[0-9a-f]+,lresp=\d+,llat=\d+,minlat=\d+,avglat=\d+,maxlat=\d+\)$`
)

// A field is one line of an answer: its key, as the word's parsers split
// it, and its value.
type field struct{ key, value string }

// A shape is how a word's lines split into fields and what their values
// look like.
type shape struct {
	// split returns a line's key and value.
	split func(line string) (key, value string)
	// values are the value patterns by key, byKey by a pattern of keys;
	// def is for the other keys.
	values map[string]string
	byKey  map[string]string
	def    string
	// prefix: the answer's keys may stop before ZooKeeper's do (mntr:
	// ZooKeeper's counters and summaries after its gauges), and keys
	// starting with prefix come after all of ZooKeeper's (keeper's own).
	prefix string
}

// splitOn splits a line at the first sep; a line without it is all key.
func splitOn(sep string) func(string) (string, string) {
	return func(line string) (string, string) {
		k, v, _ := strings.Cut(line, sep)
		return k, v
	}
}

// statSplit splits srvr's and stat's lines: connection lines are "client"
// fields, the others "Key: value".
func statSplit(line string) (string, string) {
	if strings.HasPrefix(line, " /") {
		return "client", line
	}
	return splitOn(": ")(line)
}

var statValues = map[string]string{
	"Zookeeper version":           versionRe,
	"Clients:":                    `^$`,
	"":                            `^$`,
	"Latency min/avg/max":         `^\d+/` + strings.Trim(javaDoubleRe, "^$") + `/\d+$`,
	"Zxid":                        hexRe,
	"Mode":                        modeRe,
	"Proposal sizes last/min/max": `^-?\d+/-?\d+/-?\d+$`,
	"client":                      briefClientRe,
}

var shapes = map[string]shape{
	"srvr": {split: statSplit, values: statValues, def: uintRe},
	"stat": {split: statSplit, values: statValues, def: uintRe},
	"cons": {split: statSplit, values: map[string]string{
		"":       `^$`,
		"client": `(` + briefClientRe + `)|(` + sessionClientRe + `)`,
	}},
	"mntr": {split: splitOn("\t"), prefix: "keeper_", def: intRe, values: map[string]string{
		"zk_version":                     versionRe,
		"zk_server_state":                modeRe,
		"zk_peer_state":                  `^(leading|following|observing) - \w+$`,
		"zk_avg_latency":                 javaDoubleRe,
		"zk_connection_drop_probability": javaDoubleRe,
		"keeper_consistency":             javaDoubleRe,
		"keeper_availability":            javaDoubleRe,
		"keeper_archive_lag_seconds":     javaDoubleRe,
	}},
	"envi": {split: splitOn("="), def: `^\S`, values: map[string]string{
		"Environment:":      `^$`,
		"zookeeper.version": versionRe,
		"os.memory.free":    `^\d+MB$`,
		"os.memory.max":     `^\d+MB$`,
		"os.memory.total":   `^\d+MB$`,
	}},
	"conf": {split: splitOn("="), def: intRe, values: map[string]string{
		"dataDir":      `^/`,
		"dataLogDir":   `^/`,
		"electionPort": `^[\d|]*$`,
		"quorumPort":   `^[\d|]*$`,
		"membership: ": `^$`,
		"version":      `^[0-9a-f]+$`,
	}, byKey: map[string]string{
		// QuorumServer.toString: addresses (none for keeper), the role,
		// the client address if not configured statically.
		`^server\.\d+$`: `^([^:;]*:\d+:\d+(\|[^:;]*:\d+:\d+)*)?:(participant|observer)(;.*)?$`,
	}},
	"dirs": {split: splitOn(": "), def: uintRe},
	"wchs": {split: func(line string) (string, string) {
		if strings.HasPrefix(line, "Total watches:") {
			return "Total watches:", strings.TrimPrefix(line, "Total watches:")
		}
		return "summary", line
	}, def: uintRe, values: map[string]string{"summary": `^\d+ connections watching \d+ paths$`}},
}

// answerLines splits an answer into its lines and its ending: how many
// newlines it ends with (0, 1 or 2: an empty last line).
func answerLines(text string) (lines []string, ending int) {
	for ending < 2 && strings.HasSuffix(text, "\n") {
		text = strings.TrimSuffix(text, "\n")
		ending++
	}
	if ending == 2 {
		// An answer ending with an empty line keeps it as a line.
		return append(strings.Split(text, "\n"), ""), ending
	}
	return strings.Split(text, "\n"), ending
}

// fields splits text by sh, with runs of "client" fields as one key (the
// number of connections is the test's, not the shape's).
func (sh shape) fields(text string) (keys []string, all []field, ending int) {
	lines, ending := answerLines(text)
	for _, l := range lines {
		k, v := sh.split(l)
		all = append(all, field{k, v})
		if k == "client" && len(keys) > 0 && keys[len(keys)-1] == k {
			continue
		}
		keys = append(keys, k)
	}
	return keys, all, ending
}

// shapeDiff compares got (keeper's answer) with want (ZooKeeper's) by
// shape: the same ending, the same keys in the same order (got's may stop
// early and add keys with sh.prefix after them when the shape allows), and
// every value of both in its key's pattern. It returns the differences.
func shapeDiff(word string, got, want string) []string {
	sh, ok := shapes[word]
	if !ok {
		panic("no shape for " + word)
	}
	var diffs []string
	gotKeys, gotFields, gotEnd := sh.fields(got)
	wantKeys, wantFields, wantEnd := sh.fields(want)
	if gotEnd != wantEnd {
		diffs = append(diffs, fmt.Sprintf("ends with %d newlines, ZooKeeper's with %d", gotEnd, wantEnd))
	}
	if sh.prefix != "" {
		own := len(gotKeys)
		for i, k := range gotKeys {
			if strings.HasPrefix(k, sh.prefix) {
				own = i
				break
			}
		}
		for _, k := range gotKeys[own:] {
			if !strings.HasPrefix(k, sh.prefix) {
				diffs = append(diffs, fmt.Sprintf("key %q after keeper's own keys", k))
			}
		}
		gotKeys = gotKeys[:own]
		if len(gotKeys) <= len(wantKeys) {
			// ZooKeeper's keys after keeper's last are not compared, nor
			// their values (mntr's fields are one per key).
			wantKeys = wantKeys[:len(gotKeys)]
			wantFields = wantFields[:len(gotKeys)]
		}
	}
	if !slices.Equal(gotKeys, wantKeys) {
		diffs = append(diffs, fmt.Sprintf("keys\n  %q\nZooKeeper's\n  %q", gotKeys, wantKeys))
	}
	check := func(who string, fs []field) {
		for _, f := range fs {
			pat, ok := sh.values[f.key]
			for kp, vp := range sh.byKey {
				if !ok && regexp.MustCompile(kp).MatchString(f.key) {
					pat, ok = vp, true
				}
			}
			if !ok {
				pat = sh.def
			}
			if pat == "" {
				pat = `^$`
			}
			if !regexp.MustCompile(pat).MatchString(f.value) {
				diffs = append(diffs, fmt.Sprintf("%s value of %q: %q does not match %s", who, f.key, f.value, pat))
			}
		}
	}
	check("keeper's", gotFields)
	check("ZooKeeper's", wantFields)
	return diffs
}

// valueOf returns the value of key in a word's answer.
func valueOf(word, text, key string) string {
	_, all, _ := shapes[word].fields(text)
	for _, f := range all {
		if f.key == key {
			return f.value
		}
	}
	return ""
}

// clientKinds returns the kinds of connection lines in a stat or cons
// answer, sorted and each once: "brief", "session".
func clientKinds(text string) []string {
	var kinds []string
	_, all, _ := shapes["cons"].fields(text)
	for _, f := range all {
		if f.key != "client" {
			continue
		}
		kind := "brief"
		if regexp.MustCompile(sessionClientRe).MatchString(f.value) {
			kind = "session"
		}
		if !slices.Contains(kinds, kind) {
			kinds = append(kinds, kind)
		}
	}
	slices.Sort(kinds)
	return kinds
}

// watchTable reads wchc's or wchp's answer as its groups (a session with
// the paths it watches, or a path with the sessions watching it), with the
// group heads left out when they are session ids: each group is its sorted
// members, or its head and its member count, and the groups are sorted.
func watchTable(word, text string) []string {
	var groups []string
	var head string
	var members []string
	flush := func() {
		if head == "" {
			return
		}
		slices.Sort(members)
		if word == "wchc" {
			groups = append(groups, strings.Join(members, ","))
		} else {
			groups = append(groups, fmt.Sprintf("%s:%d", head, len(members)))
		}
		head, members = "", nil
	}
	for _, l := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(l, "\t"):
			members = append(members, l[1:])
		case l != "":
			flush()
			head = l
		}
	}
	flush()
	slices.Sort(groups)
	return groups
}
