package keeper

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Client issues tree operations on behalf of one caller: with the caller's
// identities, checked against each znode's ACL, and a read mode. A Node is a
// Client with no identities (world:anyone only) and local reads; WithAuth and
// Linearizable derive others. A Client is immutable, cheap to derive and safe
// for concurrent use.
type Client struct {
	n            *Node
	auth         []Identity // authenticated: digest ids hashed, super resolved
	session      int64
	sess         *Session // the session calls run as, or nil
	linearizable bool
}

// WithAuth returns a Client that acts with the given identities added, as a
// ZooKeeper client after addAuthInfo. A digest identity is "user:password"
// (see DigestIdentity); if it matches the host's Config.SuperDigest the
// Client is a super user, allowed everything. The "super" scheme cannot be
// claimed directly. An identity of an unknown scheme makes every later call
// fail with ErrBadArguments. An identity the Client already has is not added
// again (ZooKeeper's addAuthInfo), so an auth ACL expands to each identity
// once.
func (c *Client) WithAuth(ids ...Identity) *Client {
	d := *c
	d.auth = slices.Clone(c.auth)
	add := func(id Identity) {
		if !slices.Contains(d.auth, id) {
			d.auth = append(d.auth, id)
		}
	}
	for _, id := range ids {
		if id.Scheme == schemeSuper {
			continue
		}
		got, err := authenticate([]Identity{id})
		if err != nil {
			// Keep the refusal for the call that uses it.
			add(Identity{Scheme: id.Scheme, ID: "\x00invalid"})
			continue
		}
		if c.n.superDigest != "" && got[0].Scheme == schemeDigest && got[0].ID == c.n.superDigest {
			add(Identity{Scheme: schemeSuper})
		}
		add(got[0])
	}
	return &d
}

// Linearizable returns a Client whose reads first wait, through the leader,
// until this member has applied every write committed before the read began
// (raft ReadIndex), as Sync does. Reads on a plain Client are local and
// sequentially consistent: they see this member's writes in order, and may
// lag writes made through other members.
func (c *Client) Linearizable() *Client {
	d := *c
	d.linearizable = true
	return &d
}

// checkAuth refuses identities WithAuth could not accept.
func (c *Client) checkAuth() error {
	for _, id := range c.auth {
		if id.ID == "\x00invalid" {
			return fmt.Errorf("%w: unknown auth scheme %q", ErrBadArguments, id.Scheme)
		}
	}
	return nil
}

// submit checks and queues a write for proposal without waiting for it.
func (c *Client) submit(ctx context.Context, multi bool, ops ...Op) (*inflight, error) {
	if err := c.checkAuth(); err != nil {
		return nil, err
	}
	if c.sess != nil {
		if err := c.sess.usable(); err != nil {
			return nil, err
		}
	}
	r := request{Time: time.Now().UnixMilli(), Session: c.session, Auth: c.auth, Multi: multi, Ops: ops}
	payload, err := encodeRequest(nil, &r)
	if err != nil {
		return nil, err
	}
	w, err := c.n.submit(ctx, payload)
	if err != nil && c.sess != nil {
		return nil, connErr(err)
	}
	return w, err
}

// await waits for a write submit queued.
func (c *Client) await(ctx context.Context, w *inflight) (*applyResult, error) {
	res, err := c.n.await(ctx, w)
	if err != nil && c.sess != nil {
		return nil, connErr(err)
	}
	return res, err
}

// writeOne runs a single op and returns its result.
func (c *Client) writeOne(ctx context.Context, op Op) (OpResult, error) {
	res, err := c.Start(ctx, false, op).Wait()
	if err != nil {
		return OpResult{}, err
	}
	return res[0], nil
}

// Create makes a znode holding data and returns its path, which for a
// sequential mode carries the 10-digit suffix. Options set the ACL (default
// OpenACL) and the TTL of TTL modes. Ephemeral modes need a session.
//
// The checks, in ZooKeeper's order: the path (ErrInvalidPath), mode, TTL
// and data size (ErrBadArguments), the ACL given (ErrInvalidACL), the parent
// exists (ErrNoNode) and grants CREATE (ErrNoAuth), the path is not under
// /zookeeper (ErrBadArguments) and does not exist (ErrNodeExists), the
// parent is not ephemeral (ErrNoChildrenForEphemerals).
func (c *Client) Create(ctx context.Context, path string, data []byte, mode CreateMode, opts ...CreateOption) (string, error) {
	res, err := c.writeOne(ctx, CreateOp(path, data, mode, opts...))
	return res.Path, err
}

// Create2 is Create that also returns the new znode's Stat.
func (c *Client) Create2(ctx context.Context, path string, data []byte, mode CreateMode, opts ...CreateOption) (string, Stat, error) {
	res, err := c.writeOne(ctx, CreateOp(path, data, mode, opts...))
	return res.Path, res.Stat, err
}

// Set replaces the data of path if its version is version (AnyVersion: any)
// and returns the new Stat. The checks, in ZooKeeper's order: the path
// (ErrInvalidPath; under /zookeeper ErrBadArguments), the znode exists
// (ErrNoNode), WRITE (ErrNoAuth), version (ErrBadVersion).
func (c *Client) Set(ctx context.Context, path string, data []byte, version int32) (Stat, error) {
	res, err := c.writeOne(ctx, SetOp(path, data, version))
	return res.Stat, err
}

// Delete removes path, which must have no children, if its version is
// version (AnyVersion: any). The checks, in ZooKeeper's order: the path
// (ErrInvalidPath; "/" and /zookeeper and below: ErrBadArguments), the
// parent exists (ErrNoNode) and grants DELETE (ErrNoAuth), path exists
// (ErrNoNode), version (ErrBadVersion), no children (ErrNotEmpty). So a
// caller the parent denies DELETE gets ErrNoAuth whether or not path exists.
func (c *Client) Delete(ctx context.Context, path string, version int32) error {
	_, err := c.writeOne(ctx, DeleteOp(path, version))
	return err
}

// SetACL replaces the ACL of path if its ACL version (Aversion) is version
// (AnyVersion: any) and returns the new Stat. The checks, in ZooKeeper's
// order: the path (ErrInvalidPath; under /zookeeper ErrBadArguments), the
// ACL given (ErrInvalidACL: empty, an unknown scheme, world with an id other
// than anyone, a digest id that is not user:hash, auth while the caller has
// no identity), the znode exists (ErrNoNode), ADMIN (ErrNoAuth), Aversion
// (ErrBadVersion). Repeated entries of acl are dropped; each auth entry
// becomes one entry per identity of the caller.
func (c *Client) SetACL(ctx context.Context, path string, acl []ACL, version int32) (Stat, error) {
	res, err := c.writeOne(ctx, SetACLOp(path, acl, version))
	return res.Stat, err
}

// Multi runs ops as one transaction at one zxid: all take effect or none do.
// On success it returns one result per op, as the op alone would have
// (Path and Stat for a create, Stat for a set or setACL).
//
// The ops are checked one after the other, each in ZooKeeper's order (path,
// then the ACL given, then permissions, then existence and versions), and
// each sees the changes of the ops before it. If op k fails, nothing takes
// effect; the error is a *MultiError with Index k (errors.Is matches its
// cause) and there is still one result per op, as ZooKeeper 3.8 reports
// them: a zero OpResult for each op before k, op k's error at k, and
// ErrRuntimeInconsistency for each op after it. This holds whether op k
// failed on the tree or on its own arguments. Unlike a single call's, an
// op's path is checked only when its turn comes, and as ZooKeeper's server
// checks it: a create's parent is looked up before its whole path is
// validated, and a delete's path only needs a "/", so such an op with a path
// that is not valid may fail with ErrNoNode or ErrNoAuth rather than
// ErrInvalidPath. An op that cannot be sent at all (the zero Op, data above
// 1 MiB, a TTL out of range) fails the Multi at that op before any op is
// checked, as ZooKeeper's client refuses such an op.
//
// Any other error (ErrNoLeader, ErrIndeterminate, session and connection
// errors) comes with nil results: the ops were not run, or their outcome is
// unknown.
func (c *Client) Multi(ctx context.Context, ops ...Op) ([]OpResult, error) {
	return c.Start(ctx, true, ops...).Wait()
}

// read runs fn on the member's tree after the read barrier, if any.
func (c *Client) read(ctx context.Context, fn func(t *tree) error) error {
	if err := c.checkAuth(); err != nil {
		return err
	}
	if c.sess != nil {
		if err := c.sess.usable(); err != nil {
			return err
		}
	}
	if err := c.awaitRead(ctx); err != nil {
		return err
	}
	// Shared visibility lock: a read never runs between an apply group's
	// watch events and its commit (see watch.go).
	return c.n.gate.read(func() error { return c.n.withTree(fn) })
}

// awaitRead waits for the read barrier if c reads linearizably (see
// Linearizable), else checks ctx; a session's caller gets
// ErrConnectionLoss for ErrNoLeader.
func (c *Client) awaitRead(ctx context.Context) error {
	if c.linearizable {
		if err := c.n.barrier(ctx); err != nil {
			if c.sess != nil {
				return connErr(err)
			}
			return err
		}
	} else if err := ctx.Err(); err != nil {
		return err
	}
	return nil
}

// Get returns the data and Stat of path. It needs READ.
func (c *Client) Get(ctx context.Context, path string) (data []byte, stat Stat, err error) {
	err = c.read(ctx, func(t *tree) error {
		data, stat, err = t.get(path, c.auth)
		return err
	})
	return data, stat, err
}

// Exists returns the Stat of path and whether it exists; a missing znode is
// not an error. It needs no permission.
func (c *Client) Exists(ctx context.Context, path string) (stat Stat, ok bool, err error) {
	err = c.read(ctx, func(t *tree) error {
		stat, err = t.exists(path)
		return err
	})
	if errors.Is(err, ErrNoNode) {
		return Stat{}, false, nil
	}
	return stat, err == nil, err
}

// Children returns the names of path's children, sorted, and its Stat. It
// needs READ.
func (c *Client) Children(ctx context.Context, path string) (names []string, stat Stat, err error) {
	err = c.read(ctx, func(t *tree) error {
		names, stat, err = t.children(path, c.auth)
		return err
	})
	return names, stat, err
}

// GetACL returns the ACL and Stat of path. It needs READ or ADMIN; without
// ADMIN the password hashes of digest entries read "x".
func (c *Client) GetACL(ctx context.Context, path string) (acl []ACL, stat Stat, err error) {
	err = c.read(ctx, func(t *tree) error {
		acl, stat, err = t.getACL(path, c.auth)
		return err
	})
	return acl, stat, err
}

// AllChildrenNumber returns how many znodes lie below path, at every depth.
// It needs READ on path and costs O(descendants).
func (c *Client) AllChildrenNumber(ctx context.Context, path string) (n int64, err error) {
	err = c.read(ctx, func(t *tree) error {
		n, err = t.allChildrenNumber(path, c.auth)
		return err
	})
	return n, err
}

// Sync waits until this member has applied every write committed
// cluster-wide before the call, so that reads after it see them (ZooKeeper's
// sync; path is validated and otherwise unused: keeper syncs the whole tree).
func (c *Client) Sync(ctx context.Context, path string) error {
	if err := validatePath(path, false); err != nil {
		return err
	}
	return c.n.barrier(ctx)
}
