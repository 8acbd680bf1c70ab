package jute

// CreateRequest is the request of OpCreate, OpCreate2 and
// OpCreateContainer: the path, the data, the ACL and the mode.
type CreateRequest struct {
	Path  string
	Data  []byte // nil is written as null
	ACL   []ACL
	Flags CreateMode
}

func (r *CreateRequest) fields(w walker) {
	w.ustring(&r.Path)
	w.buffer(&r.Data)
	walkVector(w, &r.ACL, aclMinLen)
	w.int32((*int32)(&r.Flags))
}

// CreateTTLRequest is OpCreateTTL's request: a CreateRequest, then the TTL
// in ms.
type CreateTTLRequest struct {
	CreateRequest
	TTL int64
}

func (r *CreateTTLRequest) fields(w walker) {
	r.CreateRequest.fields(w)
	w.int64(&r.TTL)
}

// Create2Response is the reply to OpCreate2, OpCreateContainer and
// OpCreateTTL: the created path (with its sequence suffix) and its Stat.
type Create2Response struct {
	Path string
	Stat Stat
}

func (r *Create2Response) fields(w walker) {
	w.ustring(&r.Path)
	r.Stat.fields(w)
}
