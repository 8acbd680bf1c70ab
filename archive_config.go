package keeper

import (
	"time"

	"github.com/keeper-go/keeper/internal/stream"
)

// Defaults of ArchiveConfig.
const (
	// DefaultArchiveSyncEvery is how often the archiving member sends the
	// entries committed since its last segment to the target.
	DefaultArchiveSyncEvery = time.Second
	// DefaultArchiveBaseEvery is how often it writes a base backup.
	DefaultArchiveBaseEvery = 6 * time.Hour
	// DefaultArchiveBaseAfter is how many bytes of log segments since the
	// last base make it write a new base early.
	DefaultArchiveBaseAfter = 1 << 30
	// DefaultArchiveHoldEntries is how far a member's raft log may be held
	// back, in entries behind its applied index, for entries the archive
	// does not have yet.
	DefaultArchiveHoldEntries = 250_000
	// maxSegmentEntries and maxSegmentBytes cut one sync's entries into
	// segments of bounded size.
	maxSegmentEntries = 100_000
	maxSegmentBytes   = 64 << 20
)

// ArchiveConfig turns on continuous backup: every committed entry reaches
// Target in log segments, beside periodic base backups, so that an Archive
// opened on the same Target restores the tree as it was at any zxid, time
// or mark since the oldest base kept. Give every member the same
// ArchiveConfig: one member archives at a time (the leader, unless
// Archiver names one), and any member may take over where the last one
// stopped.
type ArchiveConfig struct {
	// Target is where the archive's objects go. Required.
	Target Target
	// Key, when set, is the 32-byte host key the archive's segments and
	// bases are encrypted and authenticated with (AES-256-GCM), as for
	// Backup; the Archive that reads them needs the same key.
	Key []byte
	// NoCompression stores segments and bases without zstd.
	NoCompression bool
	// SyncEvery is how often the archiving member sends the entries
	// committed since its last segment: an acknowledged write reaches the
	// target within about SyncEvery plus the target's own latency (the
	// archive's recovery point). Default DefaultArchiveSyncEvery.
	SyncEvery time.Duration
	// BaseEvery is how often a base backup is written, and BaseAfter after
	// how many bytes of segments since the last base one is written early.
	// A restore reads the newest base before its point and the log from
	// there. Defaults DefaultArchiveBaseEvery and DefaultArchiveBaseAfter.
	BaseEvery time.Duration
	BaseAfter int64
	// HoldEntries bounds how far behind its applied index each member
	// holds its raft log for entries the archive does not have yet (while
	// the target is down or slow). Past it the log is released anyway, and
	// the entries the archive missed are recorded in it as a gap, logged
	// as an error and counted in Status.ArchiveGaps: a restore to a point
	// across a gap is refused. Held entries stay in memory (about 150
	// bytes each for small writes). Default DefaultArchiveHoldEntries.
	HoldEntries uint64
	// Archiver is the id of the member that archives; 0 means the leader.
	Archiver uint64
	// AckArchived makes every write wait, before it returns, until the
	// archive holds its entry: an acknowledged write survives the loss of
	// every member's disk (a recovery point of zero), at the cost of the
	// target's round trip on every write, and the archiving member cuts a
	// segment every tick instead of every SyncEvery. A write that applied
	// but that the archive did not confirm before its context ended (a
	// slow or failing target) returns an error matching
	// ErrArchiveUnconfirmed: it is committed and applied, only not yet
	// archived. So does a write whose entry the members released before
	// the archive had it (HoldEntries), once the gap is recorded: the
	// archive will never hold it.
	AckArchived bool
	// Retain is what the archiving member keeps: after each base it
	// deletes what Retain no longer needs (see Retention and
	// Archive.Expire). The zero Retention keeps everything.
	Retain Retention
}

func (a *ArchiveConfig) syncEvery() time.Duration {
	return orDefault(a.SyncEvery, DefaultArchiveSyncEvery)
}

func (a *ArchiveConfig) baseEvery() time.Duration {
	return orDefault(a.BaseEvery, DefaultArchiveBaseEvery)
}

func (a *ArchiveConfig) baseAfter() int64 { return orDefault(a.BaseAfter, DefaultArchiveBaseAfter) }

func (a *ArchiveConfig) holdEntries() uint64 {
	return orDefault(a.HoldEntries, DefaultArchiveHoldEntries)
}

func (a *ArchiveConfig) streamOptions() stream.WriterOptions {
	return stream.WriterOptions{Key: a.Key, NoCompression: a.NoCompression}
}

// validate adds the config's problems to bad.
func (a *ArchiveConfig) validate(bad func(format string, args ...any)) {
	if a.Target == nil {
		bad("Archive.Target is required")
	}
	if len(a.Key) != 0 && len(a.Key) != stream.KeySize {
		bad("Archive.Key has %d bytes, want %d", len(a.Key), stream.KeySize)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"SyncEvery", a.SyncEvery}, {"BaseEvery", a.BaseEvery}} {
		if d.v < 0 {
			bad("Archive.%s %v is negative", d.name, d.v)
		}
	}
	if a.Retain.Window < 0 || a.Retain.MinBases < 0 {
		bad("Archive.Retain %+v has a negative field", a.Retain)
	}
	if a.BaseAfter < 0 {
		bad("Archive.BaseAfter %d is negative", a.BaseAfter)
	}
}
