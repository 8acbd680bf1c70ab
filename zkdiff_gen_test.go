package keeper_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/keeper-go/keeper"
)

// The operations of the differential test against ZooKeeper (zkdiff_test.go)
// and their seeded generator.

type zdKind int

const (
	zdCreate zdKind = iota
	zdSet
	zdDelete
	zdSetACL
	zdCheck // inside a multi only
	zdGet
	zdExists
	zdChildren
	zdGetACL
	zdMulti
	zdReopen // close the client's session (its ephemerals go) and open another
)

var zdKindNames = [...]string{"create", "set", "delete", "setACL", "check", "get", "exists", "children", "getACL", "multi", "reopen"}

func (k zdKind) String() string { return zdKindNames[k] }

// zdOp is one operation, run by client on both systems.
type zdOp struct {
	kind    zdKind
	client  int
	path    string
	data    []byte
	mode    keeper.CreateMode
	acl     []keeper.ACL
	aclSet  bool // acl given; else a create gets OpenACL
	ttl     time.Duration
	version int32
	ops     []zdOp // a multi's ops: create, set, delete, check
}

func (o *zdOp) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "c%d %v %q", o.client, o.kind, o.path)
	switch o.kind {
	case zdCreate:
		fmt.Fprintf(&b, " %v data=%q", o.mode, o.data)
		if o.ttl != 0 {
			fmt.Fprintf(&b, " ttl=%v", o.ttl)
		}
		if o.aclSet {
			fmt.Fprintf(&b, " acl=%v", o.acl)
		}
	case zdSet:
		fmt.Fprintf(&b, " data=%q v=%d", o.data, o.version)
	case zdDelete, zdCheck:
		fmt.Fprintf(&b, " v=%d", o.version)
	case zdSetACL:
		fmt.Fprintf(&b, " acl=%v v=%d", o.acl, o.version)
	case zdMulti:
		b.WriteString(" [")
		for i := range o.ops {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(o.ops[i].String())
		}
		b.WriteString("]")
	}
	return b.String()
}

// zdClients are the identities of the test's clients, by index: none,
// alice, bob, alice and bob, the super user.
var zdClients = [][][2]string{
	nil,
	{{"alice", "pa"}},
	{{"bob", "pb"}},
	{{"alice", "pa"}, {"bob", "pb"}},
	{{zdSuperUser, zdSuperPassword}},
}

const (
	zdSuperUser     = "super"
	zdSuperPassword = "sup3r"
	zdSuperClient   = 4
)

// zdGen draws operations over a small name space, so that they collide:
// paths it has seen exist are picked often, and a few paths are not valid.
type zdGen struct {
	rng   *rand.Rand
	known []string // paths that existed when last seen
}

var zdNames = []string{"a", "b", "c", "é"}

// Paths that ZooKeeper's clients (Java's PathUtils and go-zookeeper alike)
// and keeper all refuse.
var zdBadPaths = []string{"", "a", "/a/", "//", "/a//b", "/.", "/a/..", "/a/./b", "/a/../b", "/a/.", "/a\x01", "/a\u007f", "/x/../a"}

func (g *zdGen) pick(xs []string) string { return xs[g.rng.IntN(len(xs))] }

// path draws a path: mostly valid, often one seen to exist or a child of
// one, sometimes below a missing parent, rarely not valid.
func (g *zdGen) path() string {
	switch r := g.rng.IntN(100); {
	case r < 4:
		return g.pick(zdBadPaths)
	case r < 45 && len(g.known) > 0:
		return g.pick(g.known)
	case r < 65 && len(g.known) > 0:
		p := g.pick(g.known)
		if p == "/" {
			p = ""
		}
		return p + "/" + g.pick(zdNames)
	default:
		var b strings.Builder
		for range 1 + g.rng.IntN(3) {
			b.WriteString("/" + g.pick(zdNames))
		}
		return b.String()
	}
}

func (g *zdGen) version() int32 {
	if g.rng.IntN(3) == 0 {
		return keeper.AnyVersion
	}
	return int32(g.rng.IntN(3))
}

func (g *zdGen) data() []byte {
	switch g.rng.IntN(5) {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	return []byte(fmt.Sprintf("d%d", g.rng.IntN(1000)))
}

func (g *zdGen) perms() keeper.Perm {
	if g.rng.IntN(3) == 0 {
		return keeper.PermAll
	}
	return keeper.Perm(g.rng.IntN(32))
}

// acl draws an ACL list: valid entries of every scheme keeper and ZooKeeper
// share, repeats, and now and then an invalid list.
func (g *zdGen) acl() []keeper.ACL {
	switch g.rng.IntN(12) {
	case 0:
		return nil // empty: InvalidACL
	case 1:
		bad := []keeper.ACL{
			{Perms: keeper.PermAll, Scheme: "foo", ID: "bar"},
			{Perms: keeper.PermAll, Scheme: "world", ID: "bob"},
			{Perms: keeper.PermAll, Scheme: "digest", ID: "alice"},
			{Perms: keeper.PermAll, Scheme: "digest", ID: "alice:"},
			{Perms: keeper.PermAll, Scheme: "digest", ID: "a:b:c"},
			{Perms: keeper.PermAll, Scheme: "digest", ID: ":"},
		}
		return []keeper.ACL{bad[g.rng.IntN(len(bad))], {Perms: keeper.PermAll, Scheme: "world", ID: "anyone"}}
	}
	var acl []keeper.ACL
	for range 1 + g.rng.IntN(3) {
		var a keeper.ACL
		switch g.rng.IntN(7) {
		case 0, 1:
			a = keeper.ACL{Perms: g.perms(), Scheme: "world", ID: "anyone"}
		case 2:
			a = keeper.ACL{Perms: g.perms(), Scheme: "auth", ID: ""}
		case 3:
			a = keeper.DigestACL(g.perms(), "alice", "pa")
		case 4:
			a = keeper.DigestACL(g.perms(), "bob", "pb")
		case 5:
			// Valid in both: Java's split(":") drops the trailing empty part.
			a = keeper.ACL{Perms: g.perms(), Scheme: "digest", ID: "carol:h:"}
		default:
			// getACL without ADMIN hides the hash only up to the line end.
			a = keeper.ACL{Perms: g.perms(), Scheme: "digest", ID: "dave:h\nz"}
		}
		acl = append(acl, a)
		if g.rng.IntN(8) == 0 {
			acl = append(acl, a) // a repeated entry
		}
	}
	return acl
}

var zdModes = []keeper.CreateMode{keeper.Persistent, keeper.Persistent, keeper.PersistentSequential, keeper.Ephemeral,
	keeper.EphemeralSequential, keeper.Container, keeper.PersistentWithTTL, keeper.PersistentSequentialWithTTL}

// create draws a create; inMulti limits it to the modes go-zookeeper's Multi
// can send (it sends every create as opCreate, which has no TTL and which
// ZooKeeper turns into a plain persistent znode for the container flag).
func (g *zdGen) create(inMulti bool) zdOp {
	o := zdOp{kind: zdCreate, path: g.path(), data: g.data()}
	if inMulti {
		o.mode = zdModes[g.rng.IntN(5)]
	} else {
		o.mode = zdModes[g.rng.IntN(len(zdModes))]
	}
	if o.mode.IsSequential() {
		switch {
		case !inMulti && (strings.HasSuffix(o.path, "/.") || strings.HasSuffix(o.path, "/..")):
			// go-zookeeper's Create refuses a sequential path whose last
			// name is "." or "..", which Java's client and the server
			// accept (the suffix makes the name valid), and accepts "/./"
			// (and so sends it), which they refuse: not ZooKeeper's answers,
			// so a single create sends neither. Its Multi leaves paths to
			// the server.
			o.path += "x"
		case g.rng.IntN(3) == 0:
			o.path += "/"
		}
	}
	if o.mode.IsTTL() {
		switch g.rng.IntN(10) {
		case 0:
			o.ttl = 0
		case 1:
			o.ttl = -time.Second
		case 2:
			o.ttl = (1 << 40) * time.Millisecond // one above the largest TTL
		default:
			o.ttl = time.Duration(1+g.rng.IntN(3600)) * time.Second
		}
	}
	if g.rng.IntN(3) == 0 {
		o.acl, o.aclSet = g.acl(), true
	}
	return o
}

// next draws the next operation.
func (g *zdGen) next() zdOp {
	client := g.rng.IntN(len(zdClients))
	var o zdOp
	switch r := g.rng.IntN(100); {
	case r < 28:
		o = g.create(false)
	case r < 40:
		o = zdOp{kind: zdSet, path: g.path(), data: g.data(), version: g.version()}
	case r < 55:
		o = zdOp{kind: zdDelete, path: g.path(), version: g.version()}
	case r < 63:
		o = zdOp{kind: zdSetACL, path: g.path(), acl: g.acl(), version: g.version()}
		if o.path == "/" {
			o.path = "/a" // the root's ACL stays open, so that clients keep working
		}
	case r < 80:
		o = zdOp{kind: zdMulti}
		for range 1 + g.rng.IntN(4) {
			o.ops = append(o.ops, g.multiOp())
		}
	case r < 82:
		o = zdOp{kind: zdReopen}
	default:
		o = zdOp{kind: []zdKind{zdGet, zdExists, zdChildren, zdGetACL}[g.rng.IntN(4)], path: g.path()}
	}
	o.client = client
	return o
}

func (g *zdGen) multiOp() zdOp {
	switch g.rng.IntN(10) {
	case 0, 1, 2, 3:
		return g.create(true)
	case 4, 5:
		return zdOp{kind: zdSet, path: g.path(), data: g.data(), version: g.version()}
	case 6, 7:
		return zdOp{kind: zdDelete, path: g.path(), version: g.version()}
	default:
		return zdOp{kind: zdCheck, path: g.path(), version: g.version()}
	}
}

// saw records the paths the tree holds now.
func (g *zdGen) saw(paths []string) { g.known = paths }
