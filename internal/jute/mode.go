package jute

// CreateMode is the flags field of CreateRequest and CreateTTLRequest
// (CreateMode.java, release-3.9.5). ZooKeeper answers a flag outside these
// with BADARGUMENTS (CreateMode.fromFlag); the Decoder does not check it.
type CreateMode int32

// ZooKeeper's create modes.
const (
	ModePersistent                  CreateMode = 0
	ModeEphemeral                   CreateMode = 1
	ModePersistentSequential        CreateMode = 2
	ModeEphemeralSequential         CreateMode = 3
	ModeContainer                   CreateMode = 4 // 3.5.1, with createContainer
	ModePersistentWithTTL           CreateMode = 5 // 3.5.3, with createTTL
	ModePersistentSequentialWithTTL CreateMode = 6 // 3.5.3, with createTTL
)

// ACL permission bits, ACL.Perms (ZooDefs.Perms, release-3.9.5).
const (
	PermRead   int32 = 1 << 0
	PermWrite  int32 = 1 << 1
	PermCreate int32 = 1 << 2
	PermDelete int32 = 1 << 3
	PermAdmin  int32 = 1 << 4
	PermAll          = PermRead | PermWrite | PermCreate | PermDelete | PermAdmin
)
