package keeper

// Zxid is a position in the cluster's history: the raft index of the log
// entry that made a change (all ops of a Multi share one). A member's tree
// at zxid z holds exactly the changes of the entries up to z. Zxids only
// rise, also across a restore, which goes on above the backup's zxid. A tree
// imported from ZooKeeper keeps ZooKeeper's zxids (epoch << 32 | counter).
type Zxid int64

// SessionID names a session: it is the zxid of the entry that created the
// session. Zero means no session, as in the Stat of a znode that is not
// ephemeral.
type SessionID int64
