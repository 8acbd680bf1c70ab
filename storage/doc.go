// Package storage is the ordered key/value store a keeper member keeps its
// znode tree in: a Pebble database under a data dir's tree directory, with
// batches, iterators, point-in-time snapshots, a Loader that fills a store by
// ingesting sorted keys as sstables, and the data dir checks (format marker,
// cluster id) that Open makes.
//
// It is not a stable API: it serves keeper and changes with it, in any
// release. Which keys keeper writes and what their values mean, the raft log,
// and the steps that replace a member's tree with a received one are private
// to keeper and are not offered here. Open a member's tree only while the
// member is stopped, and read-only (Options.ReadOnly): a write from outside
// keeper changes one member's tree behind raft's back, so the members no
// longer hold the same tree.
//
// Its exported API uses only the standard library and its own types: no
// Pebble, raft or zap type appears in it, so that upgrading those never
// changes it. A Store is safe for concurrent use; a Batch, Iter, Snapshot or
// Loader belongs to one goroutine at a time.
package storage
