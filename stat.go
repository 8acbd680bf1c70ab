package keeper

// Stat is a znode's metadata, field for field ZooKeeper's Stat as its clients
// read it. Every zxid is the raft index of the entry that made the change; a
// multi's changes share one.
type Stat struct {
	Czxid Zxid  // zxid of the create
	Mzxid Zxid  // zxid of the last data change (or the create)
	Pzxid Zxid  // zxid of the last change to the child list (or the create)
	Ctime int64 // create time, milliseconds since the Unix epoch, from the entry
	Mtime int64 // last data change time, milliseconds since the Unix epoch
	// Version is the number of data changes.
	Version int32
	// Cversion is the number of changes to the child list: every child
	// created and every child deleted (by Delete, or with its session)
	// counts one. As ZooKeeper reports it, it is 2 × creates − NumChildren,
	// so a node that got children without creates reads below zero: the
	// root of a fresh tree, whose one child /zookeeper was never created,
	// has Cversion -1.
	Cversion int32
	// Aversion is the number of ACL changes.
	Aversion int32
	// EphemeralOwner is the owning session id of an ephemeral znode, else
	// 0 (also for container and TTL znodes, as ZooKeeper reports them).
	EphemeralOwner SessionID
	DataLength     int32 // length of the data
	NumChildren    int32 // number of children
}

// reported returns the Stat callers see for the stored stat s. The stored
// Cversion counts the creates of children (ZooKeeper's internal counter, which
// names sequential children and tells the reaper a container has had a
// child); callers see the count of child list changes that ZooKeeper's
// DataNode.copyStat derives from it: 2 × creates − NumChildren, in int32
// arithmetic. Nothing stored changes.
func reported(s Stat) Stat {
	s.Cversion = s.Cversion*2 - s.NumChildren
	return s
}

// AnyVersion, passed as the expected version to Set, Delete, SetACL or CheckOp,
// skips the version check.
const AnyVersion int32 = -1
