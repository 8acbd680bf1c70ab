package keeper

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/cespare/xxhash/v2"
	"github.com/keeper-go/keeper/internal/wire"
	"go.etcd.io/raft/v3/raftpb"
)

// Beside each log segment the archiver writes its path index,
// <cluster>/idx/<first>-<last>.kidx (wire.ReadPathIndex): for every znode
// path the segment's requests name, the entries that name it and how, so
// that Archive.History reads only the segments that touched a znode. The
// index holds no path, only a 64-bit hash of it; in an encrypted archive
// the hash is keyed by the host key (HMAC-SHA256), so the index names no
// znode to whoever reads the target, only how often some znode changed.
// A segment whose index is missing or damaged is still good: History reads
// the segment itself then.

// Index flags: how an entry touched a key.
const (
	idxCreate uint8 = 1 << iota
	idxDelete
	idxSet
	idxSetACL
	idxCheck
	// idxMulti marks a multi's entry.
	idxMulti
	// idxSessionEnd marks a session's close or expiry, under the
	// session's key (sessionIndexName), which deletes its ephemerals.
	idxSessionEnd
	// idxRestore marks an online restore's commit, under
	// restoreIndexName.
	idxRestore
)

func archIndexName(cluster, first, last uint64) string {
	return fmt.Sprintf("%016x/idx/%020d-%020d.kidx", cluster, first, last)
}

// sessionIndexName is the name a session's end is indexed under; no path
// looks like it.
func sessionIndexName(id int64) string { return "session:" + strconv.FormatInt(id, 10) }

// restoreIndexName is the name online restore commits are indexed under.
const restoreIndexName = "restore"

// indexKeyer hashes the names an index holds: xxhash for a plaintext
// archive, HMAC-SHA256 under a key derived from the host key for an
// encrypted one.
type indexKeyer struct{ secret []byte }

func newIndexKeyer(hostKey []byte) indexKeyer {
	if len(hostKey) == 0 {
		return indexKeyer{}
	}
	m := hmac.New(sha256.New, hostKey)
	m.Write([]byte("keeper archive path index"))
	return indexKeyer{secret: m.Sum(nil)}
}

func (k indexKeyer) key(name string) uint64 {
	if k.secret == nil {
		return xxhash.Sum64String(name)
	}
	m := hmac.New(sha256.New, k.secret)
	m.Write([]byte(name))
	return binary.BigEndian.Uint64(m.Sum(nil))
}

// opIndexFlag is the index flag of an op kind.
func opIndexFlag(k opKind) uint8 {
	switch k {
	case opCreate:
		return idxCreate
	case opDelete:
		return idxDelete
	case opSet:
		return idxSet
	case opSetACL:
		return idxSetACL
	case opCheck:
		return idxCheck
	}
	return 0
}

// buildSegmentIndex returns the path index of ents, a segment's entries
// first..last. A sequential create is indexed under the path its request
// names, the prefix of the znode it makes, and also under the znode's name
// when names, the names apply made (archive_seqnames.go), has it.
func buildSegmentIndex(ents []*raftpb.Entry, info wire.SegmentInfo, names seqNames, keyer indexKeyer) *wire.PathIndexBuilder {
	b := wire.NewPathIndexBuilder(info.First, info.Last)
	keys := map[string]uint64{}
	keyOf := func(name string) uint64 {
		k, ok := keys[name]
		if !ok {
			k = keyer.key(name)
			keys[name] = k
		}
		return k
	}
	for _, e := range ents {
		r, ok := entryView{e}.request()
		if !ok {
			continue
		}
		z := e.GetIndex()
		switch r.Kind {
		case reqOps:
			var multi uint8
			if r.Multi {
				multi = idxMulti
			}
			made := names[z]
			for i := range r.Ops {
				op := &r.Ops[i]
				b.Add(keyOf(op.path), z, opIndexFlag(op.kind)|multi)
				if op.kind == opCreate && op.mode.IsSequential() && i < len(made) && isSequentialOf(made[i], op.path) {
					b.Add(keyOf(made[i]), z, idxCreate|multi)
				}
			}
		case reqCloseSession:
			b.Add(keyOf(sessionIndexName(r.Session)), z, idxSessionEnd)
		case reqRestoreCommit:
			b.Add(keyOf(restoreIndexName), z, idxRestore)
		}
	}
	return b
}

// indexSegment writes the path index of the segment just sent, when
// putErr says the segment is on the target (written now, or before by
// another archiver), and returns putErr unchanged: a segment is good
// without its index, so an index that could not be written is only
// logged, and History reads that segment whole.
func (a *archiver) indexSegment(ctx context.Context, cluster uint64, ents []*raftpb.Entry, info wire.SegmentInfo, names seqNames, putErr error) error {
	if putErr != nil && !errors.Is(putErr, ErrTargetExists) {
		return putErr
	}
	b := buildSegmentIndex(ents, info, names, newIndexKeyer(a.cfg.Key))
	err := a.target.Put(ctx, archIndexName(cluster, info.First, info.Last), bytes.NewReader(b.Encode()))
	if err != nil && !errors.Is(err, ErrTargetExists) {
		a.log.Warn("archive: path index not written; history reads the segment instead", "first", info.First, "last", info.Last, "err", err)
		a.merged.reset()
		return putErr
	}
	a.merged.add(ctx, a.target, a.log, cluster, b)
	return putErr
}
