package keeper

import "strings"

// The names sequential creates made are not in the raft log: an entry
// carries the prefix, and apply adds the parent's counter. The archiver
// keeps the names apply returned for the entries not yet archived
// (seqNames), so a segment's path index lists a sequential znode's
// create under the znode's own name as well as under its prefix, and
// History of the znode finds its create. Every member with an archive
// keeps them, as any may archive those entries next. A member that
// restarts loses the names of the entries it applied before; their
// creates are indexed under the prefix only.

// seqNames maps a raft index to the paths its ops created, in op order
// ("" for an op that made none), for entries whose creates include a
// name that may be sequential.
type seqNames map[uint64][]string

// noteCreated records, after an apply, the names the group's sequential
// creates made. Raft loop only.
func (a *archiver) noteCreated(group []committed, results []*applyResult) {
	if a == nil {
		return
	}
	for i, res := range results {
		if res == nil || res.Err != nil || i >= len(group) || !createsSequential(res.Ops) {
			continue
		}
		names := make([]string, len(res.Ops))
		for k, o := range res.Ops {
			names[k] = o.Path
		}
		if a.seqNames == nil {
			a.seqNames = seqNames{}
		}
		a.seqNames[group[i].Index] = names
	}
}

// createsSequential reports whether ops created a path that may be
// sequential: one ending in nine digits or more.
func createsSequential(ops []OpResult) bool {
	for _, o := range ops {
		if o.Err == nil && len(o.Path)-len(strings.TrimRight(o.Path, "0123456789")) >= 9 {
			return true
		}
	}
	return false
}

// isSequentialOf reports whether name is a sequential name made from
// prefix (sequentialName): ten digits, or a minus and nine or ten.
func isSequentialOf(name, prefix string) bool {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return false
	}
	digits := strings.TrimPrefix(rest, "-")
	if strings.TrimLeft(digits, "0123456789") != "" {
		return false
	}
	if len(digits) == len(rest) {
		return len(digits) == 10
	}
	return len(digits) == 9 || len(digits) == 10
}

// pick returns the names of the entries first..last.
func (s seqNames) pick(first, last uint64) seqNames {
	var out seqNames
	for z, names := range s {
		if z >= first && z <= last {
			if out == nil {
				out = seqNames{}
			}
			out[z] = names
		}
	}
	return out
}

// forgetTo forgets the entries up to last.
func (s seqNames) forgetTo(last uint64) {
	for z := range s {
		if z <= last {
			delete(s, z)
		}
	}
}
