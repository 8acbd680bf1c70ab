package keeper

import (
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/keeper-go/keeper/internal/keys"
	"github.com/keeper-go/keeper/storage"
)

// This file is the replicated side of sessions: the session records the tree
// keeps next to the znodes (key family 's'), and the apply of the session
// requests. A session's id is the zxid of the entry that created it, so every
// replica derives the same id without a clock or a counter.

// The first byte of a stored session record: version 1 for a session its
// member keeps alive, version 2 for a resumable one, which adds its password.
const (
	sessionRecVersion          = 1
	sessionRecVersionResumable = 2
)

// sessionRec is one live session as replicated: its negotiated timeout, the
// member it lives on and that member's incarnation when it was created (or
// when the session moved there), and a resumable session's password.
type sessionRec struct {
	Timeout  int64 // milliseconds
	Owner    uint64
	Nonce    uint64
	Password []byte // nil unless resumable
}

// resumable reports whether the session is held by a client that can
// resume it on any member (its liveness is its client's touches).
func (s *sessionRec) resumable() bool { return len(s.Password) > 0 }

func encodeSessionRec(dst []byte, s *sessionRec) []byte {
	if s.resumable() {
		dst = append(dst, sessionRecVersionResumable)
	} else {
		dst = append(dst, sessionRecVersion)
	}
	dst = binary.AppendUvarint(dst, uint64(s.Timeout))
	dst = binary.AppendUvarint(dst, s.Owner)
	dst = binary.AppendUvarint(dst, s.Nonce)
	if s.resumable() {
		dst = appendBytes(dst, s.Password)
	}
	return dst
}

func decodeSessionRec(v []byte) (*sessionRec, error) {
	d := decoder{b: v}
	ver := d.byte()
	if ver != sessionRecVersion && ver != sessionRecVersionResumable {
		return nil, fmt.Errorf("keeper: session record version: %w", ErrCorrupt)
	}
	s := &sessionRec{Timeout: int64(d.uvarint()), Owner: d.uvarint(), Nonce: d.uvarint()}
	if ver == sessionRecVersionResumable {
		s.Password = bytes.Clone(d.bytes())
		if d.err == nil && len(s.Password) != sessionPasswordLen {
			d.fail("session password length")
		}
	}
	if err := d.done(); err != nil {
		return nil, fmt.Errorf("keeper: session record: %w", err)
	}
	return s, nil
}

// sessionHash is the digest term of a session record: xxhash64 of its key
// and stored value. Keys of sessions and znodes differ in their first byte
// position ('s' + 8 bytes against a path), so the terms cannot collide by
// construction of the inputs.
func sessionHash(h *xxhash.Digest, id int64, value []byte) uint64 {
	h.Reset()
	_, _ = h.Write(keys.SessionKey(nil, id))
	_, _ = h.Write(value)
	return h.Sum64()
}

// sessionTable is the tree's sessions: the committed records and the
// changes the current apply group made to them (raft loop only).
type sessionTable struct {
	committed map[int64]*sessionRec
	// group holds the current group's changes; nil marks an ended session.
	group map[int64]*sessionRec
	h     *xxhash.Digest
}

// sessionEffects is what the session requests do to the rest of the tree:
// an ended session's ephemerals go, and the changes fire events.
type sessionEffects interface {
	removeEphemerals(id, zxid int64) error
	emit(ev treeEvent)
}

func newSessionTable() *sessionTable {
	return &sessionTable{
		committed: make(map[int64]*sessionRec),
		group:     make(map[int64]*sessionRec),
		h:         xxhash.New(),
	}
}

// load reads every session record of st into the committed table.
func (s *sessionTable) load(st *storage.Store) error {
	lo, hi := keys.SessionSpan()
	it, err := st.NewIter(lo, hi)
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		id, ok := keys.SessionID(it.Key())
		if !ok {
			_ = it.Close()
			return fmt.Errorf("keeper: session key %x: %w", it.Key(), ErrCorrupt)
		}
		v, err := it.Value()
		if err != nil {
			_ = it.Close()
			return err
		}
		rec, err := decodeSessionRec(v)
		if err != nil {
			_ = it.Close()
			return err
		}
		s.committed[id] = rec
	}
	return it.Close()
}

// live reports whether session id exists as the current group sees it.
func (s *sessionTable) live(id int64) bool { return s.get(id) != nil }

// get returns session id's record as the current group sees it, nil if it
// does not exist. The record must not be modified.
func (s *sessionTable) get(id int64) *sessionRec {
	if rec, ok := s.group[id]; ok {
		return rec
	}
	return s.committed[id]
}

// sessionTable returns the committed sessions. Raft loop only; the map must
// not be modified.
func (t *tree) sessionTable() map[int64]*sessionRec { return t.sessions.committed }

// apply runs a session request of entry zxid into res, with its effects on
// the rest of the tree through fx.
func (s *sessionTable) apply(fx sessionEffects, r *request, zxid int64, res *applyResult) error {
	switch r.Kind {
	case reqCreateSession:
		if err := validateRequest(r); err != nil {
			res.Err = err
			return nil
		}
		s.group[zxid] = &sessionRec{Timeout: r.Timeout, Owner: r.Owner, Nonce: r.Nonce, Password: bytes.Clone(r.Password)}
		res.Session = zxid
		fx.emit(treeEvent{Type: evSessionCreated, Session: zxid, Owner: r.Owner, Nonce: r.Nonce})
		return nil
	case reqMoveSession:
		rec := s.get(r.Session)
		if rec == nil || !rec.resumable() || subtle.ConstantTimeCompare(rec.Password, r.Password) != 1 {
			// ZooKeeper answers a wrong password as it answers an expired
			// session: the client cannot tell them apart.
			res.Err = fmt.Errorf("%w: session %#x", ErrSessionExpired, r.Session)
			return nil
		}
		moved := *rec
		moved.Owner, moved.Nonce = r.Owner, r.Nonce
		s.group[r.Session] = &moved
		res.Session = r.Session
		fx.emit(treeEvent{Type: evSessionMoved, Session: r.Session, Owner: r.Owner, Nonce: r.Nonce})
		return nil
	case reqCloseSession:
		rec := s.get(r.Session)
		if rec == nil {
			res.Err = fmt.Errorf("%w: session %#x", ErrSessionExpired, r.Session)
			return nil
		}
		if r.IfOwner != 0 && (rec.Owner != r.IfOwner || rec.Nonce != r.IfNonce) {
			res.Err = fmt.Errorf("%w: session %#x is on member %d now", ErrSessionMoved, r.Session, rec.Owner)
			return nil
		}
		if err := fx.removeEphemerals(r.Session, zxid); err != nil {
			return err
		}
		s.group[r.Session] = nil
		res.Session = r.Session
		fx.emit(treeEvent{Type: evSessionEnded, Session: r.Session, Expired: r.Expire})
		return nil
	}
	res.Err = fmt.Errorf("%w: unknown request kind %d", ErrBadArguments, r.Kind)
	return nil
}

// flush adds the group's session changes to b and returns the digest dig
// adjusted for them.
func (s *sessionTable) flush(b *storage.Batch, dig uint64) (uint64, error) {
	for id, rec := range s.group {
		key := keys.SessionKey(nil, id)
		if orig := s.committed[id]; orig != nil {
			dig -= sessionHash(s.h, id, encodeSessionRec(nil, orig))
		}
		if rec == nil {
			if err := b.Delete(key); err != nil {
				return 0, err
			}
			continue
		}
		v := encodeSessionRec(nil, rec)
		dig += sessionHash(s.h, id, v)
		if err := b.Set(key, v); err != nil {
			return 0, err
		}
	}
	return dig, nil
}

// commit makes the group's session changes the committed ones.
func (s *sessionTable) commit() {
	for id, rec := range s.group {
		if rec == nil {
			delete(s.committed, id)
		} else {
			s.committed[id] = rec
		}
	}
	clear(s.group)
}

// dropGroup forgets the group's session changes.
func (s *sessionTable) dropGroup() { clear(s.group) }

// storedSession reads session id's committed record from the store, for
// readers outside the raft loop (the committed map is the loop's); nil if
// the session does not exist.
func (t *tree) storedSession(id int64) (*sessionRec, error) {
	var rec *sessionRec
	err := t.st.Get(keys.SessionKey(nil, id), func(v []byte) error {
		var err error
		rec, err = decodeSessionRec(v)
		return err
	})
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	return rec, err
}
