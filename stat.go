package keeper

// Stat is a znode's metadata, field for field ZooKeeper's Stat. Every zxid is the
// raft index of the entry that made the change; a multi's changes share one.
type Stat struct {
	Czxid          int64 // zxid of the create
	Mzxid          int64 // zxid of the last data change (or the create)
	Pzxid          int64 // zxid of the last change to the child list (or the create)
	Ctime          int64 // create time, milliseconds since the Unix epoch, from the entry
	Mtime          int64 // last data change time, milliseconds since the Unix epoch
	Version        int32 // number of data changes
	Cversion       int32 // number of child list changes
	Aversion       int32 // number of ACL changes
	EphemeralOwner int64 // owning session id for an ephemeral znode, else 0
	DataLength     int32 // length of the data
	NumChildren    int32 // number of children
}

// AnyVersion, passed as the expected version to Set, Delete, SetACL or CheckOp,
// skips the version check.
const AnyVersion int32 = -1
