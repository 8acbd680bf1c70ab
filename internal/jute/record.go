package jute

// Record is one of ZooKeeper's jute records: the types of this package
// that stand for the records of zookeeper.jute. Encoder.Encode appends its
// fields in the order zookeeper.jute declares them; Decoder.Decode reads
// them back, overwriting every field. After a failed Decode the fields hold
// what was read before the failure and zero values after it.
type Record interface {
	// fields walks the record's fields in zookeeper.jute's order.
	fields(w walker)
}

// Encode appends r's fields; a nil r (the request or reply of an op that
// is the header alone) appends nothing.
func (e *Encoder) Encode(r Record) {
	if r != nil {
		r.fields(e)
	}
}

// Decode reads r's fields from the packet and returns Err; a nil r (the
// request or reply of an op that is the header alone) reads nothing.
func (d *Decoder) Decode(r Record) error {
	if r != nil {
		r.fields(d)
	}
	return d.err
}

// AppendRecord appends r's encoding to dst; a nil r appends nothing.
func AppendRecord(dst []byte, r Record) []byte {
	e := Encoder{buf: dst}
	e.Encode(r)
	return e.buf
}

// Unmarshal decodes r from b, which must hold r and nothing more: short
// input and bytes left over are errors matching ErrMalformed.
func Unmarshal(b []byte, r Record) error {
	d := Decoder{b: b}
	r.fields(&d)
	return d.End()
}
