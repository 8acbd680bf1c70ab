package wire

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
)

// A path index sits beside an archive log segment and says, for each key
// (a 64-bit hash of a znode path, or of another name the writer chose),
// which of the segment's entries touched it and how. A reader that wants
// one key reads the head, the checksums of the bloom filter's blocks, the
// one block the key maps to, and the body only when that block says the
// key may be there: when the object's reader can seek, most index objects
// cost well under a kilobyte to reject.
//
// Layout (big endian), version 1:
//
//	head   "KIDX", version byte, k byte (bloom probes, 1..16),
//	       uint64 First, uint64 Last (the segment's index range),
//	       uint32 keys, uint32 bloom blocks, uint32 body length
//	sums   per bloom block its CRC-32C, then the CRC-32C of head and sums
//	bloom  blocks × 512 bytes; a key sets k bits in block (key>>40) mod blocks
//	body   keys × (uint64 key, uint32 offset, uint32 count), sorted by key,
//	       then the hits: per hit uvarint (zxid − First) and one flags
//	       byte; a key's hits start at offset (from the start of the
//	       hits) and ascend by zxid
//	crc    CRC-32C of body
//
// The flags byte is the writer's (nonzero); this package keeps it as is.

// PathIndexVersion is the version byte of a path index.
const PathIndexVersion = 1

const (
	pathIndexMagic    = "KIDX"
	pathIndexHeadSize = 4 + 1 + 1 + 8 + 8 + 4 + 4 + 4
	pathIndexRowSize  = 16
	pathIndexProbes   = 7
	pathIndexBits     = 10  // bloom bits per key
	bloomBlockSize    = 512 // bytes
	bloomBlockBits    = bloomBlockSize * 8
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

// Encode returns the index's bytes.
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
		hs := b.hits[k]
		rows = binary.BigEndian.AppendUint64(rows, k)
		rows = binary.BigEndian.AppendUint32(rows, uint32(len(hits)))
		rows = binary.BigEndian.AppendUint32(rows, uint32(len(hs)))
		for _, h := range hs {
			hits = binary.AppendUvarint(hits, h.Zxid-b.first)
			hits = append(hits, h.Flags)
		}
	}
	out := make([]byte, 0, pathIndexHeadSize+4*blocks+4+len(bloom)+len(rows)+len(hits)+4)
	out = append(out, pathIndexMagic...)
	out = append(out, PathIndexVersion, pathIndexProbes)
	out = binary.BigEndian.AppendUint64(out, b.first)
	out = binary.BigEndian.AppendUint64(out, b.last)
	out = binary.BigEndian.AppendUint32(out, uint32(len(keys)))
	out = binary.BigEndian.AppendUint32(out, uint32(blocks))
	out = binary.BigEndian.AppendUint32(out, uint32(len(rows)+len(hits)))
	for i := range blocks {
		out = binary.BigEndian.AppendUint32(out, crc32.Checksum(bloom[i*bloomBlockSize:(i+1)*bloomBlockSize], crcTable))
	}
	out = binary.BigEndian.AppendUint32(out, crc32.Checksum(out, crcTable))
	out = append(out, bloom...)
	body := len(out)
	out = append(out, rows...)
	out = append(out, hits...)
	return binary.BigEndian.AppendUint32(out, crc32.Checksum(out[body:], crcTable))
}

// PathIndexHead is what the head of a path index says.
type PathIndexHead struct {
	First, Last uint64
	Keys        int
}

// ReadPathIndex reads a path index from r and returns the hits of each
// of keys, in zxid order (none for a key not there). It reads only the
// bloom blocks of keys, skipping the others (by seeking, if r is an
// io.Seeker positioned at the index's start), and the body only when a
// block says a key may be there; then it checks the body's checksum and
// the hits it returns (zxids ascending within First..Last, nonzero
// flags). Damage is refused with ErrCorrupt, a newer version with
// ErrFormatTooNew; no length read from r makes it allocate more than r
// holds, or 1 MiB.
func ReadPathIndex(r io.Reader, keys ...uint64) (PathIndexHead, [][]IndexHit, error) {
	cur := &indexCursor{r: r}
	cur.seeker, _ = r.(io.Seeker)
	var head [pathIndexHeadSize]byte
	if err := cur.read(head[:]); err != nil {
		return PathIndexHead{}, nil, pathIndexErr("short head", err)
	}
	if string(head[:4]) != pathIndexMagic {
		return PathIndexHead{}, nil, fmt.Errorf("%w: not a path index", ErrCorrupt)
	}
	if head[4] != PathIndexVersion {
		return PathIndexHead{}, nil, fmt.Errorf("%w: path index version %d", ErrFormatTooNew, head[4])
	}
	k := uint64(head[5])
	h := PathIndexHead{First: binary.BigEndian.Uint64(head[6:]), Last: binary.BigEndian.Uint64(head[14:])}
	nkeys := binary.BigEndian.Uint32(head[22:])
	blocks := binary.BigEndian.Uint32(head[26:])
	bodyLen := binary.BigEndian.Uint32(head[30:])
	h.Keys = int(nkeys)
	switch {
	case k == 0 || k > 16:
		return h, nil, fmt.Errorf("%w: path index with %d bloom probes", ErrCorrupt, k)
	case h.First == 0 || h.Last < h.First:
		return h, nil, fmt.Errorf("%w: path index range %d..%d", ErrCorrupt, h.First, h.Last)
	case nkeys > maxPathIndexKeys || int(blocks) != bloomBlocks(int(nkeys)):
		return h, nil, fmt.Errorf("%w: path index of %d keys with %d bloom blocks", ErrCorrupt, nkeys, blocks)
	case uint64(bodyLen) < uint64(nkeys)*pathIndexRowSize:
		return h, nil, fmt.Errorf("%w: path index body of %d bytes for %d keys", ErrCorrupt, bodyLen, nkeys)
	}
	sums, err := cur.readN(int64(blocks)*4 + 4)
	if err != nil {
		return h, nil, pathIndexErr("short bloom checksums", err)
	}
	n := len(sums) - 4
	if crc32.Update(crc32.Checksum(head[:], crcTable), crcTable, sums[:n]) != binary.BigEndian.Uint32(sums[n:]) {
		return h, nil, fmt.Errorf("%w: path index head checksum", ErrCorrupt)
	}
	bloomAt := cur.pos
	// The blocks the keys map to, in the order they lie.
	type probe struct {
		key   uint64
		block uint64
	}
	probes := make([]probe, len(keys))
	for i, key := range keys {
		block, _ := bloomBit(key, 0, uint64(blocks))
		probes[i] = probe{key, block}
	}
	slices.SortFunc(probes, func(a, b probe) int { return cmp.Compare(a.block, b.block) })
	maybe := false
	var block []byte
	for i, p := range probes {
		if i == 0 || p.block != probes[i-1].block {
			if err := cur.skipTo(bloomAt + int64(p.block)*bloomBlockSize); err != nil {
				return h, nil, pathIndexErr("short bloom filter", err)
			}
			if block, err = cur.readN(bloomBlockSize); err != nil {
				return h, nil, pathIndexErr("short bloom filter", err)
			}
			if crc32.Checksum(block, crcTable) != binary.BigEndian.Uint32(sums[p.block*4:]) {
				return h, nil, fmt.Errorf("%w: path index bloom block %d checksum", ErrCorrupt, p.block)
			}
		}
		in := true
		for j := range k {
			_, bit := bloomBit(p.key, j, uint64(blocks))
			in = in && block[bit/8]&(1<<(bit%8)) != 0
		}
		maybe = maybe || in
	}
	out := make([][]IndexHit, len(keys))
	if !maybe {
		return h, out, nil
	}
	if err := cur.skipTo(bloomAt + int64(blocks)*bloomBlockSize); err != nil {
		return h, nil, pathIndexErr("short bloom filter", err)
	}
	body, err := cur.readN(int64(bodyLen) + 4)
	if err != nil {
		return h, nil, pathIndexErr("short body", err)
	}
	if crc32.Checksum(body[:bodyLen], crcTable) != binary.BigEndian.Uint32(body[bodyLen:]) {
		return h, nil, fmt.Errorf("%w: path index body checksum", ErrCorrupt)
	}
	for i, key := range keys {
		if out[i], err = pathIndexHits(h, body[:bodyLen], int(nkeys), key); err != nil {
			return h, nil, err
		}
	}
	return h, out, nil
}

// indexCursor reads an index object forward, seeking over what it skips
// when it can.
type indexCursor struct {
	r      io.Reader
	seeker io.Seeker
	pos    int64
}

func (c *indexCursor) read(b []byte) error {
	n, err := io.ReadFull(c.r, b)
	c.pos += int64(n)
	return err
}

// readN reads exactly n bytes, allocating them up front only up to a
// bound, so a damaged length cannot make it allocate more than the
// object holds.
func (c *indexCursor) readN(n int64) ([]byte, error) {
	if n <= 1<<20 {
		b := make([]byte, n)
		return b, c.read(b)
	}
	var buf bytes.Buffer
	got, err := io.Copy(&buf, io.LimitReader(c.r, n))
	c.pos += got
	if err == nil && got != n {
		err = io.ErrUnexpectedEOF
	}
	return buf.Bytes(), err
}

func (c *indexCursor) skipTo(off int64) error {
	if off == c.pos {
		return nil
	}
	if c.seeker != nil {
		if _, err := c.seeker.Seek(off, io.SeekStart); err != nil {
			return err
		}
		c.pos = off
		return nil
	}
	got, err := io.CopyN(io.Discard, c.r, off-c.pos)
	c.pos += got
	return err
}

// pathIndexHits finds key's row in body by binary search and decodes its
// hits.
func pathIndexHits(h PathIndexHead, body []byte, keys int, key uint64) ([]IndexHit, error) {
	rowKey := func(i int) uint64 { return binary.BigEndian.Uint64(body[i*pathIndexRowSize:]) }
	lo, hi := 0, keys
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if rowKey(mid) < key {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == keys || rowKey(lo) != key {
		return nil, nil
	}
	row := body[lo*pathIndexRowSize:]
	off, n := uint64(binary.BigEndian.Uint32(row[8:])), uint64(binary.BigEndian.Uint32(row[12:]))
	area := body[keys*pathIndexRowSize:]
	if off > uint64(len(area)) || n == 0 || n > uint64(len(area))-off {
		return nil, fmt.Errorf("%w: path index row %d: %d hits at %d", ErrCorrupt, lo, n, off)
	}
	d := varints{b: area[off:]}
	hits := make([]IndexHit, 0, n)
	for range n {
		delta := d.uvarint()
		if d.bad || len(d.b) == 0 || delta > h.Last-h.First || d.b[0] == 0 {
			return nil, fmt.Errorf("%w: path index row %d: bad hit", ErrCorrupt, lo)
		}
		z := h.First + delta
		if len(hits) > 0 && z <= hits[len(hits)-1].Zxid {
			return nil, fmt.Errorf("%w: path index row %d: hits out of order", ErrCorrupt, lo)
		}
		hits = append(hits, IndexHit{Zxid: z, Flags: d.b[0]})
		d.b = d.b[1:]
	}
	return hits, nil
}

func pathIndexErr(what string, err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: path index: %s", ErrCorrupt, what)
	}
	return fmt.Errorf("wire: path index: %w", err)
}
