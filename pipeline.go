package keeper

import (
	"context"
	"errors"
	"fmt"
)

// Pending is a write started by Client.Start. Its result comes from Wait.
type Pending struct {
	c     *Client
	ctx   context.Context
	multi bool
	n     int // ops
	w     *inflight
	err   error // the write was refused before it was proposed
}

// Start begins ops as one write and returns as soon as the write is queued
// for proposal, without waiting for its result; Wait gives the result.
// Writes started one after another (from one goroutine, or otherwise
// ordered) are proposed, and so applied, in the order they were started,
// which lets a caller pipeline writes and keep their order, as a ZooKeeper
// connection does. With multi, ops are one transaction and Wait answers as
// Multi does; without, ops must be a single op and Wait answers as the
// single call (Create, Set, ...) would, with its result as the only
// element. ctx bounds both the queueing and Wait.
func (c *Client) Start(ctx context.Context, multi bool, ops ...Op) *Pending {
	p := &Pending{c: c, ctx: ctx, multi: multi, n: len(ops)}
	switch {
	case multi && len(ops) == 0:
		return p
	case !multi && len(ops) != 1:
		p.err = fmt.Errorf("%w: a single write carries one op, not %d", ErrBadArguments, len(ops))
		return p
	}
	p.w, p.err = c.submit(ctx, multi, ops...)
	return p
}

// Wait waits for the write's result and returns it as Multi returns its
// results (multi), or as the single op's call would (with one result).
// Like theirs, an error matching ErrIndeterminate means the write's fate is
// unknown.
func (p *Pending) Wait() ([]OpResult, error) {
	if p.multi && p.n == 0 {
		return nil, nil
	}
	if p.err != nil {
		if me := (*MultiError)(nil); p.multi && errors.As(p.err, &me) {
			results := make([]OpResult, p.n)
			failedResults(results, me.Index, me.Err)
			return results, p.err
		}
		return nil, p.err
	}
	res, err := p.c.await(p.ctx, p.w)
	if err != nil {
		return nil, err
	}
	if !p.multi {
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Ops[:1], nil
	}
	if res.Err != nil && !errors.As(res.Err, new(*MultiError)) {
		return nil, res.Err
	}
	return res.Ops, res.Err
}
