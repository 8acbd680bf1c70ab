package jute

// walker visits a record's fields in zookeeper.jute's order: an *Encoder
// appends each field, a *Decoder reads each into place. A record states its
// layout once, in its fields method, and both directions follow it, so its
// encoder and decoder cannot disagree.
type walker interface {
	int32(p *int32)
	int64(p *int64)
	boolean(p *bool)
	buffer(p *[]byte)
	ustring(p *string)
	ustrings(p *[]string)
	// optionalBoolean is a trailing boolean that may be absent: written
	// when *present, read when a byte is left.
	optionalBoolean(p, present *bool)
}

func (e *Encoder) int32(p *int32)       { e.Int32(*p) }
func (e *Encoder) int64(p *int64)       { e.Int64(*p) }
func (e *Encoder) boolean(p *bool)      { e.Bool(*p) }
func (e *Encoder) buffer(p *[]byte)     { e.Buffer(*p) }
func (e *Encoder) ustring(p *string)    { e.UString(*p) }
func (e *Encoder) ustrings(p *[]string) { encodeStrings(e, *p) }

func (e *Encoder) optionalBoolean(p, present *bool) {
	if *present {
		e.Bool(*p)
	}
}

func (d *Decoder) int32(p *int32)       { *p = d.Int32() }
func (d *Decoder) int64(p *int64)       { *p = d.Int64() }
func (d *Decoder) boolean(p *bool)      { *p = d.Bool() }
func (d *Decoder) buffer(p *[]byte)     { *p = d.Buffer() }
func (d *Decoder) ustring(p *string)    { *p = d.UString() }
func (d *Decoder) ustrings(p *[]string) { *p = decodeStrings(d) }

func (d *Decoder) optionalBoolean(p, present *bool) {
	*p, *present = false, false
	if d.err == nil && d.Remaining() > 0 {
		*p, *present = d.Bool(), true
	}
}

// walkVector walks a vector of records whose encodings take at least
// minItem bytes each. Null and empty decode as nil.
func walkVector[T any, P interface {
	*T
	Record
}](w walker, p *[]T, minItem int) {
	switch w := w.(type) {
	case *Encoder:
		w.VectorLen(len(*p))
		for i := range *p {
			P(&(*p)[i]).fields(w)
		}
	case *Decoder:
		*p = decodeVector(w, minItem, func(d *Decoder) (v T) {
			P(&v).fields(d)
			return v
		})
	}
}
