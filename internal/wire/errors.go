package wire

import (
	"fmt"

	"github.com/keeper-go/keeper/storage"
)

var (
	// ErrCorrupt reports bytes that do not decode: damaged, cut short, or
	// not of the format asked for. It is storage.ErrCorrupt, which keeper's
	// ErrCorrupt is.
	ErrCorrupt = storage.ErrCorrupt
	// ErrFormatTooNew reports a version byte newer than this code knows. It
	// is storage.ErrFormatTooNew, which keeper's ErrFormatTooNew is.
	ErrFormatTooNew = storage.ErrFormatTooNew
	// ErrCorruptEntry reports a raft log entry that cannot be decoded: its
	// envelope, its consistency entry, its configuration change or its
	// request. It matches ErrCorrupt; keeper's ErrCorruptEntry is this error.
	ErrCorruptEntry = fmt.Errorf("keeper: corrupt entry: %w", ErrCorrupt)
	// ErrBadMemberFrame reports a membership frame that cannot be decoded.
	// It matches ErrCorrupt.
	ErrBadMemberFrame = fmt.Errorf("keeper: bad membership frame: %w", ErrCorrupt)
)
