package wire

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"sort"
)

// PathIndexHead is what the head of a path index says.
type PathIndexHead struct {
	First, Last uint64
	Keys        int
}

// ReadPathIndex reads a path index from r and returns the hits of each
// of keys, in zxid order (none for a key not there). It reads the head
// and the bloom blocks of keys, skipping the others (by seeking, if r is
// an io.Seeker positioned at the index's start), and goes on only for a
// key whose block says it may be there. Then, if r can seek and the
// index is of version 2, it reads that key's rows block and its hits
// and checks their checksums; otherwise it reads the whole body and
// checks its checksum. It also checks the hits it returns (zxids
// ascending within First..Last, nonzero flags). Damage is refused with
// ErrCorrupt (a version 2 index whose body is read through an io.Seeker
// is refused too when its length is not the one its head gives), a newer
// version with ErrFormatTooNew; no length read from r makes it allocate
// more than r holds, or 1 MiB.
func ReadPathIndex(r io.Reader, keys ...uint64) (PathIndexHead, [][]IndexHit, error) {
	cur := &indexCursor{r: r}
	cur.seeker, _ = r.(io.Seeker)
	x, err := readPathIndexHead(cur)
	if err != nil {
		return x.head, nil, err
	}
	maybe, err := x.filter(cur, keys)
	if err != nil {
		return x.head, nil, err
	}
	out := make([][]IndexHit, len(keys))
	if !slices.Contains(maybe, true) {
		return x.head, out, nil
	}
	bodyAt := x.bloomAt + int64(x.blocks)*bloomBlockSize
	var body indexBody
	if x.version == 2 && cur.seeker != nil {
		if err := x.checkLength(cur); err != nil {
			return x.head, nil, err
		}
		body = seekBody{cur: cur, at: bodyAt}
	} else {
		if err := cur.skipTo(bodyAt); err != nil {
			return x.head, nil, pathIndexErr("short bloom filter", err)
		}
		b, err := cur.readN(int64(x.bodyLen) + 4)
		if err != nil {
			return x.head, nil, pathIndexErr("short body", err)
		}
		if crc32.Checksum(b[:x.bodyLen], crcTable) != binary.BigEndian.Uint32(b[x.bodyLen:]) {
			return x.head, nil, fmt.Errorf("%w: path index body checksum", ErrCorrupt)
		}
		body = memBody(b[:x.bodyLen])
	}
	var rows rowsBlock
	for i, key := range keys {
		if !maybe[i] {
			continue
		}
		if x.version == 1 {
			out[i], err = pathIndexHits1(x.head, body.(memBody), x.head.Keys, key)
		} else {
			out[i], err = x.hits(body, &rows, key)
		}
		if err != nil {
			return x.head, nil, err
		}
	}
	return x.head, out, nil
}

// pathIndex is what a reader knows of an index once its head is read
// and checked.
type pathIndex struct {
	head      PathIndexHead
	version   byte
	k         uint64 // bloom probes
	blocks    uint32 // bloom blocks
	bodyLen   uint32
	blockRows int    // rows per rows block (version 2)
	sums      []byte // per bloom block its checksum
	fences    []byte // per rows block its first key and checksum (version 2)
	bloomAt   int64  // where the bloom filter starts
}

// readPathIndexHead reads and checks the head, the bloom checksums and
// the fences, leaving cur at the bloom filter.
func readPathIndexHead(cur *indexCursor) (*pathIndex, error) {
	x := &pathIndex{}
	// Both versions' heads in one read: a version 1 index is longer than
	// its head by more than the 2 bytes, which begin its sums.
	var head [pathIndexHeadSize]byte
	if err := cur.read(head[:]); err != nil {
		return x, pathIndexErr("short head", err)
	}
	if string(head[:4]) != pathIndexMagic {
		return x, fmt.Errorf("%w: not a path index", ErrCorrupt)
	}
	x.version = head[4]
	headLen, rowSize := pathIndexHeadSize, uint64(pathIndexRowSize)
	switch {
	case x.version > PathIndexVersion:
		return x, fmt.Errorf("%w: path index version %d", ErrFormatTooNew, x.version)
	case x.version == 0:
		return x, fmt.Errorf("%w: path index version 0", ErrCorrupt)
	case x.version == 1:
		headLen, rowSize = pathIndexHeadSize1, pathIndexRowSize1
	default:
		x.blockRows = int(binary.BigEndian.Uint16(head[pathIndexHeadSize1:]))
	}
	x.k = uint64(head[5])
	h := &x.head
	h.First, h.Last = binary.BigEndian.Uint64(head[6:]), binary.BigEndian.Uint64(head[14:])
	nkeys := binary.BigEndian.Uint32(head[22:])
	x.blocks = binary.BigEndian.Uint32(head[26:])
	x.bodyLen = binary.BigEndian.Uint32(head[30:])
	h.Keys = int(nkeys)
	switch {
	case x.k == 0 || x.k > 16:
		return x, fmt.Errorf("%w: path index with %d bloom probes", ErrCorrupt, x.k)
	case h.First == 0 || h.Last < h.First:
		return x, fmt.Errorf("%w: path index range %d..%d", ErrCorrupt, h.First, h.Last)
	case nkeys > maxPathIndexKeys || int(x.blocks) != bloomBlocks(int(nkeys)):
		return x, fmt.Errorf("%w: path index of %d keys with %d bloom blocks", ErrCorrupt, nkeys, x.blocks)
	case uint64(x.bodyLen) < uint64(nkeys)*rowSize:
		return x, fmt.Errorf("%w: path index body of %d bytes for %d keys", ErrCorrupt, x.bodyLen, nkeys)
	case x.version == 2 && x.blockRows == 0:
		return x, fmt.Errorf("%w: path index with empty rows blocks", ErrCorrupt)
	}
	fences := 0
	if x.version == 2 {
		fences = (h.Keys + x.blockRows - 1) / x.blockRows
	}
	read := head[headLen:] // the start of the sums, for version 1
	rest, err := cur.readN(int64(x.blocks)*4 + int64(fences)*pathIndexFenceSize + 4 - int64(len(read)))
	if err != nil {
		return x, pathIndexErr("short bloom checksums", err)
	}
	sums := rest
	if len(read) > 0 {
		sums = append(bytes.Clone(read), rest...)
	}
	n := len(sums) - 4
	if crc32.Update(crc32.Checksum(head[:headLen], crcTable), crcTable, sums[:n]) != binary.BigEndian.Uint32(sums[n:]) {
		return x, fmt.Errorf("%w: path index head checksum", ErrCorrupt)
	}
	x.sums, x.fences = sums[:x.blocks*4], sums[x.blocks*4:n]
	for i := 1; i < fences; i++ {
		if x.fenceKey(i) <= x.fenceKey(i-1) {
			return x, fmt.Errorf("%w: path index fences out of order", ErrCorrupt)
		}
	}
	x.bloomAt = cur.pos
	return x, nil
}

// checkLength checks, through cur's seeker, that the index is as long as
// its head says: a lookup that seeks reads parts of the body and not the
// body's checksum, and so tells an index cut short by its length.
func (x *pathIndex) checkLength(cur *indexCursor) error {
	end, err := cur.seeker.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("wire: path index: %w", err)
	}
	cur.pos = end
	if want := x.bloomAt + int64(x.blocks)*bloomBlockSize + int64(x.bodyLen) + 4; end != want {
		return fmt.Errorf("%w: path index of %d bytes, its head says %d", ErrCorrupt, end, want)
	}
	return nil
}

// filter reads the bloom blocks of keys and reports, per key, whether it
// may be in the index.
func (x *pathIndex) filter(cur *indexCursor, keys []uint64) ([]bool, error) {
	// The blocks the keys map to, in the order they lie.
	type probe struct {
		i     int
		block uint64
	}
	probes := make([]probe, len(keys))
	for i, key := range keys {
		block, _ := bloomBit(key, 0, uint64(x.blocks))
		probes[i] = probe{i, block}
	}
	slices.SortFunc(probes, func(a, b probe) int { return cmp.Compare(a.block, b.block) })
	maybe := make([]bool, len(keys))
	var block []byte
	for i, p := range probes {
		if i == 0 || p.block != probes[i-1].block {
			var err error
			if err = cur.skipTo(x.bloomAt + int64(p.block)*bloomBlockSize); err != nil {
				return nil, pathIndexErr("short bloom filter", err)
			}
			if block, err = cur.readN(bloomBlockSize); err != nil {
				return nil, pathIndexErr("short bloom filter", err)
			}
			if crc32.Checksum(block, crcTable) != binary.BigEndian.Uint32(x.sums[p.block*4:]) {
				return nil, fmt.Errorf("%w: path index bloom block %d checksum", ErrCorrupt, p.block)
			}
		}
		in := true
		for j := range x.k {
			_, bit := bloomBit(keys[p.i], j, uint64(x.blocks))
			in = in && block[bit/8]&(1<<(bit%8)) != 0
		}
		maybe[p.i] = in
	}
	return maybe, nil
}

func (x *pathIndex) fenceKey(i int) uint64 {
	return binary.BigEndian.Uint64(x.fences[i*pathIndexFenceSize:])
}

// rowsBlock is the rows block a version 2 lookup read last.
type rowsBlock struct {
	i    int
	rows []byte // nil before the first
}

// hits looks key up in a version 2 index: the fences name the rows block
// that would hold it, whose checksum and then the checksum of the key's
// hits it checks. rows keeps the block read last, for the next key.
func (x *pathIndex) hits(body indexBody, rows *rowsBlock, key uint64) ([]IndexHit, error) {
	f := sort.Search(len(x.fences)/pathIndexFenceSize, func(i int) bool { return x.fenceKey(i) > key }) - 1
	if f < 0 {
		return nil, nil
	}
	if rows.rows == nil || rows.i != f {
		first := f * x.blockRows
		n := min(x.blockRows, x.head.Keys-first)
		b, err := body.bytes(int64(first)*pathIndexRowSize, int64(n)*pathIndexRowSize)
		if err != nil {
			return nil, err
		}
		if crc32.Checksum(b, crcTable) != binary.BigEndian.Uint32(x.fences[f*pathIndexFenceSize+8:]) {
			return nil, fmt.Errorf("%w: path index rows block %d checksum", ErrCorrupt, f)
		}
		if binary.BigEndian.Uint64(b) != x.fenceKey(f) {
			return nil, fmt.Errorf("%w: path index rows block %d does not start at its fence", ErrCorrupt, f)
		}
		rows.i, rows.rows = f, b
	}
	rowKey := func(i int) uint64 { return binary.BigEndian.Uint64(rows.rows[i*pathIndexRowSize:]) }
	nrows := len(rows.rows) / pathIndexRowSize
	i := sort.Search(nrows, func(i int) bool { return rowKey(i) >= key })
	if i == nrows || rowKey(i) != key {
		return nil, nil
	}
	row := rows.rows[i*pathIndexRowSize:]
	off, n := uint64(binary.BigEndian.Uint32(row[8:])), uint64(binary.BigEndian.Uint32(row[12:]))
	rowsLen := uint64(x.head.Keys) * pathIndexRowSize
	area := uint64(x.bodyLen) - rowsLen
	at := f*x.blockRows + i
	if off > area || n == 0 || n > area-off {
		return nil, fmt.Errorf("%w: path index row %d: %d bytes of hits at %d", ErrCorrupt, at, n, off)
	}
	b, err := body.bytes(int64(rowsLen+off), int64(n))
	if err != nil {
		return nil, err
	}
	if crc32.Checksum(b, crcTable) != binary.BigEndian.Uint32(row[16:]) {
		return nil, fmt.Errorf("%w: path index row %d: hits checksum", ErrCorrupt, at)
	}
	return decodeIndexHits(x.head, b, -1, at)
}

// pathIndexHits1 finds key's row in the body of a version 1 index by
// binary search and decodes its hits.
func pathIndexHits1(h PathIndexHead, body []byte, keys int, key uint64) ([]IndexHit, error) {
	rowKey := func(i int) uint64 { return binary.BigEndian.Uint64(body[i*pathIndexRowSize1:]) }
	lo := sort.Search(keys, func(i int) bool { return rowKey(i) >= key })
	if lo == keys || rowKey(lo) != key {
		return nil, nil
	}
	row := body[lo*pathIndexRowSize1:]
	off, n := uint64(binary.BigEndian.Uint32(row[8:])), uint64(binary.BigEndian.Uint32(row[12:]))
	area := body[keys*pathIndexRowSize1:]
	if off > uint64(len(area)) || n == 0 || n > uint64(len(area))-off {
		return nil, fmt.Errorf("%w: path index row %d: %d hits at %d", ErrCorrupt, lo, n, off)
	}
	return decodeIndexHits(h, area[off:], int(n), lo)
}

// decodeIndexHits decodes n hits from b, or, for n < 0, all of b, and
// checks them.
func decodeIndexHits(h PathIndexHead, b []byte, n int, row int) ([]IndexHit, error) {
	all := n < 0
	if all {
		n = len(b) / 2 // a hit is 2 bytes or more
	}
	d := varints{b: b}
	hits := make([]IndexHit, 0, n)
	for all && len(d.b) > 0 || !all && len(hits) < n {
		delta := d.uvarint()
		if d.bad || len(d.b) == 0 || delta > h.Last-h.First || d.b[0] == 0 {
			return nil, fmt.Errorf("%w: path index row %d: bad hit", ErrCorrupt, row)
		}
		z := h.First + delta
		if len(hits) > 0 && z <= hits[len(hits)-1].Zxid {
			return nil, fmt.Errorf("%w: path index row %d: hits out of order", ErrCorrupt, row)
		}
		hits = append(hits, IndexHit{Zxid: z, Flags: d.b[0]})
		d.b = d.b[1:]
	}
	return hits, nil
}

// indexBody gives the bytes of an index's body: n from off.
type indexBody interface {
	bytes(off, n int64) ([]byte, error)
}

// memBody is a body read whole.
type memBody []byte

func (b memBody) bytes(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off > int64(len(b)) || n > int64(len(b))-off {
		return nil, fmt.Errorf("%w: path index: %d bytes at %d past the body", ErrCorrupt, n, off)
	}
	return b[off : off+n], nil
}

// seekBody reads the parts of a body asked for, seeking to each.
type seekBody struct {
	cur *indexCursor
	at  int64 // where the body starts
}

func (s seekBody) bytes(off, n int64) ([]byte, error) {
	if err := s.cur.skipTo(s.at + off); err != nil {
		return nil, pathIndexErr("short body", err)
	}
	b, err := s.cur.readN(n)
	if err != nil {
		return nil, pathIndexErr("short body", err)
	}
	return b, nil
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

func pathIndexErr(what string, err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: path index: %s", ErrCorrupt, what)
	}
	return fmt.Errorf("wire: path index: %w", err)
}
