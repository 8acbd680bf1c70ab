package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keeper-go/keeper/zkserver"
)

// errUsage marks a bad command line or config file (main prints the
// program's name before every error).
var errUsage = errors.New("bad usage")

// config is what one member needs to run. Every field is a flag; a config
// file holds the same names as "name = value" lines, and flags given on the
// command line override the file.
type config struct {
	id        uint64
	dir       string
	clusterID uint64
	peers     peerList // every member, this one included: id -> host:port
	listen    string   // peer listener; default this member's address in peers
	certs     string   // dir of -init's files: ca.pem, member-<id>.pem, member-<id>-key.pem
	ca        string
	cert      string
	key       string

	admin          string // HTTP admin address
	adminAnyAddr   bool   // allow a non-loopback admin address
	keepEntries    uint64
	snapshotRate   int64
	tick           time.Duration
	checkInterval  time.Duration
	minSessionTime time.Duration
	maxSessionTime time.Duration
	zk             string   // ZooKeeper client address
	zkPeers        peerList // every member's ZooKeeper client address, for /zookeeper/config
	zkWords        []string // four-letter words answered
	superDigest    string
	logLevel       string
	pprof          bool

	configFile string
}

// peerList is the -peers flag: "1=127.0.0.1:7001,2=127.0.0.1:7002".
type peerList map[uint64]string

func (p *peerList) String() string {
	if p == nil || *p == nil {
		return ""
	}
	ids := p.ids()
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("%d=%s", id, (*p)[id])
	}
	return strings.Join(parts, ",")
}

// Set replaces the list (a flag given twice keeps the last).
func (p *peerList) Set(s string) error {
	m := peerList{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		idStr, addr, ok := strings.Cut(part, "=")
		if !ok {
			return fmt.Errorf("%w: peer %q is not id=host:port", errUsage, part)
		}
		id, err := strconv.ParseUint(idStr, 10, 64)
		if err != nil || id == 0 {
			return fmt.Errorf("%w: peer %q: id must be a positive integer", errUsage, part)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%w: peer %q: %w", errUsage, part, err)
		}
		if _, dup := m[id]; dup {
			return fmt.Errorf("%w: peer id %d given twice", errUsage, id)
		}
		m[id] = addr
	}
	*p = m
	return nil
}

func (p peerList) ids() []uint64 {
	ids := make([]uint64, 0, len(p))
	for id := range p {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// memberAddrs is zkserver.Options.MemberAddrs: member id's -peers address
// and its -zk-peers address (this member's own -zk when -zk-peers does not
// list it). The maps are not changed once the member runs.
func (c *config) memberAddrs(id uint64) zkserver.MemberAddrs {
	client := c.zkPeers[id]
	if client == "" && id == c.id {
		client = c.zk
	}
	return zkserver.MemberAddrs{Peer: c.peers[id], Client: client}
}

// clusterIDFlag parses a cluster id as decimal or 0x-prefixed hex.
type clusterIDFlag struct{ v *uint64 }

func (c clusterIDFlag) String() string {
	if c.v == nil {
		return "0"
	}
	return strconv.FormatUint(*c.v, 10)
}

func (c clusterIDFlag) Set(s string) error {
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil || v == 0 {
		return fmt.Errorf("%w: cluster id %q must be a positive integer (decimal or 0x hex)", errUsage, s)
	}
	*c.v = v
	return nil
}

// bind defines c's flags on fs, with c's current values as defaults.
func (c *config) bind(fs *flag.FlagSet) {
	fs.Func("id", "this member's id (required)", func(s string) error {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil || v == 0 {
			return fmt.Errorf("%w: id %q must be a positive integer", errUsage, s)
		}
		c.id = v
		return nil
	})
	fs.StringVar(&c.dir, "dir", c.dir, "data directory (required)")
	fs.Var(clusterIDFlag{&c.clusterID}, "cluster-id", "the cluster's id, as given to -init (required)")
	fs.Var(&c.peers, "peers", "every member, this one included: id=host:port,... (required)")
	fs.StringVar(&c.listen, "listen", c.listen, "peer listen address (default: this member's address in -peers)")
	fs.StringVar(&c.certs, "certs", c.certs, "directory written by -init: ca.pem, member-<id>.pem, member-<id>-key.pem")
	fs.StringVar(&c.ca, "ca", c.ca, "CA bundle, PEM (default: <certs>/ca.pem)")
	fs.StringVar(&c.cert, "cert", c.cert, "this member's certificate, PEM (default: <certs>/member-<id>.pem)")
	fs.StringVar(&c.key, "key", c.key, "this member's private key, PEM (default: <certs>/member-<id>-key.pem)")
	fs.StringVar(&c.admin, "admin", c.admin, "HTTP admin address, loopback only (empty: no admin port)")
	fs.BoolVar(&c.adminAnyAddr, "admin-any-address", c.adminAnyAddr, "allow -admin to bind a non-loopback address (the admin port has no authentication)")
	fs.Uint64Var(&c.keepEntries, "keep-entries", c.keepEntries, "applied entries kept for lagging followers (0: keeper's default)")
	fs.Int64Var(&c.snapshotRate, "snapshot-rate", c.snapshotRate, "raft snapshot pace in bytes/s (0: keeper's default; negative: unpaced)")
	fs.DurationVar(&c.tick, "tick", c.tick, "raft tick (0: keeper's default)")
	fs.DurationVar(&c.checkInterval, "check-interval", c.checkInterval, "consistency check interval (0: keeper's default; negative: off)")
	fs.DurationVar(&c.minSessionTime, "min-session-timeout", c.minSessionTime, "smallest session timeout granted (0: keeper's default)")
	fs.DurationVar(&c.maxSessionTime, "max-session-timeout", c.maxSessionTime, "largest session timeout granted (0: keeper's default)")
	fs.StringVar(&c.zk, "zk", c.zk, "serve ZooKeeper's client protocol on this address, e.g. 127.0.0.1:2181 (empty: not served)")
	fs.Var(&c.zkPeers, "zk-peers", "every member's -zk address, id=host:port,..., shown to clients in /zookeeper/config (default: this member's -zk only)")
	fs.Func("zk-4lw", `four-letter words answered on -zk, comma-separated, or "*" for all (srvr is always answered)`, func(s string) error {
		c.zkWords = strings.Split(s, ",")
		return nil
	})
	fs.StringVar(&c.superDigest, "super-digest", c.superDigest, "the super user's digest, user:base64(sha1(user:password)), as ZooKeeper's zookeeper.DigestAuthenticationProvider.superDigest")
	fs.StringVar(&c.logLevel, "log-level", c.logLevel, "debug, info, warn, error or off")
	fs.BoolVar(&c.pprof, "pprof", c.pprof, "serve Go's profiles under /debug/pprof/ on the admin port")
	fs.StringVar(&c.configFile, "config", c.configFile, `config file of "name = value" lines, names as these flags; the command line overrides it`)
}

// parseConfig reads the command line, and the config file it names, into a
// checked config.
func parseConfig(args []string, usage io.Writer) (*config, error) {
	c := &config{logLevel: "info"}
	fs := newFlagSet("server", usage)
	c.bind(fs)
	fs.Usage = func() {
		fmt.Fprint(usage, "usage: server -id N -dir DIR -cluster-id X -peers ID=HOST:PORT,... -certs DIR [-admin 127.0.0.1:PORT] [flags]\n"+
			"       server -init DIR -cluster-id X -members 1,2,3   (mint a cluster CA and member certificates)\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if c.configFile != "" {
		if err := applyFile(fs, c.configFile); err != nil {
			return nil, err
		}
		// The command line wins over the file.
		if err := fs.Parse(args); err != nil {
			return nil, fmt.Errorf("%w: %w", errUsage, err)
		}
	}
	return c, c.check()
}

func newFlagSet(name string, usage io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(usage)
	return fs
}

// applyFile sets the flags named in the config file path.
func applyFile(fs *flag.FlagSet, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: config file: %w", errUsage, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		name, value, ok := strings.Cut(text, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" {
			return fmt.Errorf("%w: %s:%d: want name = value", errUsage, path, line)
		}
		if name == "config" || fs.Lookup(name) == nil {
			return fmt.Errorf("%w: %s:%d: unknown setting %q", errUsage, path, line, name)
		}
		if err := fs.Set(name, value); err != nil {
			return fmt.Errorf("%w: %s:%d: %w", errUsage, path, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: config file: %w", errUsage, err)
	}
	return nil
}

// check reports what is missing or inconsistent, and fills the defaults
// that depend on other settings.
func (c *config) check() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{errUsage}, args...)...))
	}
	if c.id == 0 {
		bad("-id is required")
	}
	if c.dir == "" {
		bad("-dir is required")
	}
	if c.clusterID == 0 {
		bad("-cluster-id is required")
	}
	if len(c.peers) == 0 {
		bad("-peers is required")
	} else if _, ok := c.peers[c.id]; !ok && c.id != 0 {
		bad("-peers must list this member (id %d)", c.id)
	}
	if c.listen == "" {
		c.listen = c.peers[c.id]
	}
	if len(c.zkPeers) > 0 && c.zk == "" {
		bad("-zk-peers needs -zk")
	}
	if c.certs != "" && c.id != 0 {
		c.ca = orDefault(c.ca, filepath.Join(c.certs, "ca.pem"))
		files := memberFiles(c.certs, c.id)
		c.cert = orDefault(c.cert, files[0])
		c.key = orDefault(c.key, files[1])
	}
	if c.ca == "" || c.cert == "" || c.key == "" {
		bad("TLS files are required: -certs DIR, or -ca, -cert and -key")
	}
	if c.admin != "" && !c.adminAnyAddr {
		if err := checkLoopback(c.admin); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := logLevel(c.logLevel); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkLoopback refuses an address that is not on a loopback interface: the
// admin port has no authentication.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: -admin %q: %w", errUsage, addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: -admin %q is not a loopback address (the admin port has no authentication; -admin-any-address allows it)", errUsage, addr)
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}
