package jute

// CreateRequest is the request of OpCreate, OpCreate2 and
// OpCreateContainer: the path, the data, the ACL and the mode.
type CreateRequest struct {
	Path  string
	Data  []byte // nil is written as null
	ACL   []ACL
	Flags CreateMode
}

// Encode appends path, data, acl and flags.
func (r *CreateRequest) Encode(e *Encoder) {
	e.UString(r.Path)
	e.Buffer(r.Data)
	encodeACLs(e, r.ACL)
	e.Int32(int32(r.Flags))
}

// Decode reads path, data, acl and flags.
func (r *CreateRequest) Decode(d *Decoder) {
	r.Path = d.UString()
	r.Data = d.Buffer()
	r.ACL = decodeACLs(d)
	r.Flags = CreateMode(d.Int32())
}

// CreateTTLRequest is OpCreateTTL's request: a CreateRequest, then the TTL
// in ms.
type CreateTTLRequest struct {
	CreateRequest
	TTL int64
}

// Encode appends the CreateRequest's fields, then ttl.
func (r *CreateTTLRequest) Encode(e *Encoder) {
	r.CreateRequest.Encode(e)
	e.Int64(r.TTL)
}

// Decode reads the CreateRequest's fields, then ttl.
func (r *CreateTTLRequest) Decode(d *Decoder) {
	r.CreateRequest.Decode(d)
	r.TTL = d.Int64()
}

// Create2Response is the reply to OpCreate2, OpCreateContainer and
// OpCreateTTL: the created path (with its sequence suffix) and its Stat.
type Create2Response struct {
	Path string
	Stat Stat
}

// Encode appends path and stat.
func (r *Create2Response) Encode(e *Encoder) {
	e.UString(r.Path)
	r.Stat.Encode(e)
}

// Decode reads path and stat.
func (r *Create2Response) Decode(d *Decoder) {
	r.Path = d.UString()
	r.Stat.Decode(d)
}
