package keeper

// Perm is a set of ZooKeeper permissions.
type Perm int32

// The permissions an ACL entry grants, with ZooKeeper's bit values.
const (
	PermRead   Perm = 1 << 0 // read data and list children
	PermWrite  Perm = 1 << 1 // set data
	PermCreate Perm = 1 << 2 // create children
	PermDelete Perm = 1 << 3 // delete children
	PermAdmin  Perm = 1 << 4 // set the ACL
	PermAll         = PermRead | PermWrite | PermCreate | PermDelete | PermAdmin
)

// Identity is who a caller is: a scheme and an id within it, as ZooKeeper's
// auth info. For the digest scheme, ID is "user:password" when passed by a
// caller (see DigestIdentity) and "user:base64(sha1(user:password))" inside an ACL.
type Identity struct {
	Scheme string
	ID     string
}

// ACL grants Perms to the identities matched by Scheme and ID.
type ACL struct {
	Perms  Perm
	Scheme string
	ID     string
}

// OpenACL gives every permission to everyone (world:anyone), ZooKeeper's
// OPEN_ACL_UNSAFE and the default for creates.
func OpenACL() []ACL { return []ACL{{Perms: PermAll, Scheme: "world", ID: "anyone"}} }

// ReadACL lets everyone read (world:anyone, read only).
func ReadACL() []ACL { return []ACL{{Perms: PermRead, Scheme: "world", ID: "anyone"}} }

// CreatorACL gives every permission to the identities of the creating caller
// (ZooKeeper's CREATOR_ALL_ACL, the auth scheme).
func CreatorACL() []ACL { return []ACL{{Perms: PermAll, Scheme: "auth", ID: ""}} }
