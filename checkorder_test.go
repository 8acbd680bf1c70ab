package keeper

import (
	"errors"
	"slices"
	"testing"
)

// TestCheckOrder pins the answers where the order of ZooKeeper 3.8's checks
// (PrepRequestProcessor: path, ACL given, permissions, existence and
// versions, op by op in a multi) decides which error a caller gets, and the
// Cversion its clients read (DataNode.copyStat). Each case names the server
// behaviour it follows; zkdiff_test.go checks the same against the server.
func TestCheckOrder(t *testing.T) {
	aliceA := authed(t, alice)
	noDelete := func(h *harness) {
		h.must(CreateOp("/p", nil, Persistent, WithACL(ACL{Perms: PermAll &^ PermDelete, Scheme: "world", ID: "anyone"})))
		h.must(CreateOp("/p/c", nil, Persistent))
	}
	multi := func(ops ...Op) request { return request{Time: 5000, Session: 0x55, Multi: true, Ops: ops} }
	foo := ACL{Perms: PermAll, Scheme: "foo", ID: "bar"}
	cases := []opCase{
		{name: "cversion counts deletes", guide: "copyStat: clients read cversion as 2 × creates − numChildren; sequential names keep the count of creates",
			setup: func(h *harness) {
				h.must(CreateOp("/x", nil, Persistent))
				h.must(CreateOp("/x/a", nil, Persistent))
				h.must(DeleteOp("/x/a", AnyVersion))
			},
			req: single(CreateOp("/x/s-", nil, PersistentSequential)),
			check: func(t *testing.T, h *harness, res *applyResult) {
				if res.Ops[0].Path != "/x/s-0000000001" {
					t.Fatalf("sequential name %s, want suffix 1 (one create before)", res.Ops[0].Path)
				}
				st, err := h.tr.exists("/x")
				if err != nil || st.Cversion != 3 || st.NumChildren != 1 {
					t.Fatalf("/x %+v %v, want Cversion 3 (create, delete, create)", st, err)
				}
				if _, st, err := h.tr.children("/x", nil); err != nil || st.Cversion != 3 {
					t.Fatalf("children stat %+v %v", st, err)
				}
			}},
		{name: "cversion of a fresh root", guide: "copyStat: the root's one child /zookeeper was never created, so its cversion reads -1",
			req: single(CheckOp("/", AnyVersion)),
			check: func(t *testing.T, h *harness, _ *applyResult) {
				if st, err := h.tr.exists("/"); err != nil || st.Cversion != -1 {
					t.Fatalf("root %+v %v", st, err)
				}
			}},
		{name: "cversion in a set result", guide: "setData and setACL return copyStat's Stat",
			setup: func(h *harness) {
				h.must(CreateOp("/x", nil, Persistent))
				h.must(CreateOp("/x/a", nil, Persistent))
				h.must(DeleteOp("/x/a", AnyVersion))
			},
			req: single(SetOp("/x", []byte("v"), AnyVersion)),
			check: func(t *testing.T, h *harness, res *applyResult) {
				if res.Ops[0].Stat.Cversion != 2 {
					t.Fatalf("set result %+v", res.Ops[0].Stat)
				}
			}},
		{name: "delete of a missing child without DELETE", guide: "delete: DELETE on the parent is checked before the child is looked up",
			setup: noDelete, req: single(DeleteOp("/p/missing", AnyVersion)), want: ErrNoAuth},
		{name: "delete with a bad version without DELETE", guide: "delete: DELETE on the parent comes before the version",
			setup: noDelete, req: single(DeleteOp("/p/c", 7)), want: ErrNoAuth},
		{name: "delete in a missing parent", guide: "delete: the parent is looked up first",
			req: single(DeleteOp("/nope/c", AnyVersion)), want: ErrNoNode},
		{name: "multi: an earlier op fails first", guide: "multi: op 1's ACL is checked only after op 0 passed",
			setup: func(h *harness) { h.must(CreateOp("/x", nil, Persistent)) },
			req:   multi(CreateOp("/nonexistent/a", nil, Persistent), CreateOp("/x/b", nil, Persistent, WithACL(foo))),
			want:  ErrNoNode,
			check: func(t *testing.T, h *harness, res *applyResult) {
				wantMulti(t, res, 0, ErrNoNode)
			}},
		{name: "multi: empty ACL", guide: "multi: fixupACL refuses an empty list with InvalidACL; one result per op",
			setup: func(h *harness) { h.must(CreateOp("/x", nil, Persistent)) },
			req:   multi(CreateOp("/x/c", nil, Persistent, WithACL())),
			want:  ErrInvalidACL,
			check: func(t *testing.T, h *harness, res *applyResult) {
				wantMulti(t, res, 0, ErrInvalidACL)
			}},
		{name: "multi: a bad path after a failing op", guide: "multi: op 1's path is checked only after op 0 passed",
			req:  multi(CheckOp("/nope", AnyVersion), SetOp("/a/", nil, AnyVersion), CheckOp("/", AnyVersion)),
			want: ErrNoNode,
			check: func(t *testing.T, h *harness, res *applyResult) {
				wantMulti(t, res, 0, ErrNoNode)
			}},
		{name: "multi: a bad path is found in turn", guide: "multi: setData validates its path (BadArguments)",
			req:  multi(CheckOp("/", AnyVersion), SetOp("/a/", nil, AnyVersion), CheckOp("/", AnyVersion)),
			want: ErrBadArguments,
			check: func(t *testing.T, h *harness, res *applyResult) {
				wantMulti(t, res, 1, ErrBadArguments)
			}},
		{name: "multi: create looks up the parent before validating the path", guide: "multi create: validatePathForCreate, fixupACL, parent, CREATE, then validatePath",
			req:  multi(CreateOp("/a/../b", nil, Persistent)),
			want: ErrNoNode,
			check: func(t *testing.T, h *harness, res *applyResult) {
				wantMulti(t, res, 0, ErrNoNode)
			}},
		{name: "multi: create validates the whole path after the parent", guide: "multi create: validatePath once the parent passed",
			setup: func(h *harness) { h.must(CreateOp("/x", nil, Persistent)) },
			req:   multi(CreateOp("/x/", nil, Persistent)),
			want:  ErrInvalidPath,
		},
		{name: "multi: delete of a path that is not valid", guide: "multi delete: only the last / and null characters are checked; the node is not found",
			setup: func(h *harness) { h.must(CreateOp("/x", nil, Persistent)) },
			req:   multi(DeleteOp("/x/", AnyVersion)),
			want:  ErrNoNode,
		},
		{name: "multi: a path with no slash", guide: "multi: validatePathForCreate refuses a path with no /",
			req: multi(CreateOp("x", nil, Persistent)), want: ErrBadArguments},
		{name: "multi: a path not starting with a slash", guide: "multi create: the parent of \"a/\" is \"a\", which names no znode",
			req: multi(CreateOp("a/", nil, Persistent), DeleteOp("a/b", AnyVersion)), want: ErrNoNode},
		{name: "multi: delete of a path not starting with a slash", guide: "multi delete: getParentPathAndValidate needs a /, then the parent \"a\" is not found",
			req: multi(DeleteOp("a/b", AnyVersion)), want: ErrNoNode},
		{name: "setACL: path before ACL", guide: "setACL: validatePath, then fixupACL",
			req: single(SetACLOp("/x/../y", []ACL{foo}, AnyVersion)), want: ErrInvalidPath},
		{name: "setACL: ACL before existence", guide: "setACL: fixupACL, then the node",
			req: single(SetACLOp("/nope", []ACL{foo}, AnyVersion)), want: ErrInvalidACL},
		{name: "auth expansion is not deduplicated", guide: "fixupACL drops repeated entries of the list given, not of its result",
			req: single(CreateOp("/w", nil, Persistent, WithACL(CreatorACL()[0], DigestACL(PermAll, "alice", "secret"), CreatorACL()[0])), aliceA...),
			check: func(t *testing.T, h *harness, _ *applyResult) {
				acl, _, err := h.tr.getACL("/w", aliceA)
				want := []ACL{DigestACL(PermAll, "alice", "secret"), DigestACL(PermAll, "alice", "secret")}
				if err != nil || !slices.Equal(acl, want) {
					t.Fatalf("acl %v %v, want %v", acl, err, want)
				}
			}},
		{name: "digest id with a trailing colon", guide: "DigestAuthenticationProvider.isValid: id.split(\":\") has two parts",
			req: single(CreateOp("/w", nil, Persistent, WithACL(ACL{Perms: PermAll, Scheme: "digest", ID: "u:h:"})))},
		{name: "digest id with an empty hash", guide: "DigestAuthenticationProvider.isValid: \"u:\" splits into one part",
			req: single(CreateOp("/w", nil, Persistent, WithACL(ACL{Perms: PermAll, Scheme: "digest", ID: "u:"}))), want: ErrInvalidACL},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			if c.setup != nil {
				c.setup(h)
			}
			res := h.do(c.req)
			if !errors.Is(res.Err, c.want) || (c.want == nil) != (res.Err == nil) {
				t.Fatalf("%s\nerr = %v, want %v", c.guide, res.Err, c.want)
			}
			if c.check != nil {
				c.check(t, h, res)
			}
		})
	}
}

// wantMulti checks ZooKeeper's result shape of a multi that failed at op i
// with want: a result per op, nil before i, want at i, RuntimeInconsistency
// after.
func wantMulti(t *testing.T, res *applyResult, i int, want error) {
	t.Helper()
	var me *MultiError
	if !errors.As(res.Err, &me) || me.Index != i || !errors.Is(me, want) {
		t.Fatalf("err %v, want a MultiError at %d matching %v", res.Err, i, want)
	}
	for j, r := range res.Ops {
		switch {
		case j < i && r.Err != nil, j == i && !errors.Is(r.Err, want), j > i && !errors.Is(r.Err, ErrRuntimeInconsistency):
			t.Fatalf("results %+v", res.Ops)
		}
	}
}

func TestRedactDigest(t *testing.T) {
	for id, want := range map[string]string{"alice:hash": "alice:x", "u": "u", ":h": ":x", "u:h:": "u:x", "u:a\nb:c": "u:x\nb:x", "u:a\r\nb": "u:x\r\nb", "u:a\u2028": "u:x\u2028"} {
		if got := redactDigest(id); got != want {
			t.Errorf("redactDigest(%q) = %q, want %q", id, got, want)
		}
	}
}

func TestJavaSplitCount(t *testing.T) {
	for s, want := range map[string]int{"": 1, "u": 1, "u:h": 2, ":h": 2, "u:h:": 2, "u:h::": 2, "u:": 1, ":": 0, "::": 0, "u:h:x": 3, "::h": 3} {
		if got := javaSplitCount(s, ":"); got != want {
			t.Errorf("javaSplitCount(%q) = %d, want %d", s, got, want)
		}
	}
}
