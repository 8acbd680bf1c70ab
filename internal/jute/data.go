package jute

// The records of zookeeper.jute's module org.apache.zookeeper.data that the
// client protocol carries.

// ID is jute's Id: an identity in an auth scheme ("world" "anyone",
// "digest" "user:base64(sha1)", "ip" "10.0.0.0/8", …).
type ID struct {
	Scheme string
	ID     string
}

func (r *ID) fields(w walker) {
	w.ustring(&r.Scheme)
	w.ustring(&r.ID)
}

// ACL is jute's ACL: permission bits (PermRead, …) for an Id, whose two
// fields it holds inline, as internal/zkfile's ACL does.
type ACL struct {
	Perms  int32
	Scheme string
	ID     string
}

// aclMinLen is the shortest encoded ACL: perms and two empty strings.
const aclMinLen = 4 + 4 + 4

func (r *ACL) fields(w walker) {
	w.int32(&r.Perms)
	w.ustring(&r.Scheme)
	w.ustring(&r.ID)
}

// Stat is jute's Stat, a znode's metadata as clients see it: StatLen bytes.
type Stat struct {
	Czxid          int64 // the zxid that created the node
	Mzxid          int64 // the zxid that last set its data
	Ctime          int64 // ms since the epoch
	Mtime          int64 // ms since the epoch
	Version        int32 // data version
	Cversion       int32 // child version
	Aversion       int32 // ACL version
	EphemeralOwner int64 // the owning session of an ephemeral node, else 0
	DataLength     int32
	NumChildren    int32
	Pzxid          int64 // the zxid that last changed its children
}

// StatLen is the length of an encoded Stat.
const StatLen = 6*8 + 5*4

func (r *Stat) fields(w walker) {
	w.int64(&r.Czxid)
	w.int64(&r.Mzxid)
	w.int64(&r.Ctime)
	w.int64(&r.Mtime)
	w.int32(&r.Version)
	w.int32(&r.Cversion)
	w.int32(&r.Aversion)
	w.int64(&r.EphemeralOwner)
	w.int32(&r.DataLength)
	w.int32(&r.NumChildren)
	w.int64(&r.Pzxid)
}

// ClientInfo is jute's ClientInfo (3.7), one entry of WhoAmIResponse: an
// auth scheme and the user (or other id, such as an address) it names.
type ClientInfo struct {
	AuthScheme string
	User       string
}

// clientInfoMinLen is the shortest encoded ClientInfo: two empty strings.
const clientInfoMinLen = 4 + 4

func (r *ClientInfo) fields(w walker) {
	w.ustring(&r.AuthScheme)
	w.ustring(&r.User)
}
