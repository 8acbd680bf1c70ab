package wire

import (
	"encoding/binary"
	"fmt"
)

// CheckMarker is the first byte of a consistency entry (a normal raft entry
// the leader or a member proposes for the consistency check). Proposals
// start with EnvelopeVersion, so the two never mix.
const CheckMarker = 0xC4

// CheckKind says what a consistency entry is.
type CheckKind uint8

// Kinds of consistency entries.
const (
	CheckPeriodic CheckKind = 1 // the leader's periodic check
	CheckReport   CheckKind = 2 // a member reports its own check result
)

// The last byte of a report entry.
const (
	reportRepaired = 0 // the member's tree is whole again
	reportCorrupt  = 1 // corrupt; the member only raises the alarm
	reportRepair   = 2 // corrupt; the member asks the leader for its tree
)

// Check is a decoded consistency entry.
//
// Layout: CheckMarker, kind byte, then for CheckPeriodic uvarint PrevZxid,
// PrevDigest (8 bytes, big-endian), uvarint Members, Reachable, Consistent;
// for CheckReport uvarint Member, Zxid and one byte: 0 repaired, 1 corrupt,
// 2 corrupt and asking for a repair (a decoder reads any other value as
// corrupt).
type Check struct {
	Kind CheckKind
	// CheckPeriodic: the leader's verified digest at an earlier check
	// (PrevZxid 0: none), and the leader's counts when it proposed the entry.
	PrevZxid, PrevDigest           uint64
	Members, Reachable, Consistent uint64
	// CheckReport: Member found corrupt (or repaired) at Zxid; Repair: it
	// wants the leader's tree.
	Member, Zxid    uint64
	Corrupt, Repair bool
}

// IsCheck reports whether a normal entry's data is a consistency entry.
func IsCheck(b []byte) bool { return len(b) > 0 && b[0] == CheckMarker }

// Encode returns the entry's bytes.
func (c *Check) Encode() []byte {
	b := []byte{CheckMarker, byte(c.Kind)}
	switch c.Kind {
	case CheckPeriodic:
		b = binary.AppendUvarint(b, c.PrevZxid)
		b = binary.BigEndian.AppendUint64(b, c.PrevDigest)
		b = binary.AppendUvarint(b, c.Members)
		b = binary.AppendUvarint(b, c.Reachable)
		b = binary.AppendUvarint(b, c.Consistent)
	case CheckReport:
		b = binary.AppendUvarint(b, c.Member)
		b = binary.AppendUvarint(b, c.Zxid)
		switch {
		case c.Corrupt && c.Repair:
			b = append(b, reportRepair)
		case c.Corrupt:
			b = append(b, reportCorrupt)
		default:
			b = append(b, reportRepaired)
		}
	}
	return b
}

// DecodeCheck decodes a consistency entry. Errors match ErrCorruptEntry.
func DecodeCheck(b []byte) (Check, error) {
	bad := fmt.Errorf("%w: bad consistency entry", ErrCorruptEntry)
	if len(b) < 2 || b[0] != CheckMarker {
		return Check{}, bad
	}
	c := Check{Kind: CheckKind(b[1])}
	b = b[2:]
	uv := func(dst *uint64) bool {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return false
		}
		*dst, b = v, b[n:]
		return true
	}
	switch c.Kind {
	case CheckPeriodic:
		if !uv(&c.PrevZxid) || len(b) < 8 {
			return Check{}, bad
		}
		c.PrevDigest, b = binary.BigEndian.Uint64(b), b[8:]
		if !uv(&c.Members) || !uv(&c.Reachable) || !uv(&c.Consistent) || len(b) != 0 {
			return Check{}, bad
		}
	case CheckReport:
		if !uv(&c.Member) || !uv(&c.Zxid) || len(b) != 1 {
			return Check{}, bad
		}
		c.Corrupt = b[0] != reportRepaired
		c.Repair = b[0] == reportRepair
	default:
		return Check{}, bad
	}
	return c, nil
}
