package keeper

import (
	"encoding/binary"
	"fmt"
	"time"
)

// requestVersion is the first byte of an encoded tree-op request. A decoder
// meets only versions it knows; anything else is ErrCorruptEntry.
const requestVersion = 1

// requestVersionKinded is the first byte of a request of another kind than
// tree ops (sessions); a kind byte follows it. Tree-op requests keep version
// 1, so entries written before sessions existed decode unchanged.
const requestVersionKinded = 2

// requestKind says what a request asks of the state machine.
type requestKind uint8

const (
	// reqOps runs Ops (encoded as version 1).
	reqOps requestKind = iota
	// reqCreateSession creates a session whose id is the entry's zxid.
	reqCreateSession
	// reqCloseSession ends session Session and deletes its ephemerals at one
	// zxid; Expire says the leader expired it rather than its owner closing it.
	reqCloseSession
	// reqRestoreChunk stages chunk Seq of online restore RestoreID (see
	// restore_online.go).
	reqRestoreChunk
	// reqRestoreCommit replaces the tree (or Subtree) with the stream staged
	// by RestoreID's Count chunks, whose bytes hash to Sum.
	reqRestoreCommit
	// reqArchived records that the cluster's archive holds every entry up
	// to Seq (archiver.go); it changes no znode.
	reqArchived
	// reqMark is a named point in the log, Name, that a point-in-time
	// restore can go back to (Node.Mark); it changes no znode.
	reqMark
	// reqMoveSession moves resumable session Session to member Owner's
	// incarnation Nonce, if Password is the session's.
	reqMoveSession
)

// sessionPasswordLen is the length of a resumable session's password, as
// ZooKeeper's.
const sessionPasswordLen = 16

// maxDataSize is the largest znode data accepted, ZooKeeper's default
// jute.maxbuffer (1 MiB).
const maxDataSize = 1 << 20

// maxTTL is the largest TTL ZooKeeper accepts, in milliseconds (2^40-1).
const maxTTL = 1<<40 - 1

// request is one entryOp's payload: the ops and everything apply needs to run
// them deterministically. The proposer fills Time and Session; apply never
// reads a clock.
type request struct {
	// Kind is what the request does; the fields below Ops serve the
	// session kinds.
	Kind requestKind
	// Time is the proposer's clock in milliseconds since the Unix epoch; it
	// becomes ctime/mtime.
	Time int64
	// Session owns the ephemerals the request creates; 0 is none.
	Session int64
	// Auth is the caller's authenticated identities (see authenticate).
	Auth []Identity
	// Multi says the ops form a transaction; otherwise Ops has exactly one.
	Multi bool
	// Ops are the operations, run in order.
	Ops []Op

	// Timeout is a new session's negotiated timeout in milliseconds.
	Timeout int64
	// Owner is the member a new session lives on.
	Owner uint64
	// Nonce names the owner's incarnation (one per Open), so a restarted
	// owner can tell its predecessor's sessions from its own.
	Nonce uint64
	// Expire marks a reqCloseSession proposed by the leader's expiry.
	Expire bool
	// Password is a resumable session's password (reqCreateSession,
	// reqMoveSession); a session created without one is not resumable.
	Password []byte
	// IfOwner and IfNonce, when IfOwner is not 0, make a reqCloseSession
	// conditional: it ends the session only while that incarnation of that
	// member owns it, so an expiry decided before a move cannot end the
	// moved session.
	IfOwner, IfNonce uint64

	// RestoreID names an online restore (reqRestoreChunk, reqRestoreCommit).
	RestoreID uint64
	// Seq is a reqRestoreChunk's position in the restore's stream, and a
	// reqArchived's last index archived.
	Seq uint64
	// GapFirst and GapLast are, in a reqArchived, the newest gap its
	// archiver recorded, at or below Seq, while members may not know it
	// yet; 0 otherwise.
	GapFirst, GapLast uint64
	// Chunk is a reqRestoreChunk's bytes; it aliases the decoded input.
	Chunk []byte
	// Count is the number of chunks a reqRestoreCommit expects.
	Count uint64
	// Sum is the xxhash64 of the concatenated chunks of a reqRestoreCommit.
	Sum uint64
	// Subtree is the path a reqRestoreCommit replaces ("/" for the tree).
	Subtree string
	// Foreign lets a reqRestoreCommit restore another cluster's stream, or
	// one whose zxid is above the commit's.
	Foreign bool
	// Name is a reqMark's name.
	Name string
}

// encodeRequest appends the encoding of r to dst. It first refuses what can
// be refused without the tree (validateRequest), so a proposer fails fast.
//
// Layout (version 1): version byte; varint Time, Session; uvarint #Auth, each
// scheme and id as strings; multi byte; uvarint #Ops, each: kind byte, path,
// then by kind
//
//	create: mode byte, data, uvarint TTL ms, acl-given byte, ACL list
//	delete, check: varint version
//	set:    data, varint version
//	setACL: varint version, ACL list
//
// where a string or data is uvarint length + bytes and an ACL list is uvarint
// count, each entry uvarint perms, scheme, id.
func encodeRequest(dst []byte, r *request) ([]byte, error) {
	if err := validateRequest(r); err != nil {
		return dst, err
	}
	return appendRequest(dst, r), nil
}

// appendRequest appends the encoding of r to dst without validating it.
//
// Session requests use version 2: version byte, kind byte, varint Time,
// varint Session, then for reqCreateSession uvarint Timeout, Owner, Nonce
// and, for a resumable session only, its Password as data; for
// reqMoveSession uvarint Owner, Nonce and Password as data; for
// reqCloseSession the Expire byte and, for a conditional close only, uvarint
// IfOwner, IfNonce; for reqRestoreChunk uvarint
// RestoreID, Seq and the chunk as data; for reqRestoreCommit uvarint
// RestoreID, Count, 8-byte big-endian Sum, Subtree as a string and the
// Foreign byte; for reqArchived uvarint Seq and, with a gap only, uvarint
// GapFirst and GapLast; for reqMark Name as a string.
func appendRequest(dst []byte, r *request) []byte {
	if r.Kind != reqOps {
		dst = append(dst, requestVersionKinded, byte(r.Kind))
		dst = binary.AppendVarint(dst, r.Time)
		dst = binary.AppendVarint(dst, r.Session)
		switch r.Kind {
		case reqCreateSession:
			dst = binary.AppendUvarint(dst, uint64(r.Timeout))
			dst = binary.AppendUvarint(dst, r.Owner)
			dst = binary.AppendUvarint(dst, r.Nonce)
			if len(r.Password) > 0 {
				dst = appendBytes(dst, r.Password)
			}
		case reqMoveSession:
			dst = binary.AppendUvarint(dst, r.Owner)
			dst = binary.AppendUvarint(dst, r.Nonce)
			dst = appendBytes(dst, r.Password)
		case reqCloseSession:
			dst = appendBool(dst, r.Expire)
			if r.IfOwner != 0 {
				dst = binary.AppendUvarint(dst, r.IfOwner)
				dst = binary.AppendUvarint(dst, r.IfNonce)
			}
		case reqRestoreChunk:
			dst = binary.AppendUvarint(dst, r.RestoreID)
			dst = binary.AppendUvarint(dst, r.Seq)
			dst = appendBytes(dst, r.Chunk)
		case reqRestoreCommit:
			dst = binary.AppendUvarint(dst, r.RestoreID)
			dst = binary.AppendUvarint(dst, r.Count)
			dst = binary.BigEndian.AppendUint64(dst, r.Sum)
			dst = appendString(dst, r.Subtree)
			dst = appendBool(dst, r.Foreign)
		case reqArchived:
			dst = binary.AppendUvarint(dst, r.Seq)
			if r.GapFirst != 0 {
				dst = binary.AppendUvarint(dst, r.GapFirst)
				dst = binary.AppendUvarint(dst, r.GapLast)
			}
		case reqMark:
			dst = appendString(dst, r.Name)
		}
		return dst
	}
	dst = append(dst, requestVersion)
	dst = binary.AppendVarint(dst, r.Time)
	dst = binary.AppendVarint(dst, r.Session)
	dst = binary.AppendUvarint(dst, uint64(len(r.Auth)))
	for _, id := range r.Auth {
		dst = appendString(dst, id.Scheme)
		dst = appendString(dst, id.ID)
	}
	dst = appendBool(dst, r.Multi)
	dst = binary.AppendUvarint(dst, uint64(len(r.Ops)))
	for i := range r.Ops {
		op := &r.Ops[i]
		dst = append(dst, byte(op.kind))
		dst = appendString(dst, op.path)
		switch op.kind {
		case opCreate:
			dst = append(dst, byte(op.mode))
			dst = appendBytes(dst, op.data)
			dst = binary.AppendUvarint(dst, uint64(op.ttl/time.Millisecond))
			dst = appendBool(dst, op.aclSet)
			dst = appendACL(dst, op.acl)
		case opDelete, opCheck:
			dst = binary.AppendVarint(dst, int64(op.version))
		case opSet:
			dst = appendBytes(dst, op.data)
			dst = binary.AppendVarint(dst, int64(op.version))
		case opSetACL:
			dst = binary.AppendVarint(dst, int64(op.version))
			dst = appendACL(dst, op.acl)
		}
	}
	return dst
}

// validateRequest checks what needs no tree, so that a proposer refuses at
// once what apply would refuse before reading the tree. For tree ops that is
// preTree of a single op; for a multi, sendable of every op and then preTree
// of op 0 only, since a later op's checks come after the earlier ops' tree
// checks (apply makes them in that order). A multi's failure comes as a
// *MultiError, as apply would report it.
func validateRequest(r *request) error {
	switch r.Kind {
	case reqOps:
	case reqCreateSession:
		if r.Timeout <= 0 || r.Owner == 0 {
			return fmt.Errorf("%w: session create needs a positive timeout and an owner", ErrBadArguments)
		}
		if len(r.Password) != 0 && len(r.Password) != sessionPasswordLen {
			return fmt.Errorf("%w: a session password has %d bytes, not %d", ErrBadArguments, sessionPasswordLen, len(r.Password))
		}
		return nil
	case reqMoveSession:
		if r.Session == 0 || r.Owner == 0 {
			return fmt.Errorf("%w: session move needs a session and an owner", ErrBadArguments)
		}
		return nil
	case reqCloseSession:
		if r.Session == 0 {
			return fmt.Errorf("%w: session close names no session", ErrBadArguments)
		}
		return nil
	case reqRestoreChunk:
		if r.RestoreID == 0 || len(r.Chunk) > maxRestoreChunk {
			return fmt.Errorf("%w: restore chunk needs an id and at most %d bytes", ErrBadArguments, maxRestoreChunk)
		}
		return nil
	case reqRestoreCommit:
		if r.RestoreID == 0 || r.Count == 0 {
			return fmt.Errorf("%w: restore commit needs an id and chunks", ErrBadArguments)
		}
		return validateSubtree(r.Subtree)
	case reqArchived:
		if r.Seq == 0 || r.GapFirst > r.GapLast || r.GapLast > r.Seq || (r.GapLast != 0 && r.GapFirst == 0) {
			return fmt.Errorf("%w: archive mark at index %d with a gap %d..%d", ErrBadArguments, r.Seq, r.GapFirst, r.GapLast)
		}
		return nil
	case reqMark:
		return validateMarkName(r.Name)
	default:
		return fmt.Errorf("%w: unknown request kind %d", ErrBadArguments, r.Kind)
	}
	if !r.Multi {
		if len(r.Ops) != 1 {
			return fmt.Errorf("%w: a single request carries one op, not %d", ErrBadArguments, len(r.Ops))
		}
		_, err := preTree(r, &r.Ops[0])
		return err
	}
	for i := range r.Ops {
		if err := sendable(&r.Ops[i]); err != nil {
			return &MultiError{Index: i, Err: err}
		}
	}
	if len(r.Ops) > 0 {
		if _, err := preTree(r, &r.Ops[0]); err != nil {
			return &MultiError{Index: 0, Err: err}
		}
	}
	return nil
}

// decodeRequest decodes an encoded request. Op data aliases b.
func decodeRequest(b []byte) (*request, error) {
	r := new(request)
	if err := decodeRequestInto(r, b); err != nil {
		return nil, err
	}
	return r, nil
}

// decodeRequestInto decodes b into r, reusing r's Ops and Auth storage. Op
// data aliases b. Damaged or unknown input returns an error matching
// ErrCorruptEntry; it never panics.
func decodeRequestInto(r *request, b []byte) error {
	d := decoder{b: b}
	r.Kind, r.Timeout, r.Owner, r.Nonce, r.Expire = reqOps, 0, 0, 0, false
	r.Password, r.IfOwner, r.IfNonce = nil, 0, 0
	r.RestoreID, r.Seq, r.Chunk, r.Count, r.Sum, r.Subtree, r.Foreign, r.Name = 0, 0, nil, 0, 0, "", false, ""
	switch v := d.byte(); {
	case d.err != nil:
		return d.err
	case v == requestVersionKinded:
		return decodeKinded(r, &d)
	case v != requestVersion:
		return fmt.Errorf("%w: request version %d", ErrCorruptEntry, v)
	}
	r.Time = d.varint()
	r.Session = d.varint()
	n := d.count(2)
	r.Auth = r.Auth[:0]
	for range n {
		r.Auth = append(r.Auth, Identity{Scheme: d.string(), ID: d.string()})
	}
	r.Multi = d.bool()
	n = d.count(2)
	clear(r.Ops)
	r.Ops = r.Ops[:0]
	for range n {
		if d.err != nil {
			break
		}
		op := Op{kind: opKind(d.byte()), path: d.string()}
		switch op.kind {
		case opCreate:
			op.mode = CreateMode(d.byte())
			op.data = d.bytes()
			ms := d.uvarint()
			if ms > maxTTL {
				d.fail("TTL out of range")
			}
			op.ttl = time.Duration(ms) * time.Millisecond
			op.aclSet = d.bool()
			op.acl = d.acl()
		case opDelete, opCheck:
			op.version = d.int32()
		case opSet:
			op.data = d.bytes()
			op.version = d.int32()
		case opSetACL:
			op.version = d.int32()
			op.acl = d.acl()
			op.aclSet = true
		default:
			d.fail("unknown op kind")
		}
		r.Ops = append(r.Ops, op)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	return d.err
}

// decodeKinded decodes the rest of a version 2 (session) request.
func decodeKinded(r *request, d *decoder) error {
	r.Kind = requestKind(d.byte())
	r.Time = d.varint()
	r.Session = d.varint()
	r.Auth = r.Auth[:0]
	r.Multi = false
	clear(r.Ops)
	r.Ops = r.Ops[:0]
	switch r.Kind {
	case reqCreateSession:
		t := d.uvarint()
		if t > 1<<40 {
			d.fail("session timeout out of range")
		}
		r.Timeout = int64(t)
		r.Owner = d.uvarint()
		r.Nonce = d.uvarint()
		if len(d.b) > 0 {
			r.Password = d.bytes()
		}
	case reqMoveSession:
		r.Owner = d.uvarint()
		r.Nonce = d.uvarint()
		r.Password = d.bytes()
	case reqCloseSession:
		r.Expire = d.bool()
		if len(d.b) > 0 {
			r.IfOwner = d.uvarint()
			r.IfNonce = d.uvarint()
		}
	case reqRestoreChunk:
		r.RestoreID = d.uvarint()
		r.Seq = d.uvarint()
		r.Chunk = d.bytes()
	case reqRestoreCommit:
		r.RestoreID = d.uvarint()
		r.Count = d.uvarint()
		r.Sum = d.uint64BE()
		r.Subtree = d.string()
		r.Foreign = d.bool()
	case reqArchived:
		r.Seq = d.uvarint()
		if len(d.b) > 0 {
			r.GapFirst = d.uvarint()
			r.GapLast = d.uvarint()
		}
	case reqMark:
		r.Name = d.string()
	default:
		d.fail("unknown request kind")
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	return d.err
}

// requestTime is the proposer's time in an encoded request, in Unix
// milliseconds, without decoding the rest; ok is false if b is not a
// request.
func requestTime(b []byte) (ms int64, ok bool) {
	switch {
	case len(b) > 1 && b[0] == requestVersion:
		b = b[1:]
	case len(b) > 2 && b[0] == requestVersionKinded:
		b = b[2:]
	default:
		return 0, false
	}
	ms, n := binary.Varint(b)
	return ms, n > 0
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func appendACL(dst []byte, acl []ACL) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(acl)))
	for _, a := range acl {
		dst = binary.AppendUvarint(dst, uint64(uint32(a.Perms)))
		dst = appendString(dst, a.Scheme)
		dst = appendString(dst, a.ID)
	}
	return dst
}

// decoder reads the encodings of this file and of znode values; the first
// problem sticks in err and every later read returns a zero value.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorruptEntry, what)
	}
	d.b = nil
}

// done returns the first problem of the reads so far, or a trailing bytes
// error when the value was not read whole.
func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	return d.err
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bool() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("bad bool")
	return false
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uint64BE() uint64 {
	if len(d.b) < 8 {
		d.fail("truncated")
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) int32() int32 {
	v := d.varint()
	if int64(int32(v)) != v {
		d.fail("int32 out of range")
		return 0
	}
	return int32(v)
}

// count reads an element count and checks that the rest could hold that many
// elements of at least min bytes each, so damaged input cannot make a huge
// allocation.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/min) {
		d.fail("count exceeds input")
		return 0
	}
	return int(n)
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("length exceeds input")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.bytes()) }

func (d *decoder) acl() []ACL {
	n := d.count(3)
	if n == 0 {
		return nil
	}
	acl := make([]ACL, 0, n)
	for range n {
		p := d.uvarint()
		if p > uint64(^uint32(0)) {
			d.fail("perms out of range")
		}
		acl = append(acl, ACL{Perms: Perm(uint32(p)), Scheme: d.string(), ID: d.string()})
	}
	return acl
}
