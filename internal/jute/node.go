package jute

// SetDataRequest is OpSetData's request: the path, the new data and the
// version the node must have (−1 for any).
type SetDataRequest struct {
	Path    string
	Data    []byte // nil is written as null
	Version int32
}

func (r *SetDataRequest) fields(w walker) {
	w.ustring(&r.Path)
	w.buffer(&r.Data)
	w.int32(&r.Version)
}

// GetDataResponse is the reply to OpGetData, and to OpReconfig (the new
// configuration's text and the config node's Stat).
type GetDataResponse struct {
	Data []byte // nil is written as null, which Java clients read as null
	Stat Stat
}

func (r *GetDataResponse) fields(w walker) {
	w.buffer(&r.Data)
	r.Stat.fields(w)
}

// SetACLRequest is OpSetACL's request: the path, the new ACL and the ACL
// version the node must have (−1 for any).
type SetACLRequest struct {
	Path    string
	ACL     []ACL
	Version int32
}

func (r *SetACLRequest) fields(w walker) {
	w.ustring(&r.Path)
	walkVector(w, &r.ACL, aclMinLen)
	w.int32(&r.Version)
}

// GetACLResponse is OpGetACL's reply: the ACL and the node's Stat.
type GetACLResponse struct {
	ACL  []ACL
	Stat Stat
}

func (r *GetACLResponse) fields(w walker) {
	walkVector(w, &r.ACL, aclMinLen)
	r.Stat.fields(w)
}

// GetChildrenResponse is OpGetChildren's reply: the children's names.
type GetChildrenResponse struct {
	Children []string
}

func (r *GetChildrenResponse) fields(w walker) { w.ustrings(&r.Children) }

// GetChildren2Response is OpGetChildren2's reply: the children's names and
// the node's Stat.
type GetChildren2Response struct {
	Children []string
	Stat     Stat
}

func (r *GetChildren2Response) fields(w walker) {
	w.ustrings(&r.Children)
	r.Stat.fields(w)
}

// GetAllChildrenNumberResponse is OpGetAllChildrenNumber's reply: the number
// of the node's descendants.
type GetAllChildrenNumberResponse struct {
	TotalNumber int32
}

func (r *GetAllChildrenNumberResponse) fields(w walker) { w.int32(&r.TotalNumber) }

// GetEphemeralsResponse is OpGetEphemerals's reply: the paths of the
// session's ephemeral nodes under the prefix.
type GetEphemeralsResponse struct {
	Ephemerals []string
}

func (r *GetEphemeralsResponse) fields(w walker) { w.ustrings(&r.Ephemerals) }
