package keeper

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// Each case is tied to the sentence of the ZooKeeper Programmer's Guide (or,
// where the Guide is silent, the server behaviour) it checks.
type opCase struct {
	name  string
	guide string
	setup func(h *harness)
	req   request
	want  error
	check func(t *testing.T, h *harness, res *applyResult)
}

var (
	alice     = DigestIdentity("alice", "secret")
	bob       = DigestIdentity("bob", "hunter2")
	superUser = Identity{Scheme: schemeSuper}
)

func authed(t testing.TB, ids ...Identity) []Identity {
	t.Helper()
	out, err := authenticate(ids)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func single(op Op, auth ...Identity) request {
	return request{Time: 5000, Session: 0x55, Auth: auth, Ops: []Op{op}}
}

func TestOps(t *testing.T) {
	aliceA := authed(t, alice)
	bobA := authed(t, bob)
	base := func(h *harness) { h.must(CreateOp("/a", []byte("x"), Persistent)) }
	statOf := func(t *testing.T, h *harness, p string) Stat {
		t.Helper()
		st, err := h.tr.exists(p)
		if err != nil {
			t.Fatalf("exists %s: %v", p, err)
		}
		return st
	}
	cases := []opCase{
		{name: "create persistent", guide: "Znodes: every znode is identified by a path; czxid: the zxid of the change that caused this znode to be created",
			req: single(CreateOp("/n", []byte("hello"), Persistent)),
			check: func(t *testing.T, h *harness, res *applyResult) {
				st := res.Ops[0].Stat
				z := int64(h.tr.applied())
				if res.Ops[0].Path != "/n" || st.Czxid != Zxid(z) || st.Mzxid != Zxid(z) || st.Pzxid != Zxid(z) || st.Ctime != 5000 || st.Mtime != 5000 || st.DataLength != 5 {
					t.Fatalf("result %+v", res.Ops[0])
				}
				data, got, err := h.tr.get("/n", nil)
				if err != nil || string(data) != "hello" || got != st {
					t.Fatalf("get: %q %+v %v", data, got, err)
				}
			}},
		{name: "create updates parent", guide: "Stat: cversion, the number of changes to the children of this znode; pzxid, the zxid of the change that last modified children; numChildren",
			setup: base, req: single(CreateOp("/a/b", nil, Persistent)),
			check: func(t *testing.T, h *harness, res *applyResult) {
				p := statOf(t, h, "/a")
				if p.Cversion != 1 || p.NumChildren != 1 || p.Pzxid != Zxid(h.tr.applied()) || p.Version != 0 {
					t.Fatalf("parent %+v", p)
				}
			}},
		{name: "create existing", guide: "create: NodeExists if a node with the same actual path already exists",
			setup: base, req: single(CreateOp("/a", nil, Persistent)), want: ErrNodeExists},
		{name: "create root", guide: "create: NodeExists (the root always exists)",
			req: single(CreateOp("/", nil, Persistent)), want: ErrNodeExists},
		{name: "create no parent", guide: "create: NoNode if the parent node does not exist",
			req: single(CreateOp("/x/y", nil, Persistent)), want: ErrNoNode},
		{name: "sequential suffix", guide: "Sequence Nodes: the counter has a format of %010d, 10 digits with 0 padding; it is unique to the parent",
			setup: base, req: single(CreateOp("/a/s-", nil, PersistentSequential)),
			check: func(t *testing.T, h *harness, res *applyResult) {
				if res.Ops[0].Path != "/a/s-0000000000" {
					t.Fatalf("path %q", res.Ops[0].Path)
				}
				r := h.must(CreateOp("/a/s-", nil, PersistentSequential))
				if r.Path != "/a/s-0000000001" {
					t.Fatalf("second path %q", r.Path)
				}
			}},
		{name: "sequential under slash", guide: "Sequence Nodes: a path ending in / names the child by the counter alone",
			setup: base, req: single(CreateOp("/a/", nil, PersistentSequential)),
			check: func(t *testing.T, h *harness, res *applyResult) {
				if res.Ops[0].Path != "/a/0000000000" {
					t.Fatalf("path %q", res.Ops[0].Path)
				}
			}},
		{name: "sequential counter after delete", guide: "Sequence Nodes: the counter is the parent's cversion, which a delete does not lower (server: delete changes pzxid, not cversion)",
			setup: func(h *harness) {
				base(h)
				h.must(CreateOp("/a/c", nil, Persistent))
				h.must(DeleteOp("/a/c", AnyVersion))
			},
			req: single(CreateOp("/a/q", nil, PersistentSequential)),
			check: func(t *testing.T, h *harness, res *applyResult) {
				if res.Ops[0].Path != "/a/q0000000001" {
					t.Fatalf("path %q", res.Ops[0].Path)
				}
			}},
		{name: "sequential overflow", guide: "Sequence Nodes: the counter is a signed int; past 2147483647 it overflows, giving <path>-2147483648",
			req: single(CreateOp("/q", nil, PersistentSequential)),
			setup: func(h *harness) {
				// Drive the root's cversion to MaxInt32 by rewriting it.
				h.setCversion("/", 1<<31-1)
			},
			check: func(t *testing.T, h *harness, res *applyResult) {
				if res.Ops[0].Path != "/q2147483647" {
					t.Fatalf("path %q", res.Ops[0].Path)
				}
				r := h.must(CreateOp("/q", nil, PersistentSequential))
				if r.Path != "/q-2147483648" {
					t.Fatalf("overflow path %q", r.Path)
				}
				r = h.must(CreateOp("/q", nil, PersistentSequential))
				if r.Path != "/q-2147483647" {
					t.Fatalf("after overflow %q", r.Path)
				}
			}},
		{name: "ephemeral owner", guide: "Stat: ephemeralOwner, the session id of the owner of this znode if it is an ephemeral node",
			req: single(CreateOp("/e", nil, Ephemeral)),
			check: func(t *testing.T, h *harness, res *applyResult) {
				if res.Ops[0].Stat.EphemeralOwner != 0x55 {
					t.Fatalf("owner %x", res.Ops[0].Stat.EphemeralOwner)
				}
				eph, err := h.tr.ephemerals(0x55, "/")
				if err != nil || !slices.Equal(eph, []string{"/e"}) {
					t.Fatalf("ephemerals %v %v", eph, err)
				}
			}},
		{name: "ephemeral without session", guide: "Ephemeral Nodes: exist as long as the session that created them is active (no session, no ephemeral)",
			req: request{Ops: []Op{CreateOp("/e", nil, Ephemeral)}}, want: ErrBadArguments},
		{name: "no children for ephemerals", guide: "Ephemeral Nodes: ephemeral znodes are not allowed to have children",
			setup: func(h *harness) { h.must(CreateOp("/e", nil, Ephemeral)) },
			req:   single(CreateOp("/e/c", nil, Persistent)), want: ErrNoChildrenForEphemerals},
		{name: "container parent allowed", guide: "Container Nodes: container znodes are meant to have children",
			setup: func(h *harness) { h.must(CreateOp("/c", nil, Container)) },
			req:   single(CreateOp("/c/x", nil, Persistent))},
		{name: "ttl node", guide: "TTL Nodes: when creating PERSISTENT or PERSISTENT_SEQUENTIAL znodes you can optionally set a TTL in milliseconds",
			req: single(CreateOp("/t", nil, PersistentWithTTL, WithTTL(time.Minute)))},
		{name: "ttl missing", guide: "TTL Nodes: a TTL mode needs a TTL greater than 0",
			req: single(CreateOp("/t", nil, PersistentWithTTL)), want: ErrBadArguments},
		{name: "ttl on wrong mode", guide: "TTL Nodes: only PERSISTENT(_SEQUENTIAL)_WITH_TTL take a TTL",
			req: single(CreateOp("/t", nil, Persistent, WithTTL(time.Minute))), want: ErrBadArguments},
		{name: "data too large", guide: "Data Access: ZooKeeper has a built-in sanity check of 1M (jute.maxbuffer)",
			req: single(CreateOp("/big", make([]byte, maxDataSize+1), Persistent)), want: ErrBadArguments},
		{name: "relative path", guide: "Znodes: \".\" and \"..\" cannot alone be used to indicate a node along a path, ZooKeeper doesn't use relative paths",
			req: single(CreateOp("/a/../b", nil, Persistent)), want: ErrInvalidPath},
		{name: "null char", guide: "Znodes: the null character (\\u0000) cannot be part of a path name",
			req: single(CreateOp("/a\x00b", nil, Persistent)), want: ErrInvalidPath},
		{name: "reserved", guide: "Znodes: the token \"zookeeper\" is reserved",
			req: single(CreateOp("/zookeeper/x", nil, Persistent)), want: ErrBadArguments},
		{name: "delete", guide: "delete: removes the node; the parent's numChildren drops, its pzxid is the delete's zxid and its cversion counts the change (ZooKeeper: 2 × creates − numChildren)",
			setup: func(h *harness) { base(h); h.must(CreateOp("/a/b", nil, Persistent)) },
			req:   single(DeleteOp("/a/b", 0)),
			check: func(t *testing.T, h *harness, res *applyResult) {
				if _, err := h.tr.exists("/a/b"); !errors.Is(err, ErrNoNode) {
					t.Fatalf("exists after delete: %v", err)
				}
				p := statOf(t, h, "/a")
				if p.NumChildren != 0 || p.Cversion != 2 || p.Pzxid != Zxid(h.tr.applied()) {
					t.Fatalf("parent %+v", p)
				}
			}},
		{name: "delete missing", guide: "delete: NoNode if the node does not exist",
			req: single(DeleteOp("/nope", AnyVersion)), want: ErrNoNode},
		{name: "delete bad version", guide: "Conditional updates: if the version supplied doesn't match the actual version, the update fails",
			setup: base, req: single(DeleteOp("/a", 3)), want: ErrBadVersion},
		{name: "delete not empty", guide: "delete: NotEmpty if the node has children",
			setup: func(h *harness) { base(h); h.must(CreateOp("/a/b", nil, Persistent)) },
			req:   single(DeleteOp("/a", AnyVersion)), want: ErrNotEmpty},
		{name: "delete root", guide: "delete: the root and /zookeeper are special paths (BadArguments)",
			req: single(DeleteOp("/", AnyVersion)), want: ErrBadArguments},
		{name: "set data", guide: "Stat: version, the number of changes to the data; mzxid, the zxid of the change that last modified it",
			setup: base, req: single(SetOp("/a", []byte("yz"), 0)),
			check: func(t *testing.T, h *harness, res *applyResult) {
				st := res.Ops[0].Stat
				if st.Version != 1 || st.Mzxid != Zxid(h.tr.applied()) || st.Mtime != 5000 || st.DataLength != 2 || st.Czxid == st.Mzxid {
					t.Fatalf("stat %+v", st)
				}
			}},
		{name: "set any version", guide: "Conditional updates: version -1 matches any version",
			setup: base, req: single(SetOp("/a", nil, AnyVersion))},
		{name: "set bad version", guide: "Conditional updates: a mismatched version fails the update",
			setup: base, req: single(SetOp("/a", nil, 7)), want: ErrBadVersion},
		{name: "set missing", guide: "setData: NoNode if no node with the given path exists",
			req: single(SetOp("/nope", nil, AnyVersion)), want: ErrNoNode},
		{name: "check ok", guide: "multi check: succeeds when the node has the version",
			setup: base, req: single(CheckOp("/a", 0))},
		{name: "check bad version", guide: "multi check: fails with BadVersion on a mismatch",
			setup: base, req: single(CheckOp("/a", 1)), want: ErrBadVersion},
		{name: "check missing", guide: "multi check: fails with NoNode when the node is absent",
			req: single(CheckOp("/nope", AnyVersion)), want: ErrNoNode},
		{name: "setACL", guide: "Stat: aversion, the number of changes to the ACL of this znode",
			setup: base, req: single(SetACLOp("/a", ReadACL(), 0)),
			check: func(t *testing.T, h *harness, res *applyResult) {
				acl, st, err := h.tr.getACL("/a", nil)
				if err != nil || st.Aversion != 1 || !slices.Equal(acl, ReadACL()) {
					t.Fatalf("getACL %v %+v %v", acl, st, err)
				}
			}},
		{name: "setACL bad version", guide: "setACL: BadVersion if the given version does not match the ACL version",
			setup: base, req: single(SetACLOp("/a", ReadACL(), 4)), want: ErrBadVersion},
		{name: "setACL empty", guide: "ACLs: an empty ACL is invalid (InvalidACL)",
			setup: base, req: single(SetACLOp("/a", nil, AnyVersion)), want: ErrInvalidACL},
		{name: "world id", guide: "ACLs: world has a single id, anyone, that represents anyone",
			req: single(CreateOp("/w", nil, Persistent, WithACL(ACL{Perms: PermAll, Scheme: "world", ID: "someone"}))), want: ErrInvalidACL},
		{name: "auth scheme without identity", guide: "ACLs: auth represents any authenticated user; with none, InvalidACL",
			req: single(CreateOp("/w", nil, Persistent, WithACL(CreatorACL()...))), want: ErrInvalidACL},
		{name: "auth scheme replaced", guide: "ACLs: auth doesn't use any id, represents any authenticated user (the creator's ids)",
			req: single(CreateOp("/w", nil, Persistent, WithACL(CreatorACL()...)), aliceA...),
			check: func(t *testing.T, h *harness, res *applyResult) {
				acl, _, err := h.tr.getACL("/w", aliceA)
				if err != nil || len(acl) != 1 || acl[0] != DigestACL(PermAll, "alice", "secret") {
					t.Fatalf("acl %v %v", acl, err)
				}
				if _, _, err := h.tr.get("/w", bobA); !errors.Is(err, ErrNoAuth) {
					t.Fatalf("bob read: %v", err)
				}
				if _, _, err := h.tr.get("/w", aliceA); err != nil {
					t.Fatalf("alice read: %v", err)
				}
			}},
		{name: "create needs CREATE", guide: "ACL permissions: CREATE, you can create a child node",
			setup: func(h *harness) {
				h.must(CreateOp("/p", nil, Persistent, WithACL(DigestACL(PermAll&^PermCreate, "alice", "secret"), ACL{Perms: PermRead, Scheme: "world", ID: "anyone"})))
			},
			req: single(CreateOp("/p/c", nil, Persistent), aliceA...), want: ErrNoAuth},
		{name: "delete needs DELETE", guide: "ACL permissions: DELETE, you can delete a child node",
			setup: func(h *harness) {
				h.must(CreateOp("/p", nil, Persistent, WithACL(ACL{Perms: PermAll &^ PermDelete, Scheme: "world", ID: "anyone"})))
				h.must(CreateOp("/p/c", nil, Persistent))
			},
			req: single(DeleteOp("/p/c", AnyVersion)), want: ErrNoAuth},
		{name: "set needs WRITE", guide: "ACL permissions: WRITE, you can set data for a node",
			setup: func(h *harness) { h.must(CreateOp("/p", nil, Persistent, WithACL(ReadACL()...))) },
			req:   single(SetOp("/p", nil, AnyVersion), bobA...), want: ErrNoAuth},
		{name: "setACL needs ADMIN", guide: "ACL permissions: ADMIN, you can set permissions",
			setup: func(h *harness) { h.must(CreateOp("/p", nil, Persistent, WithACL(ReadACL()...))) },
			req:   single(SetACLOp("/p", OpenACL(), AnyVersion)), want: ErrNoAuth},
		{name: "super bypasses", guide: "ACLs: the super user is permitted everything (server: checkACL)",
			setup: func(h *harness) { h.must(CreateOp("/p", nil, Persistent, WithACL(ReadACL()...))) },
			req:   single(SetACLOp("/p", OpenACL(), AnyVersion), superUser)},
		{name: "read needs READ", guide: "ACL permissions: READ, you can get data from a node and list its children",
			setup: func(h *harness) {
				h.must(CreateOp("/p", []byte("s"), Persistent, WithACL(DigestACL(PermAll, "alice", "secret"))), aliceA...)
			},
			req: single(CheckOp("/p", AnyVersion), bobA...), want: ErrNoAuth,
			check: func(t *testing.T, h *harness, _ *applyResult) {
				if _, _, err := h.tr.get("/p", bobA); !errors.Is(err, ErrNoAuth) {
					t.Fatalf("get: %v", err)
				}
				if _, _, err := h.tr.children("/p", bobA); !errors.Is(err, ErrNoAuth) {
					t.Fatalf("children: %v", err)
				}
				if _, err := h.tr.exists("/p"); err != nil {
					t.Fatalf("exists needs no permission: %v", err)
				}
				if _, _, err := h.tr.getACL("/p", bobA); !errors.Is(err, ErrNoAuth) {
					t.Fatalf("getACL without READ or ADMIN: %v", err)
				}
			}},
		{name: "getACL redacts digest without ADMIN", guide: "getACL needs READ or ADMIN; without ADMIN digest hashes are hidden (server 3.8)",
			setup: func(h *harness) {
				h.must(CreateOp("/p", nil, Persistent, WithACL(DigestACL(PermAll, "alice", "secret"), ACL{Perms: PermRead, Scheme: "world", ID: "anyone"})))
			},
			req: single(CheckOp("/p", AnyVersion)),
			check: func(t *testing.T, h *harness, _ *applyResult) {
				acl, _, err := h.tr.getACL("/p", bobA)
				if err != nil || acl[0].ID != "alice:x" {
					t.Fatalf("redacted acl %v %v", acl, err)
				}
				acl, _, _ = h.tr.getACL("/p", aliceA)
				if acl[0] != DigestACL(PermAll, "alice", "secret") {
					t.Fatalf("admin acl %v", acl)
				}
			}},
		{name: "multi all or nothing", guide: "multi: in case of transactions all of them succeed or none of them; ops after the failed one report RuntimeInconsistency",
			setup: base,
			req: request{Time: 1, Multi: true, Ops: []Op{
				CreateOp("/m1", nil, Persistent),
				SetOp("/a", nil, 9),
				CreateOp("/m2", nil, Persistent),
			}},
			want: ErrBadVersion,
			check: func(t *testing.T, h *harness, res *applyResult) {
				var me *MultiError
				if !errors.As(res.Err, &me) || me.Index != 1 {
					t.Fatalf("err %v", res.Err)
				}
				if res.Ops[0].Err != nil || !errors.Is(res.Ops[1].Err, ErrBadVersion) || !errors.Is(res.Ops[2].Err, ErrRuntimeInconsistency) {
					t.Fatalf("ops %+v", res.Ops)
				}
				if _, err := h.tr.exists("/m1"); !errors.Is(err, ErrNoNode) {
					t.Fatalf("/m1 leaked: %v", err)
				}
			}},
		{name: "multi sees own changes, one zxid", guide: "multi: ops run in order, each seeing the earlier ones; all share one zxid",
			req: request{Time: 1, Multi: true, Ops: []Op{
				CreateOp("/m", nil, Persistent),
				CreateOp("/m/c", nil, Persistent),
				SetOp("/m/c", []byte("v"), 0),
				CheckOp("/m/c", 1),
				DeleteOp("/m/c", 1),
			}},
			check: func(t *testing.T, h *harness, res *applyResult) {
				z := int64(h.tr.applied())
				st := statOf(t, h, "/m")
				if st.Czxid != Zxid(z) || st.Pzxid != Zxid(z) || st.Cversion != 2 || st.NumChildren != 0 {
					t.Fatalf("stat %+v", st)
				}
			}},
		{name: "empty multi", guide: "multi: an empty transaction succeeds",
			req: request{Multi: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			if c.setup != nil {
				c.setup(h)
			}
			before := h.tr.applied()
			res := h.do(c.req)
			if h.tr.applied() != before+1 {
				t.Fatalf("applied index %d, want %d", h.tr.applied(), before+1)
			}
			if !errors.Is(res.Err, c.want) || (c.want == nil) != (res.Err == nil) {
				t.Fatalf("%s\nerr = %v, want %v", c.guide, res.Err, c.want)
			}
			if c.check != nil {
				c.check(t, h, res)
			}
			if t.Failed() {
				t.Logf("guide: %s", c.guide)
			}
		})
	}
}

// setCversion rewrites a node's cversion directly in the store (test only).
func (h *harness) setCversion(path string, cv int32) {
	h.t.Helper()
	n, hash, err := h.tr.load(path)
	if err != nil || n == nil {
		h.t.Fatalf("load %s: %v", path, err)
	}
	c := n.clone()
	c.stat.Cversion = cv
	h.tr.group[path] = &slot{orig: n, origHash: hash, cur: c, dirty: true}
	if _, err := h.tr.flush(h.tr.applied(), nil); err != nil {
		h.t.Fatal(err)
	}
	clear(h.tr.group)
}

func TestReadsAndListing(t *testing.T) {
	h := newHarness(t)
	h.must(CreateOp("/a", nil, Persistent))
	for _, n := range []string{"c", "a", "b"} {
		h.must(CreateOp("/a/"+n, nil, Persistent))
	}
	h.must(CreateOp("/a/b/x", nil, Persistent))
	h.must(CreateOp("/ab", nil, Persistent))
	names, st, err := h.tr.children("/a", nil)
	if err != nil || !slices.Equal(names, []string{"a", "b", "c"}) || st.NumChildren != 3 {
		t.Fatalf("children %v %+v %v", names, st, err)
	}
	root, _, _ := h.tr.children("/", nil)
	if !slices.Equal(root, []string{"a", "ab", "zookeeper"}) {
		t.Fatalf("root children %v", root)
	}
	if n, err := h.tr.allChildrenNumber("/a", nil); err != nil || n != 4 {
		t.Fatalf("allChildrenNumber /a = %d, %v", n, err)
	}
	if n, _ := h.tr.allChildrenNumber("/", nil); n != 7 {
		t.Fatalf("allChildrenNumber / = %d", n)
	}
	if _, _, err := h.tr.children("/nope", nil); !errors.Is(err, ErrNoNode) {
		t.Fatalf("children of missing: %v", err)
	}
	if _, _, err := h.tr.get("a", nil); !errors.Is(err, ErrInvalidPath) {
		t.Fatalf("relative get: %v", err)
	}
}

func TestDigestCatchesChange(t *testing.T) {
	h := newHarness(t)
	d0 := h.tr.digest()
	h.must(CreateOp("/a", []byte("1"), Persistent))
	d1 := h.tr.digest()
	h.must(SetOp("/a", []byte("2"), AnyVersion))
	h.must(DeleteOp("/a", AnyVersion))
	if h.tr.digest() == d0 || h.tr.digest() == d1 {
		t.Fatal("digest did not move with the Stat changes")
	}
	// Recomputing from scratch gives the incremental value.
	if got := fullDigest(t, h); got != h.tr.digest() {
		t.Fatalf("full %x, incremental %x", got, h.tr.digest())
	}
	h.reopen()
	if got := fullDigest(t, h); got != h.tr.digest() {
		t.Fatalf("after reopen: full %x, stored %x", got, h.tr.digest())
	}
}

// fullDigest recomputes the digest by scanning every node.
func fullDigest(t testing.TB, h *harness) uint64 {
	t.Helper()
	var sum uint64
	scanNodes(t, h, func(path string, v []byte) { sum += nodeHash(h.tr.h, path, v) })
	return sum
}

func TestRequestRoundTrip(t *testing.T) {
	r := &request{Time: 17, Session: -3, Auth: []Identity{superUser}, Multi: true, Ops: []Op{
		CreateOp("/a/", []byte("d"), PersistentSequentialWithTTL, WithTTL(time.Second), WithACL(ReadACL()...)),
		SetOp("/b", []byte("e"), 4),
		DeleteOp("/c", AnyVersion),
		CheckOp("/d", 2),
		SetACLOp("/e", OpenACL(), 1),
	}}
	b, err := encodeRequest(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	again := appendRequest(nil, got)
	if !bytes.Equal(b, again) {
		t.Fatalf("re-encoding differs")
	}
	if _, err := decodeRequest(append([]byte{9}, b[1:]...)); !errors.Is(err, ErrCorruptEntry) {
		t.Fatalf("unknown version: %v", err)
	}
	if _, err := encodeRequest(nil, &request{Ops: []Op{CreateOp("bad", nil, Persistent)}}); !errors.Is(err, ErrInvalidPath) {
		t.Fatalf("encode validation: %v", err)
	}
	var me *MultiError
	if _, err := encodeRequest(nil, &request{Multi: true, Ops: []Op{SetOp("/x/", nil, -1), CheckOp("/", -1)}}); !errors.As(err, &me) || me.Index != 0 || !errors.Is(err, ErrInvalidPath) {
		t.Fatalf("multi encode validation of op 0: %v", err)
	}
	// A later op's path is checked by apply, after the ops before it.
	if _, err := encodeRequest(nil, &request{Multi: true, Ops: []Op{CheckOp("/", -1), SetOp("/x/", nil, -1)}}); err != nil {
		t.Fatalf("multi with a bad path at op 1: %v", err)
	}
	if _, err := encodeRequest(nil, &request{Multi: true, Ops: []Op{CheckOp("/", -1), SetOp("/x/", make([]byte, maxDataSize+1), -1)}}); !errors.As(err, &me) || me.Index != 1 {
		t.Fatalf("multi encode validation of data size: %v", err)
	}
}

func TestValidatePath(t *testing.T) {
	good := []string{"/", "/a", "/a/b", "/a.b", "/..a", "/a/.b.", "/\u00e9", "/zookeeper"}
	bad := []string{"", "a", "/a/", "//", "/a//b", "/.", "/a/..", "/a/./b", "/a\x01", "/a\u007f", "/a\u0085", "/\ud7ff\ue000", "/\ufff5", "/\U0001F600", "/\xff"}
	for _, p := range good {
		if err := validatePath(p, false); err != nil {
			t.Errorf("validatePath(%q) = %v", p, err)
		}
	}
	for _, p := range bad {
		if err := validatePath(p, false); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("validatePath(%q) = %v, want ErrInvalidPath", p, err)
		}
	}
	for _, p := range []string{"/", "/a/", "/a/.", "/a/.."} {
		if err := validatePath(p, true); err != nil {
			t.Errorf("sequential validatePath(%q) = %v", p, err)
		}
	}
	if !strings.Contains(sequentialName("/x", -1), "-000000001") {
		t.Error(sequentialName("/x", -1))
	}
}
