package keeper

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults for the zero values of Config's optional fields.
const (
	// DefaultTickInterval is the raft tick. With DefaultElectionTicks a
	// follower starts an election 200–400 ms after it last heard from the
	// leader (raft randomizes the timeout in [election, 2×election) ticks),
	// so losing a leader costs well under a second, while a 20 ms heartbeat
	// leaves a wide margin for a busy host or a slow fsync.
	//
	// Low-latency setting: TickInterval 5 ms makes the election start 50–100
	// ms after the leader is last heard from (measured: 75 ms p50 from a
	// leader kill to the next acknowledged write, BenchmarkFailover), at the
	// cost of four times the heartbeat traffic; it suits members on one host
	// or a fast LAN whose fsyncs stay well under the election timeout.
	DefaultTickInterval = 20 * time.Millisecond
	// DefaultElectionTicks is the election timeout in ticks.
	DefaultElectionTicks = 10
	// DefaultHeartbeatTicks is the leader's heartbeat interval in ticks.
	DefaultHeartbeatTicks = 1
	// DefaultMaxSizePerMsg caps the bytes of entries in one append message.
	DefaultMaxSizePerMsg = 1 << 20
	// DefaultMaxInflightMsgs caps unacknowledged append messages per follower.
	DefaultMaxInflightMsgs = 256
	// DefaultKeepEntries is how many applied entries stay in the in-memory
	// log and in the WAL behind the applied index, for followers catching up.
	DefaultKeepEntries = 10000
	// DefaultSnapshotRate is the pace, in bytes per second, of a raft
	// snapshot sent to a follower: the whole tree, compressed. A tree of 1M
	// small znodes (48 MB) takes about 6 s; the pace keeps the transfer
	// and the follower's install from crowding out the writes beside them.
	DefaultSnapshotRate = 8 << 20
	// DefaultMinSessionTimeout is ZooKeeper's default minimum session
	// timeout, 2 ticks of its 2 s tickTime.
	DefaultMinSessionTimeout = 4 * time.Second
	// DefaultMaxSessionTimeout is ZooKeeper's default maximum, 20 ticks.
	DefaultMaxSessionTimeout = 40 * time.Second
	// DefaultReapInterval is how often the leader looks for empty container
	// znodes and expired TTL znodes.
	DefaultReapInterval = time.Second
)

// Config configures Open. The zero value of every optional field means its
// documented default. Validate never changes the Config it is called on.
type Config struct {
	// ID is this member's raft id: non-zero, unique in the cluster and never
	// reused by another member. Required.
	ID uint64
	// Dir is the member's data directory (raft log, tree, lock file). It is
	// created if absent. Required.
	Dir string
	// Peers lists the ids of the cluster's initial members, this one included.
	// It seeds a new cluster and derives its ClusterID; a member reopening an
	// existing Dir takes its membership from its data instead. Required.
	Peers []uint64
	// ClusterID names the cluster; data and frames from another cluster are
	// refused. Zero means: the id an existing Dir holds (as created, or as
	// Restore wrote it), else a hash of the sorted Peers, so that members
	// given the same Peers agree.
	ClusterID uint64
	// Transport carries frames between members. Required.
	Transport Transport
	// SuperDigest, if set, names the super user as ZooKeeper's superDigest
	// does: "user:base64(sha1(user:password))" (DigestACL computes the same
	// form). A Client given that user's DigestIdentity may do anything,
	// whatever the ACLs say. Empty means no super user.
	SuperDigest string
	// Logger receives the library's and raft's log records. Nil means
	// silence: nothing is logged anywhere.
	Logger *slog.Logger

	// TickInterval is raft's logical clock period. Default DefaultTickInterval.
	TickInterval time.Duration
	// ElectionTicks is the election timeout in ticks; it must exceed
	// HeartbeatTicks. Default DefaultElectionTicks.
	ElectionTicks int
	// HeartbeatTicks is the heartbeat interval in ticks. Default
	// DefaultHeartbeatTicks.
	HeartbeatTicks int
	// MaxSizePerMsg caps the entry bytes of one append message. Default
	// DefaultMaxSizePerMsg.
	MaxSizePerMsg uint64
	// MaxInflightMsgs caps unacknowledged append messages per follower.
	// Default DefaultMaxInflightMsgs.
	MaxInflightMsgs int
	// KeepEntries is how many applied entries are retained behind the
	// applied index for lagging followers. Default DefaultKeepEntries. A
	// follower further behind catches up by a raft snapshot: the whole tree,
	// streamed in the backup format, which needs a Transport that also
	// implements StreamTransport (without one it stays behind). While a
	// follower catches up (a snapshot on its way to it, or a live follower
	// behind), the leader keeps the in-memory entries it still needs, up
	// to 10×KeepEntries behind the applied index, so that once installed it
	// goes on from the log rather than needing another snapshot.
	KeepEntries uint64
	// SnapshotRate caps, in bytes per second, how fast a raft snapshot or a
	// repair is streamed to a member. Default DefaultSnapshotRate; negative
	// means no cap. Raise it where members have their own disks and the
	// network is fast; lower it to protect write throughput further.
	SnapshotRate int64

	// MinSessionTimeout and MaxSessionTimeout bound the timeouts sessions
	// get: a request outside is clamped into the range, never refused.
	// Defaults DefaultMinSessionTimeout and DefaultMaxSessionTimeout.
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// ReapInterval is how often the leader deletes empty container znodes
	// and expired TTL znodes. Default DefaultReapInterval.
	ReapInterval time.Duration
	// CheckInterval is how often the leader proposes a consistency check:
	// every member records its tree digest at the check's zxid and, in the
	// background, recomputes it from a full scan of its store, so both drift
	// in the running digest and damage on disk are found (see
	// consistency.go). Zero means DefaultCheckInterval; a negative value
	// turns checks off. Each check costs every member one scan of its tree.
	CheckInterval time.Duration
	// OnCorrupt says what a member that fails a consistency check does
	// besides refusing reads and writes with ErrReplicaCorrupt. Default
	// RepairCorrupt.
	OnCorrupt CorruptAction
	// Join opens a new member of a running cluster: the member starts with
	// an empty log and no membership of its own, and learns both from the
	// leader once a member added it with AddMember. Join needs ClusterID (the
	// cluster's Status().ClusterID) and an empty or absent Dir; it is
	// ignored when Dir already holds a raft log.
	Join bool
	// Archive, when set, archives every committed entry and periodic base
	// backups to a Target, for point-in-time recovery (see ArchiveConfig
	// and OpenArchive). Nil means no archive.
	Archive *ArchiveConfig
}

// DefaultCheckInterval is the leader's consistency check interval. Each
// check scans every member's whole tree once in the background (about 0.2 s
// of one core per million znodes), so the default keeps that cost near 1%.
const DefaultCheckInterval = 30 * time.Second

// CorruptAction is what a member does once it finds its tree corrupt.
type CorruptAction int

const (
	// RepairCorrupt re-syncs the member's tree from the leader (the default).
	RepairCorrupt CorruptAction = iota
	// AlarmCorrupt only raises the alarm: Status().Corrupt, an error log
	// record, ErrReplicaCorrupt on every read and write. The operator repairs
	// it (see docs/RUNBOOK.md).
	AlarmCorrupt
)

func (a CorruptAction) String() string {
	switch a {
	case RepairCorrupt:
		return "repair"
	case AlarmCorrupt:
		return "alarm"
	}
	return fmt.Sprintf("CorruptAction(%d)", int(a))
}

func (c Config) checkInterval() time.Duration {
	return orDefault(c.CheckInterval, DefaultCheckInterval)
}

// Validate reports every problem of c at once, each naming its field; the
// error matches ErrInvalidConfig. Zero optional fields are valid (they mean
// the defaults). Validate does not modify c.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if c.ID == 0 {
		bad("ID must be non-zero")
	}
	if c.Dir == "" {
		bad("Dir must name a directory")
	}
	if c.Transport == nil {
		bad("Transport is required")
	}
	if len(c.Peers) == 0 {
		bad("Peers must list the initial members")
	}
	seen := make(map[uint64]bool, len(c.Peers))
	self := false
	for _, p := range c.Peers {
		switch {
		case p == 0:
			bad("Peers holds id 0, which is not a valid member id")
		case seen[p]:
			bad("Peers holds id %d twice", p)
		}
		seen[p] = true
		if p == c.ID {
			self = true
		}
	}
	if len(c.Peers) > 0 && c.ID != 0 && !self {
		bad("Peers must include this member's ID %d", c.ID)
	}
	if c.TickInterval < 0 {
		bad("TickInterval %v is negative", c.TickInterval)
	}
	if c.ElectionTicks < 0 {
		bad("ElectionTicks %d is negative", c.ElectionTicks)
	}
	if c.HeartbeatTicks < 0 {
		bad("HeartbeatTicks %d is negative", c.HeartbeatTicks)
	}
	if e, h := c.electionTicks(), c.heartbeatTicks(); c.ElectionTicks >= 0 && c.HeartbeatTicks >= 0 && e <= h {
		bad("ElectionTicks (%d) must exceed HeartbeatTicks (%d)", e, h)
	}
	if c.MinSessionTimeout < 0 {
		bad("MinSessionTimeout %v is negative", c.MinSessionTimeout)
	}
	if c.MaxSessionTimeout < 0 {
		bad("MaxSessionTimeout %v is negative", c.MaxSessionTimeout)
	}
	if c.MinSessionTimeout >= 0 && c.MaxSessionTimeout >= 0 && c.minSessionTimeout() > c.maxSessionTimeout() {
		bad("MinSessionTimeout (%v) exceeds MaxSessionTimeout (%v)", c.minSessionTimeout(), c.maxSessionTimeout())
	}
	if c.ReapInterval < 0 {
		bad("ReapInterval %v is negative", c.ReapInterval)
	}
	if c.Join && c.ClusterID == 0 {
		bad("Join needs ClusterID, the id of the cluster to join")
	}
	if c.OnCorrupt != RepairCorrupt && c.OnCorrupt != AlarmCorrupt {
		bad("OnCorrupt %d is not a CorruptAction", int(c.OnCorrupt))
	}
	if c.MaxInflightMsgs < 0 {
		bad("MaxInflightMsgs %d is negative", c.MaxInflightMsgs)
	}
	if c.Archive != nil {
		c.Archive.validate(bad)
	}
	return errors.Join(errs...)
}

func (c Config) tickInterval() time.Duration { return orDefault(c.TickInterval, DefaultTickInterval) }

func (c Config) electionTicks() int { return orDefault(c.ElectionTicks, DefaultElectionTicks) }

func (c Config) heartbeatTicks() int { return orDefault(c.HeartbeatTicks, DefaultHeartbeatTicks) }

func (c Config) maxSizePerMsg() uint64 { return orDefault(c.MaxSizePerMsg, DefaultMaxSizePerMsg) }

func (c Config) maxInflightMsgs() int { return orDefault(c.MaxInflightMsgs, DefaultMaxInflightMsgs) }

func (c Config) snapshotRate() int64 {
	return max(orDefault(c.SnapshotRate, DefaultSnapshotRate), 0)
}

func (c Config) keepEntries() uint64 { return orDefault(c.KeepEntries, DefaultKeepEntries) }

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// clusterID returns c.ClusterID, or a hash of the sorted peer ids when zero.
func (c Config) clusterID() uint64 {
	if c.ClusterID != 0 {
		return c.ClusterID
	}
	return deriveClusterID(c.Peers)
}

func (c Config) minSessionTimeout() time.Duration {
	return orDefault(c.MinSessionTimeout, DefaultMinSessionTimeout)
}

func (c Config) maxSessionTimeout() time.Duration {
	return orDefault(c.MaxSessionTimeout, DefaultMaxSessionTimeout)
}

// clampSessionTimeout negotiates a requested session timeout.
func (c Config) clampSessionTimeout(d time.Duration) time.Duration {
	return min(max(d, c.minSessionTimeout()), c.maxSessionTimeout())
}

func (c Config) reapInterval() time.Duration { return orDefault(c.ReapInterval, DefaultReapInterval) }

// orDefault returns v, or d when v is the zero value.
func orDefault[T comparable](v, d T) T {
	var zero T
	if v == zero {
		return d
	}
	return v
}
