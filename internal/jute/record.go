package jute

// Record is one of ZooKeeper's jute records. Encode appends its fields in
// the order zookeeper.jute declares them; Decode reads them back, overwriting
// every field. After a failed Decode (the Decoder's Err is set) the fields
// hold what was read before the failure and zero values after it.
type Record interface {
	Encode(e *Encoder)
	Decode(d *Decoder)
}

// AppendRecord appends r's encoding to dst; a nil r (the request or reply
// of an op that is the header alone) appends nothing.
func AppendRecord(dst []byte, r Record) []byte {
	if r == nil {
		return dst
	}
	e := Encoder{buf: dst}
	r.Encode(&e)
	return e.buf
}

// Unmarshal decodes r from b, which must hold r and nothing more: short
// input and bytes left over are errors matching ErrMalformed.
func Unmarshal(b []byte, r Record) error {
	d := Decoder{b: b}
	r.Decode(&d)
	return d.End()
}
