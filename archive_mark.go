package keeper

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/keeper-go/keeper/internal/keys"
	"github.com/keeper-go/keeper/storage"
)

// archiveMark is the tree's record of how far the cluster's archive
// reaches: the last raft index the archive is known to hold, set by
// reqArchived entries (archiver.go) and kept in the meta key
// MetaArchived. Every member holds its raft log back to it (Config.Archive),
// so the next archiver finds the entries it must archive. It is not part
// of the digest or of a backup: a restored cluster starts an archive of
// its own.
type archiveMark struct {
	committed uint64 // raft loop only, or any goroutine through load
	group     uint64 // the current group's mark, 0 if it set none
	// gaps are the newest recorded gaps marks passed since this member
	// opened its tree (at most maxMarkGaps), and groupGaps the current
	// group's: writes waiting for the archive in them are told it lost
	// them (ArchiveConfig.AckArchived). Memory only.
	gaps, groupGaps []ZxidRange
}

// maxMarkGaps bounds archiveMark.gaps.
const maxMarkGaps = 16

// load reads the mark from st.
func (m *archiveMark) load(st *storage.Store) error {
	err := st.Get(keys.MetaKey(keys.MetaArchived), func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("keeper: archive mark %x: %w", v, ErrCorrupt)
		}
		m.committed = binary.BigEndian.Uint64(v)
		return nil
	})
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	return err
}

// apply runs a reqArchived of the current group. A mark never moves back.
func (m *archiveMark) apply(r *request) {
	m.group = max(m.group, m.committed, r.Seq)
	if g := (ZxidRange{First: Zxid(r.GapFirst), Last: Zxid(r.GapLast)}); g.First != 0 && !slices.Contains(m.gaps, g) && !slices.Contains(m.groupGaps, g) {
		m.groupGaps = append(m.groupGaps, g)
	}
}

// flush adds the group's mark to b.
func (m *archiveMark) flush(b *storage.Batch) error {
	if m.group <= m.committed {
		return nil
	}
	return b.Set(keys.MetaKey(keys.MetaArchived), binary.BigEndian.AppendUint64(nil, m.group))
}

// commit makes the group's mark the committed one; dropGroup forgets it.
func (m *archiveMark) commit() {
	m.committed = max(m.committed, m.group)
	m.group = 0
	if len(m.groupGaps) > 0 {
		m.gaps = append(m.gaps, m.groupGaps...)
		m.gaps = m.gaps[max(len(m.gaps)-maxMarkGaps, 0):]
		m.groupGaps = nil
	}
}

func (m *archiveMark) dropGroup() { m.group, m.groupGaps = 0, nil }

// archivedTo is the last index the cluster's archive is known to hold.
// Raft loop only.
func (t *tree) archivedTo() uint64 { return t.archive.committed }

// archiveGaps are the newest gaps archive marks passed, oldest first.
// Raft loop only.
func (t *tree) archiveGaps() []ZxidRange { return t.archive.gaps }
