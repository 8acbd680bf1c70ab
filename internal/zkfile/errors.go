package zkfile

import (
	"errors"
	"fmt"
)

// Errors of this package. Callers match them with errors.Is.
var (
	// ErrCorrupt reports a damaged file: a checksum that does not match, a
	// length out of range, a file cut short in its middle, a tree whose
	// structure does not hold.
	ErrCorrupt = errors.New("zkfile: corrupt")
	// ErrNotZooKeeper reports a file or dir that holds no ZooKeeper data: a
	// wrong magic number, no snapshot at all.
	ErrNotZooKeeper = errors.New("zkfile: not ZooKeeper data")
	// ErrUnsupported reports ZooKeeper data this package does not read: a
	// file version other than 2, a transaction type it does not know.
	ErrUnsupported = errors.New("zkfile: unsupported")
	// ErrDigest reports a tree whose digest, after replay, differs from the
	// one ZooKeeper recorded for the same zxid.
	ErrDigest = errors.New("zkfile: digest mismatch")
	// ErrGap reports transaction logs that do not continue the snapshot or
	// each other: a zxid missing or going backwards. It matches ErrCorrupt.
	ErrGap = fmt.Errorf("%w: transaction log gap", ErrCorrupt)
)

// FileError is a refusal at one place of one file.
type FileError struct {
	// File is the file's path, as given to the reader.
	File string
	// Offset is the byte offset the problem was found at: in the file as
	// stored for logs and plain snapshots, in the decompressed stream for
	// compressed snapshots.
	Offset int64
	// Err says what is wrong; it matches one of the package's errors.
	Err error
}

func (e *FileError) Error() string {
	return fmt.Sprintf("%s at offset %d: %v", e.File, e.Offset, e.Err)
}

// Unwrap returns Err.
func (e *FileError) Unwrap() error { return e.Err }

// corruptf returns an error matching ErrCorrupt.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// unsupportedf returns an error matching ErrUnsupported.
func unsupportedf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}
