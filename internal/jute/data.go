package jute

// The records of zookeeper.jute's module org.apache.zookeeper.data that the
// client protocol carries.

// ID is jute's Id: an identity in an auth scheme ("world" "anyone",
// "digest" "user:base64(sha1)", "ip" "10.0.0.0/8", …).
type ID struct {
	Scheme string
	ID     string
}

// Encode appends scheme and id.
func (r *ID) Encode(e *Encoder) {
	e.UString(r.Scheme)
	e.UString(r.ID)
}

// Decode reads scheme and id.
func (r *ID) Decode(d *Decoder) {
	r.Scheme = d.UString()
	r.ID = d.UString()
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

// Encode appends perms, then the Id.
func (r *ACL) Encode(e *Encoder) {
	e.Int32(r.Perms)
	e.UString(r.Scheme)
	e.UString(r.ID)
}

// Decode reads perms, then the Id.
func (r *ACL) Decode(d *Decoder) {
	r.Perms = d.Int32()
	r.Scheme = d.UString()
	r.ID = d.UString()
}

// encodeACLs appends a vector<ACL>.
func encodeACLs(e *Encoder, v []ACL) {
	e.VectorLen(len(v))
	for i := range v {
		v[i].Encode(e)
	}
}

// decodeACLs reads a vector<ACL>; null and empty read as nil.
func decodeACLs(d *Decoder) []ACL {
	return decodeVector(d, aclMinLen, func(d *Decoder) (a ACL) {
		a.Decode(d)
		return a
	})
}

// Stat is jute's Stat, a znode's metadata as clients see it: 68 bytes.
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

// Encode appends the fields in jute's order.
func (r *Stat) Encode(e *Encoder) {
	e.Int64(r.Czxid)
	e.Int64(r.Mzxid)
	e.Int64(r.Ctime)
	e.Int64(r.Mtime)
	e.Int32(r.Version)
	e.Int32(r.Cversion)
	e.Int32(r.Aversion)
	e.Int64(r.EphemeralOwner)
	e.Int32(r.DataLength)
	e.Int32(r.NumChildren)
	e.Int64(r.Pzxid)
}

// Decode reads the fields in jute's order.
func (r *Stat) Decode(d *Decoder) {
	r.Czxid = d.Int64()
	r.Mzxid = d.Int64()
	r.Ctime = d.Int64()
	r.Mtime = d.Int64()
	r.Version = d.Int32()
	r.Cversion = d.Int32()
	r.Aversion = d.Int32()
	r.EphemeralOwner = d.Int64()
	r.DataLength = d.Int32()
	r.NumChildren = d.Int32()
	r.Pzxid = d.Int64()
}

// ClientInfo is jute's ClientInfo (3.7), one entry of WhoAmIResponse: an
// auth scheme and the user (or other id, such as an address) it names.
type ClientInfo struct {
	AuthScheme string
	User       string
}

// Encode appends authScheme and user.
func (r *ClientInfo) Encode(e *Encoder) {
	e.UString(r.AuthScheme)
	e.UString(r.User)
}

// Decode reads authScheme and user.
func (r *ClientInfo) Decode(d *Decoder) {
	r.AuthScheme = d.UString()
	r.User = d.UString()
}
