package jute

// SetDataRequest is OpSetData's request: the path, the new data and the
// version the node must have (−1 for any).
type SetDataRequest struct {
	Path    string
	Data    []byte // nil is written as null
	Version int32
}

// Encode appends path, data and version.
func (r *SetDataRequest) Encode(e *Encoder) {
	e.UString(r.Path)
	e.Buffer(r.Data)
	e.Int32(r.Version)
}

// Decode reads path, data and version.
func (r *SetDataRequest) Decode(d *Decoder) {
	r.Path = d.UString()
	r.Data = d.Buffer()
	r.Version = d.Int32()
}

// GetDataResponse is the reply to OpGetData, and to OpReconfig (the new
// configuration's text and the config node's Stat).
type GetDataResponse struct {
	Data []byte // nil is written as null, which Java clients read as null
	Stat Stat
}

// Encode appends data and stat.
func (r *GetDataResponse) Encode(e *Encoder) {
	e.Buffer(r.Data)
	r.Stat.Encode(e)
}

// Decode reads data and stat.
func (r *GetDataResponse) Decode(d *Decoder) {
	r.Data = d.Buffer()
	r.Stat.Decode(d)
}

// SetACLRequest is OpSetACL's request: the path, the new ACL and the ACL
// version the node must have (−1 for any).
type SetACLRequest struct {
	Path    string
	ACL     []ACL
	Version int32
}

// Encode appends path, acl and version.
func (r *SetACLRequest) Encode(e *Encoder) {
	e.UString(r.Path)
	encodeACLs(e, r.ACL)
	e.Int32(r.Version)
}

// Decode reads path, acl and version.
func (r *SetACLRequest) Decode(d *Decoder) {
	r.Path = d.UString()
	r.ACL = decodeACLs(d)
	r.Version = d.Int32()
}

// GetACLResponse is OpGetACL's reply: the ACL and the node's Stat.
type GetACLResponse struct {
	ACL  []ACL
	Stat Stat
}

// Encode appends acl and stat.
func (r *GetACLResponse) Encode(e *Encoder) {
	encodeACLs(e, r.ACL)
	r.Stat.Encode(e)
}

// Decode reads acl and stat.
func (r *GetACLResponse) Decode(d *Decoder) {
	r.ACL = decodeACLs(d)
	r.Stat.Decode(d)
}

// GetChildrenResponse is OpGetChildren's reply: the children's names.
type GetChildrenResponse struct {
	Children []string
}

// Encode appends children.
func (r *GetChildrenResponse) Encode(e *Encoder) { encodeStrings(e, r.Children) }

// Decode reads children.
func (r *GetChildrenResponse) Decode(d *Decoder) { r.Children = decodeStrings(d) }

// GetChildren2Response is OpGetChildren2's reply: the children's names and
// the node's Stat.
type GetChildren2Response struct {
	Children []string
	Stat     Stat
}

// Encode appends children and stat.
func (r *GetChildren2Response) Encode(e *Encoder) {
	encodeStrings(e, r.Children)
	r.Stat.Encode(e)
}

// Decode reads children and stat.
func (r *GetChildren2Response) Decode(d *Decoder) {
	r.Children = decodeStrings(d)
	r.Stat.Decode(d)
}

// GetAllChildrenNumberResponse is OpGetAllChildrenNumber's reply: the number
// of the node's descendants.
type GetAllChildrenNumberResponse struct {
	TotalNumber int32
}

// Encode appends totalNumber.
func (r *GetAllChildrenNumberResponse) Encode(e *Encoder) { e.Int32(r.TotalNumber) }

// Decode reads totalNumber.
func (r *GetAllChildrenNumberResponse) Decode(d *Decoder) { r.TotalNumber = d.Int32() }

// GetEphemeralsResponse is OpGetEphemerals's reply: the paths of the
// session's ephemeral nodes under the prefix.
type GetEphemeralsResponse struct {
	Ephemerals []string
}

// Encode appends ephemerals.
func (r *GetEphemeralsResponse) Encode(e *Encoder) { encodeStrings(e, r.Ephemerals) }

// Decode reads ephemerals.
func (r *GetEphemeralsResponse) Decode(d *Decoder) { r.Ephemerals = decodeStrings(d) }
