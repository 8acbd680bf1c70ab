package wire

import (
	"encoding/binary"
	"hash/crc32"
	"slices"
)

// A path index sits beside an archive log segment and says, for each key
// (a 64-bit hash of a znode path, or of another name the writer chose),
// which of the segment's entries touched it and how. A reader that wants
// one key reads the head (with the fence table), the one bloom block the
// key maps to, and, only when that block says the key may be there, one
// block of rows and the key's own hits: when the object's reader can
// seek, a lookup costs a few kilobytes however large the index, and
// every byte it uses is covered by a checksum it checks.
//
// Layout (big endian), version 2:
//
//	head   "KIDX", version byte, k byte (bloom probes, 1..16),
//	       uint64 First, uint64 Last (the segment's index range),
//	       uint32 keys, uint32 bloom blocks, uint32 body length,
//	       uint16 rows per rows block (R, nonzero)
//	sums   per bloom block its CRC-32C; then the fences, per rows block
//	       (ceil(keys / R) of them) the key of its first row and its
//	       CRC-32C; then the CRC-32C of head, sums and fences
//	bloom  blocks × 512 bytes; a key sets k bits in block (key>>40) mod blocks
//	body   the rows, keys × (uint64 key, uint32 offset, uint32 length,
//	       uint32 CRC-32C of the key's hits), sorted by key and cut into
//	       rows blocks of R rows (the last may hold fewer); then the hits:
//	       per hit uvarint (zxid − First) and one flags byte; a key's hits
//	       are the length bytes at offset (from the start of the hits) and
//	       ascend by zxid
//	crc    CRC-32C of body
//
// Version 1 has no rows per block in the head and no fences, and its rows
// are (uint64 key, uint32 offset, uint32 count of hits), without a
// checksum of their own: a version 1 reader checks the body's checksum,
// so it reads the whole body. Version 2 objects are read the same way
// when the reader cannot seek.
//
// The flags byte is the writer's (nonzero); this package keeps it as is.

// PathIndexVersion is the version byte of a path index.
const PathIndexVersion = 2

const (
	pathIndexMagic     = "KIDX"
	pathIndexHeadSize1 = 4 + 1 + 1 + 8 + 8 + 4 + 4 + 4 // version 1
	pathIndexHeadSize  = pathIndexHeadSize1 + 2
	pathIndexRowSize1  = 8 + 4 + 4 // version 1
	pathIndexRowSize   = 8 + 4 + 4 + 4
	pathIndexFenceSize = 8 + 4
	// pathIndexBlockRows is the rows per rows block the writer chooses:
	// the fences and one rows block, what a lookup reads besides its
	// bloom block and hits, then stay small for every index size.
	pathIndexBlockRows = 256
	pathIndexProbes    = 7
	pathIndexBits      = 10  // bloom bits per key
	bloomBlockSize     = 512 // bytes
	bloomBlockBits     = bloomBlockSize * 8
	// maxPathIndexKeys bounds the keys of one index, far above a
	// segment's entries (maxSegmentEntries).
	maxPathIndexKeys = 1 << 24
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// IndexHit is one entry that touched a key: its zxid and the writer's
// flags saying how.
type IndexHit struct {
	Zxid  uint64
	Flags uint8
}

// PathIndexBuilder collects the hits of one segment's entries, or of
// several consecutive segments' (Append).
type PathIndexBuilder struct {
	first, last uint64
	hits        map[uint64][]IndexHit
	n           int // hits held
}

// NewPathIndexBuilder starts the index of the segment holding entries
// first..last.
func NewPathIndexBuilder(first, last uint64) *PathIndexBuilder {
	return &PathIndexBuilder{first: first, last: last, hits: map[uint64][]IndexHit{}}
}

// Add records that entry zxid touched key; flags of the same key and zxid
// are or'ed together. Entries are added in zxid order; a zxid outside
// first..last, one below the key's last, or a zero flags byte is ignored.
func (b *PathIndexBuilder) Add(key, zxid uint64, flags uint8) {
	if zxid < b.first || zxid > b.last || flags == 0 {
		return
	}
	hs := b.hits[key]
	if n := len(hs); n > 0 && hs[n-1].Zxid == zxid {
		hs[n-1].Flags |= flags
		return
	}
	if n := len(hs); n > 0 && hs[n-1].Zxid > zxid {
		return
	}
	b.hits[key] = append(hs, IndexHit{Zxid: zxid, Flags: flags})
	b.n++
}

// Append adds the hits of o, the index of the entries right after b's, to
// b, whose range then ends at o's last. It reports false, and changes
// nothing, unless o starts at the entry after b's last.
func (b *PathIndexBuilder) Append(o *PathIndexBuilder) bool {
	if o.first != b.last+1 {
		return false
	}
	for k, hs := range o.hits {
		b.hits[k] = append(b.hits[k], hs...)
	}
	b.last, b.n = o.last, b.n+o.n
	return true
}

// Hits is the number of hits b holds.
func (b *PathIndexBuilder) Hits() int { return b.n }

// Range returns the entries b indexes.
func (b *PathIndexBuilder) Range() (first, last uint64) { return b.first, b.last }

// bloomBlocks is the number of bloom blocks for n keys.
func bloomBlocks(n int) int { return max((n*pathIndexBits+bloomBlockBits-1)/bloomBlockBits, 1) }

// bloomBit returns the block and the i-th bit in it that key sets.
func bloomBit(key, i, blocks uint64) (block, bit uint64) {
	h1, h2 := key&0xffffffff, key>>32|1
	return (key >> 40) % blocks, (h1 + i*h2) % bloomBlockBits
}

// Encode returns the index's bytes, in the newest version.
func (b *PathIndexBuilder) Encode() []byte {
	keys := make([]uint64, 0, len(b.hits))
	for k := range b.hits {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	blocks := bloomBlocks(len(keys))
	bloom := make([]byte, blocks*bloomBlockSize)
	for _, k := range keys {
		for i := range uint64(pathIndexProbes) {
			block, bit := bloomBit(k, i, uint64(blocks))
			bloom[block*bloomBlockSize+bit/8] |= 1 << (bit % 8)
		}
	}
	var hits []byte
	rows := make([]byte, 0, len(keys)*pathIndexRowSize)
	for _, k := range keys {
		at := len(hits)
		for _, h := range b.hits[k] {
			hits = binary.AppendUvarint(hits, h.Zxid-b.first)
			hits = append(hits, h.Flags)
		}
		rows = binary.BigEndian.AppendUint64(rows, k)
		rows = binary.BigEndian.AppendUint32(rows, uint32(at))
		rows = binary.BigEndian.AppendUint32(rows, uint32(len(hits)-at))
		rows = binary.BigEndian.AppendUint32(rows, crc32.Checksum(hits[at:], crcTable))
	}
	const blockBytes = pathIndexBlockRows * pathIndexRowSize
	fences := (len(rows) + blockBytes - 1) / blockBytes
	out := make([]byte, 0, pathIndexHeadSize+4*blocks+fences*pathIndexFenceSize+4+len(bloom)+len(rows)+len(hits)+4)
	out = append(out, pathIndexMagic...)
	out = append(out, PathIndexVersion, pathIndexProbes)
	out = binary.BigEndian.AppendUint64(out, b.first)
	out = binary.BigEndian.AppendUint64(out, b.last)
	out = binary.BigEndian.AppendUint32(out, uint32(len(keys)))
	out = binary.BigEndian.AppendUint32(out, uint32(blocks))
	out = binary.BigEndian.AppendUint32(out, uint32(len(rows)+len(hits)))
	out = binary.BigEndian.AppendUint16(out, pathIndexBlockRows)
	for i := range blocks {
		out = binary.BigEndian.AppendUint32(out, crc32.Checksum(bloom[i*bloomBlockSize:(i+1)*bloomBlockSize], crcTable))
	}
	for at := 0; at < len(rows); at += blockBytes {
		block := rows[at:min(at+blockBytes, len(rows))]
		out = append(out, block[:8]...)
		out = binary.BigEndian.AppendUint32(out, crc32.Checksum(block, crcTable))
	}
	out = binary.BigEndian.AppendUint32(out, crc32.Checksum(out, crcTable))
	out = append(out, bloom...)
	body := len(out)
	out = append(out, rows...)
	out = append(out, hits...)
	return binary.BigEndian.AppendUint32(out, crc32.Checksum(out[body:], crcTable))
}
