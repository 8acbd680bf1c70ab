package zkfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ZooKeeper's op codes of the transactions its logs hold (ZooDefs.OpCode).
const (
	OpCreate          = 1
	OpDelete          = 2
	OpSetData         = 5
	OpSetACL          = 7
	OpCheck           = 13
	OpMulti           = 14
	OpCreate2         = 15
	OpReconfig        = 16
	OpCreateContainer = 19
	OpDeleteContainer = 20
	OpCreateTTL       = 21
	OpCreateSession   = -10
	OpCloseSession    = -11
	OpError           = -1
)

// Txn is one decoded transaction: the TxnHeader's fields and those of the
// record its type carries. Fields the type does not carry are zero.
type Txn struct {
	ClientID int64
	Cxid     int32
	Zxid     int64
	Time     int64
	Type     int32

	Path           string
	Data           []byte
	ACL            []ACL
	Ephemeral      bool  // create, create2
	ParentCVersion int32 // the creates; −1 in a 3.3-era create: the parent's + 1
	TTL            int64 // createTTL
	Version        int32 // setData, setACL: the new version; check: the expected one
	Timeout        int32 // createSession
	Err            int32 // error

	// Paths and HasPaths: a closeSession's CloseSessionTxn (3.6+), the
	// ephemerals to delete. Without it the server deletes the session's
	// ephemerals it knows of.
	Paths    []string
	HasPaths bool

	// Ops are a multi's operations, with the multi's header fields. OpsCut
	// says why the ops after the last one in Ops are missing: ZooKeeper's
	// DataTree stops applying a multi at an op it cannot decode or apply.
	Ops    []Txn
	OpsCut string

	// Digest is the tree digest the server expected after this transaction
	// (3.6+), or nil.
	Digest *TxnDigest
}

// TxnDigest is jute's TxnDigest.
type TxnDigest struct {
	Version int32
	Tree    int64
}

// txnHeaderSize is the encoded size of a TxnHeader.
const txnHeaderSize = 8 + 4 + 8 + 8 + 4

// txnDigestSize is the encoded size of a TxnDigest.
const txnDigestSize = 4 + 8

// DecodeTxn decodes one log entry: a TxnHeader, the record of its type, and
// optionally a TxnDigest, which must end the entry. Errors match ErrCorrupt
// or, for a type ZooKeeper's logs do not hold, ErrUnsupported.
func DecodeTxn(b []byte) (*Txn, error) {
	j := &juteReader{r: bytes.NewReader(b)}
	t := &Txn{}
	t.ClientID = j.int64()
	t.Cxid = j.int32()
	t.Zxid = j.int64()
	t.Time = j.int64()
	t.Type = j.int32()
	if j.err != nil {
		return nil, corruptf("txn header cut short")
	}
	body := b[txnHeaderSize:]
	rest, err := t.decodeBody(body)
	if err != nil {
		return nil, err
	}
	switch len(rest) {
	case 0:
	case txnDigestSize:
		dj := &juteReader{r: bytes.NewReader(rest)}
		t.Digest = &TxnDigest{Version: dj.int32(), Tree: dj.int64()}
	default:
		return nil, unsupportedf("txn 0x%x type %d: %d bytes after the record", t.Zxid, t.Type, len(rest))
	}
	return t, nil
}

// decodeBody decodes the record of t.Type from b and returns the bytes after
// it.
func (t *Txn) decodeBody(b []byte) ([]byte, error) {
	switch t.Type {
	case OpCloseSession:
		// A CloseSessionTxn, or (before 3.6, or with it disabled) nothing.
		// The entry then ends, or holds exactly a digest.
		if rest, err := t.decode(b); err == nil && (len(rest) == 0 || len(rest) == txnDigestSize) && pathsValid(t.Paths) {
			return rest, nil
		}
		t.Paths, t.HasPaths = nil, false
		return b, nil
	case OpCreate:
		rest, err := t.decode(b)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			// A 3.3-era create without parentCVersion.
			t.Ephemeral, t.ParentCVersion = false, 0
			j := &juteReader{r: bytes.NewReader(b)}
			t.createFields(j)
			t.Ephemeral = j.bool()
			t.ParentCVersion = -1
			if j.err != nil {
				return nil, corruptf("txn 0x%x create: cut short", t.Zxid)
			}
			return b[j.off:], nil
		}
		return rest, err
	}
	rest, err := t.decode(b)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, corruptf("txn 0x%x type %d: cut short", t.Zxid, t.Type)
	}
	return rest, err
}

// decode reads the record of t.Type and returns the bytes after it. Running
// out of bytes is returned as io.EOF or io.ErrUnexpectedEOF.
func (t *Txn) decode(b []byte) ([]byte, error) {
	j := &juteReader{r: bytes.NewReader(b)}
	switch t.Type {
	case OpCreate, OpCreate2:
		t.createFields(j)
		t.Ephemeral = j.bool()
		t.ParentCVersion = j.int32()
	case OpCreateTTL:
		t.createFields(j)
		t.ParentCVersion = j.int32()
		t.TTL = j.int64()
	case OpCreateContainer:
		t.createFields(j)
		t.ParentCVersion = j.int32()
	case OpDelete, OpDeleteContainer:
		t.Path = t.path(j)
	case OpSetData, OpReconfig:
		t.Path = t.path(j)
		t.Data = j.buffer(nil, "data")
		t.Version = j.int32()
	case OpSetACL:
		t.Path = t.path(j)
		t.ACL = j.acls()
		t.Version = j.int32()
	case OpCheck:
		t.Path = t.path(j)
		t.Version = j.int32()
	case OpCreateSession:
		t.Timeout = j.int32()
	case OpCloseSession:
		n, null := j.length("paths", 1<<31-1)
		t.HasPaths = !null
		for i := 0; i < n && j.err == nil; i++ {
			t.Paths = append(t.Paths, t.path(j))
		}
	case OpError:
		t.Err = j.int32()
	case OpMulti:
		t.decodeMulti(j)
	default:
		return nil, unsupportedf("txn 0x%x: type %d", t.Zxid, t.Type)
	}
	if j.err != nil {
		return nil, j.err
	}
	return b[j.off:], nil
}

func (t *Txn) createFields(j *juteReader) {
	t.Path = t.path(j)
	t.Data = j.buffer(nil, "data")
	t.ACL = j.acls()
}

// path reads a non-null path.
func (t *Txn) path(j *juteReader) string {
	p, null := j.str("path")
	if null {
		j.fail(corruptf("txn 0x%x: null path", t.Zxid))
	}
	return p
}

// decodeMulti reads a MultiTxn: a vector of (type, bytes) ops. Each op is
// decoded as ZooKeeper's DataTree does when it applies the multi: an op of
// a type it does not apply there, or one that does not decode, ends the
// ops (OpsCut says which).
func (t *Txn) decodeMulti(j *juteReader) {
	n, null := j.length("multi ops", 1<<31-1)
	if null {
		j.fail(corruptf("txn 0x%x: null multi", t.Zxid))
		return
	}
	type raw struct {
		typ  int32
		data []byte
	}
	var ops []raw
	for i := 0; i < n && j.err == nil; i++ {
		typ := j.int32()
		data := j.buffer(nil, "multi op")
		ops = append(ops, raw{typ, data})
	}
	if j.err != nil {
		return
	}
	for i, o := range ops {
		op := Txn{ClientID: t.ClientID, Cxid: t.Cxid, Zxid: t.Zxid, Time: t.Time, Type: o.typ}
		switch o.typ {
		case OpCreate, OpCreateTTL, OpCreateContainer, OpDelete, OpDeleteContainer, OpSetData, OpError, OpCheck:
		default:
			t.OpsCut = fmt.Sprintf("op %d has type %d, which a multi cannot apply", i, o.typ)
			return
		}
		if _, err := op.decode(o.data); err != nil {
			t.OpsCut = fmt.Sprintf("op %d (type %d) does not decode: %v", i, o.typ, err)
			return
		}
		t.Ops = append(t.Ops, op)
	}
}

// pathsValid reports whether every path starts with "/": a closeSession's
// paths read from bytes that are really a digest would not.
func pathsValid(paths []string) bool {
	for _, p := range paths {
		if len(p) < 2 || p[0] != '/' {
			return false
		}
	}
	return true
}
