package keeper

import (
	"errors"
	"fmt"

	"github.com/keeper-go/keeper/internal/zkfile"
)

// Errors of ImportZooKeeper and ExportZooKeeper about ZooKeeper's files.
// Those about one place of one file are a *ZooKeeperFileError too.
var (
	// ErrNotZooKeeper reports a dir that holds no ZooKeeper snapshot, or a
	// file that is not ZooKeeper's.
	ErrNotZooKeeper = errors.New("keeper: not zookeeper data")
	// ErrZooKeeperCorrupt reports damaged ZooKeeper data: a checksum that
	// fails with data after it, a file cut short in its middle, transaction
	// logs that leave out transactions, a tree whose parents are missing.
	ErrZooKeeperCorrupt = errors.New("keeper: zookeeper data is damaged")
	// ErrZooKeeperUnsupported reports ZooKeeper data keeper does not import
	// as it is: a file version or transaction type it does not know, a path
	// keeper refuses, an empty ACL, data above 64 MiB.
	ErrZooKeeperUnsupported = errors.New("keeper: zookeeper data not supported")
	// ErrZooKeeperDigest reports a tree that, replayed, differs from the
	// digest ZooKeeper (3.6+) recorded for the same zxid (see
	// ImportOptions.IgnoreDigest).
	ErrZooKeeperDigest = errors.New("keeper: replayed zookeeper tree differs from zookeeper's digest")
)

// ZooKeeperFileError is a refusal at one place of one ZooKeeper file.
type ZooKeeperFileError struct {
	// File is the file's path.
	File string
	// Offset is the byte offset of the problem: in the file for logs and
	// plain snapshots, in the decompressed stream for compressed ones.
	Offset int64
	// Err says what is wrong; it matches one of ErrZooKeeperCorrupt,
	// ErrNotZooKeeper, ErrZooKeeperUnsupported, ErrZooKeeperDigest.
	Err error
}

func (e *ZooKeeperFileError) Error() string {
	return fmt.Sprintf("%s at offset %d: %v", e.File, e.Offset, e.Err)
}

// Unwrap returns Err.
func (e *ZooKeeperFileError) Unwrap() error { return e.Err }

// zkError turns an error of the zkfile package into one matching the
// public sentinels, with its file and offset; other errors pass.
func zkError(op string, err error) error {
	var sentinel error
	switch {
	case errors.Is(err, zkfile.ErrDigest):
		sentinel = ErrZooKeeperDigest
	case errors.Is(err, zkfile.ErrNotZooKeeper):
		sentinel = ErrNotZooKeeper
	case errors.Is(err, zkfile.ErrUnsupported):
		sentinel = ErrZooKeeperUnsupported
	case errors.Is(err, zkfile.ErrCorrupt):
		sentinel = ErrZooKeeperCorrupt
	default:
		return fmt.Errorf("keeper: %s: %w", op, err)
	}
	var fe *zkfile.FileError
	if errors.As(err, &fe) {
		return fmt.Errorf("keeper: %s: %w", op, &ZooKeeperFileError{File: fe.File, Offset: fe.Offset, Err: fmt.Errorf("%w: %v", sentinel, fe.Err)})
	}
	return fmt.Errorf("keeper: %s: %w: %v", op, sentinel, err)
}

// ZooKeeperDirs names a stopped ZooKeeper server's files: Data is its
// dataDir, which holds the snapshots, and Log its dataLogDir, which holds the
// transaction logs ("" when they are in Data). Each may name the configured
// directory or its version-2 subdirectory.
type ZooKeeperDirs struct {
	Data string
	Log  string
}

// EphemeralPolicy says what becomes of ephemeral znodes when a tree moves
// between ZooKeeper and keeper. Their sessions never move: a session lives
// in the servers that hold its connections.
type EphemeralPolicy uint8

const (
	// DropEphemerals leaves ephemeral znodes out: their owners are gone, and
	// the servers would delete them anyway. Their parents' NumChildren counts
	// only what is kept; the parents' other Stat fields stay as they were.
	// The default.
	DropEphemerals EphemeralPolicy = iota
	// KeepEphemeralsAsPersistent keeps ephemeral znodes as persistent ones,
	// EphemeralOwner 0, every other field as it was.
	KeepEphemeralsAsPersistent
)

func (p EphemeralPolicy) String() string {
	switch p {
	case DropEphemerals:
		return "drop"
	case KeepEphemeralsAsPersistent:
		return "keep as persistent"
	}
	return fmt.Sprintf("EphemeralPolicy(%d)", uint8(p))
}
