package keeper

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/keeper-go/keeper/internal/keys"
	"github.com/keeper-go/keeper/storage"
)

// This file is the replicated side of sessions: the session records the tree
// keeps next to the znodes (key family 's'), and the apply of the session
// requests. A session's id is the zxid of the entry that created it, so every
// replica derives the same id without a clock or a counter.

// sessionRecVersion is the first byte of a stored session record.
const sessionRecVersion = 1

// sessionRec is one live session as replicated: its negotiated timeout, the
// member it lives on and that member's incarnation when it was created.
type sessionRec struct {
	Timeout int64 // milliseconds
	Owner   uint64
	Nonce   uint64
}

func encodeSessionRec(dst []byte, s *sessionRec) []byte {
	dst = append(dst, sessionRecVersion)
	dst = binary.AppendUvarint(dst, uint64(s.Timeout))
	dst = binary.AppendUvarint(dst, s.Owner)
	return binary.AppendUvarint(dst, s.Nonce)
}

func decodeSessionRec(v []byte) (*sessionRec, error) {
	d := decoder{b: v}
	if d.byte() != sessionRecVersion {
		return nil, fmt.Errorf("keeper: session record version: %w", ErrCorrupt)
	}
	s := &sessionRec{Timeout: int64(d.uvarint()), Owner: d.uvarint(), Nonce: d.uvarint()}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, fmt.Errorf("keeper: session record: %w", d.err)
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

// loadSessions reads every session record into t.sessions.
func (t *tree) loadSessions() error {
	lo, hi := keys.SessionSpan()
	it, err := t.st.NewIter(lo, hi)
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
		s, err := decodeSessionRec(v)
		if err != nil {
			_ = it.Close()
			return err
		}
		t.sessions[id] = s
	}
	return it.Close()
}

// sessionLive reports whether session id exists as the current group sees it.
func (t *tree) sessionLive(id int64) bool {
	if s, ok := t.sessGroup[id]; ok {
		return s != nil
	}
	return t.sessions[id] != nil
}

// sessionTable returns the committed sessions. Raft loop only; the map must
// not be modified.
func (t *tree) sessionTable() map[int64]*sessionRec { return t.sessions }

// applySession runs a session request of entry zxid into res.
func (t *tree) applySession(r *request, zxid int64, res *applyResult) error {
	switch r.Kind {
	case reqCreateSession:
		if err := validateRequest(r); err != nil {
			res.Err = err
			return nil
		}
		t.sessGroup[zxid] = &sessionRec{Timeout: r.Timeout, Owner: r.Owner, Nonce: r.Nonce}
		res.Session = zxid
		t.emit(treeEvent{Type: evSessionCreated, Session: zxid, Owner: r.Owner, Nonce: r.Nonce})
		return nil
	case reqCloseSession:
		if !t.sessionLive(r.Session) {
			res.Err = fmt.Errorf("%w: session %#x", ErrSessionExpired, r.Session)
			return nil
		}
		if err := t.removeEphemerals(r.Session, zxid); err != nil {
			return err
		}
		t.sessGroup[r.Session] = nil
		res.Session = r.Session
		t.emit(treeEvent{Type: evSessionEnded, Session: r.Session, Expired: r.Expire})
		return nil
	}
	res.Err = fmt.Errorf("%w: unknown request kind %d", ErrBadArguments, r.Kind)
	return nil
}

// flushSessions adds the group's session changes to b and returns the
// digest adjusted for them.
func (t *tree) flushSessions(b *storage.Batch, dig uint64) (uint64, error) {
	for id, s := range t.sessGroup {
		key := keys.SessionKey(nil, id)
		if orig := t.sessions[id]; orig != nil {
			dig -= sessionHash(t.h, id, encodeSessionRec(nil, orig))
		}
		if s == nil {
			if err := b.Delete(key); err != nil {
				return 0, err
			}
			continue
		}
		v := encodeSessionRec(nil, s)
		dig += sessionHash(t.h, id, v)
		if err := b.Set(key, v); err != nil {
			return 0, err
		}
	}
	return dig, nil
}

// commitSessions makes the group's session changes the committed ones.
func (t *tree) commitSessions() {
	for id, s := range t.sessGroup {
		if s == nil {
			delete(t.sessions, id)
		} else {
			t.sessions[id] = s
		}
	}
	clear(t.sessGroup)
}
