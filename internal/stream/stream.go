// Package stream is keeper's one container format for backups, restores and raft
// snapshot transfers: a self-describing, versioned, chunked stream of records.
//
// The package knows nothing about znodes or sessions. A stream is a Header, a
// sequence of records — each a kind byte and an opaque payload — and a Footer.
// Records are packed into chunks; each chunk is checksummed, optionally
// compressed with zstd and optionally encrypted with AES-256-GCM under a key
// derived from a host key. The byte layout is specified in docs/BACKUP_FORMAT.md.
//
// # Guarantees
//
//   - Memory is flat: a Reader holds about two chunks (ChunkSize, or the largest
//     record when that is bigger), a compressing Writer about three, never the
//     whole stream.
//   - Damage of any kind — truncation at any byte, a flipped bit, reordered or
//     duplicated chunks, foreign bytes — is reported as an error matching
//     ErrCorrupt, never a panic, and no length read from the stream makes the
//     Reader allocate more than MaxChunkSize plus a small constant.
//   - A Reader returns io.EOF only after the footer, the record counts and the
//     whole-stream checksum have all been verified. A caller that applies
//     records as it reads them must therefore stage them and commit only on io.EOF.
//   - A Reader never reads past the end of the stream, so a stream can be embedded
//     in a larger byte sequence.
//
// # Threading
//
// A Writer or Reader is used by one goroutine at a time. Neither starts
// goroutines that outlive Close.
package stream

import (
	"errors"
	"hash/crc32"
)

// Format constants.
const (
	// Version is the format version this package writes and the newest it reads.
	Version = 1

	// DefaultChunkSize is the ChunkSize used when WriterOptions.ChunkSize is zero.
	DefaultChunkSize = 1 << 20

	// MaxChunkSize is the largest ChunkSize a Writer accepts.
	MaxChunkSize = 64 << 20

	// MaxRecordSize is the largest record payload a Writer accepts. A record
	// larger than the chunk size is written as a chunk of its own.
	MaxRecordSize = 64 << 20

	// MaxExtraSize is the largest Header.Extra a Writer accepts.
	MaxExtraSize = 1<<16 - 1

	// KeySize is the length of a host key: AES-256 takes 32 bytes.
	KeySize = 32
)

// Stream kinds for Header.Kind. The set is open: a Reader returns the value
// without judging it, and the caller decides what it accepts.
const (
	// KindBackup marks a stream written by Backup.
	KindBackup uint8 = 1
	// KindRaftSnapshot marks a stream carrying a raft snapshot to a follower.
	KindRaftSnapshot uint8 = 2
	// KindLogSegment marks an archive log segment: committed raft entries
	// after a point, for point-in-time recovery.
	KindLogSegment uint8 = 3
)

// Sentinel errors. ErrTruncated, ErrNotStream and ErrVersion also match
// ErrCorrupt, so a restore can refuse any bad input with one errors.Is check
// (DESIGN invariant 8). ErrWrongKey and ErrNotEncrypted do not match ErrCorrupt:
// the stream may be intact and the caller's key is the problem.
var (
	// ErrCorrupt reports a damaged stream: a checksum that does not match, a
	// length out of bounds, undecodable bytes, or chunks out of order.
	ErrCorrupt = errors.New("keeper: corrupt stream")
	// ErrTruncated reports a stream that ends before its trailer. It matches
	// ErrCorrupt.
	ErrTruncated error = &childError{"keeper: stream truncated", ErrCorrupt}
	// ErrNotStream reports input that does not start with the stream magic, such
	// as empty input or another file format. It matches ErrCorrupt.
	ErrNotStream error = &childError{"keeper: not a keeper stream", ErrCorrupt}
	// ErrVersion reports a stream written by a newer format version, or using
	// features this version does not know. It matches ErrCorrupt.
	ErrVersion error = &childError{"keeper: stream format newer than this version understands", ErrCorrupt}
	// ErrWrongKey reports an encrypted stream read without a key or with a key
	// other than the one it was written with.
	ErrWrongKey = errors.New("keeper: wrong key for encrypted stream")
	// ErrNotEncrypted reports a key given for a stream that is not encrypted. The
	// Reader refuses such a stream rather than silently accepting plaintext where
	// the caller expects an encrypted, authenticated stream.
	ErrNotEncrypted = errors.New("keeper: key given but stream is not encrypted")
)

// childError is a sentinel that also matches its parent with errors.Is.
type childError struct {
	msg    string
	parent error
}

func (e *childError) Error() string { return e.msg }
func (e *childError) Unwrap() error { return e.parent }

// Header describes a stream. It is written first and read back by NewReader.
type Header struct {
	// ClusterID identifies the cluster the stream was taken from.
	ClusterID uint64
	// Member is the id of the member that wrote the stream.
	Member uint64
	// Zxid is the zxid the stream's tree is at.
	Zxid uint64
	// Time is when the stream was started, in Unix milliseconds.
	Time int64
	// Kind says what the stream is for: KindBackup, KindRaftSnapshot or a later
	// value.
	Kind uint8
	// Extra holds options of the writer that the reader needs, opaque to this
	// package; at most MaxExtraSize bytes. A Reader returns a copy.
	Extra []byte
}

// KindCount is the number of records of one kind in a stream.
type KindCount struct {
	// Kind is the record kind.
	Kind uint8
	// Records is how many records of Kind the stream holds.
	Records uint64
}

// Footer closes a stream. The Writer computes Records and Counts itself; the
// caller supplies Digest.
type Footer struct {
	// Records is the total number of records in the stream.
	Records uint64
	// Counts is the number of records per kind, in increasing kind order, for
	// every kind that occurs at least once.
	Counts []KindCount
	// Digest is the caller's digest of the content, for keeper the tree digest
	// at Header.Zxid.
	Digest uint64
}

// Count returns the number of records of kind k.
func (f Footer) Count(k uint8) uint64 {
	for _, c := range f.Counts {
		if c.Kind == k {
			return c.Records
		}
	}
	return 0
}

// Layout constants; see docs/BACKUP_FORMAT.md.
const (
	headerFixedSize = 46 // magic through extra length
	saltSize        = 32
	keyCheckSize    = 16
	crcSize         = 4
	chunkPrefixSize = 13 // stored length, raw length, flags, prefix CRC
	tagSize         = 16 // AES-GCM tag

	headerFlagCompressed = 1 << 0
	headerFlagEncrypted  = 1 << 1
	headerFlagsKnown     = headerFlagCompressed | headerFlagEncrypted

	chunkFlagLast       = 1 << 0
	chunkFlagCompressed = 1 << 1
	chunkFlagsKnown     = chunkFlagLast | chunkFlagCompressed

	// maxRecordFrame is the framing around one record: kind and uvarint length.
	maxRecordFrame = 1 + 10
	// maxRawChunk bounds a chunk's uncompressed content.
	maxRawChunk = MaxChunkSize + maxRecordFrame
	// footerFixedSize is records, digest and the count of kinds.
	footerFixedSize = 8 + 8 + 2
	// maxFooterSize bounds the footer: every kind present.
	maxFooterSize = footerFixedSize + 256*9
)

// magic opens every stream. The high first byte keeps it apart from text, and
// the trailing newline catches transfers that rewrite line endings.
const magic = "\x89KEEPER\n"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)
