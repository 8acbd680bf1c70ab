package raftlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.uber.org/zap"
)

// A process killed in the middle of an append (kill -9, an OOM kill) can
// leave the raft log's last segment ending in a record that was only partly
// written. Such a record was never synced, so nothing it held was
// acknowledged to anyone, and dropping it is what both ZooKeeper and etcd do
// when they restart. Damage anywhere else is different: a record whose
// checksum fails with complete records after it was synced once and lost
// later, and dropping it (and everything after) could forget a vote or an
// acknowledged entry. repairTornTail tells the two apart by what follows the
// broken record: a torn tail is followed by nothing but the segment's
// preallocated zeros.

// repairTornTail truncates the torn last record of the raft log in d (the
// WAL directory) and reports the number of bytes it cut. It refuses, leaving
// the log exactly as it was, when anything but zeros follows the broken
// record; the error then matches ErrCorruptLog.
func repairTornTail(d string) (int64, error) {
	last, err := lastSegment(d)
	if err != nil {
		return 0, err
	}
	before, err := os.ReadFile(last)
	if err != nil {
		return 0, fmt.Errorf("storage: raft log read %s: %w", filepath.Base(last), err)
	}
	if !wal.Repair(zap.NewNop(), d) {
		return 0, fmt.Errorf("%w: torn last record could not be cut", ErrCorruptLog)
	}
	// wal.Repair kept a copy of the segment as it was; the original bytes
	// are in before, so the copy is redundant.
	_ = os.Remove(last + ".broken")
	st, err := os.Stat(last)
	if err != nil {
		return 0, fmt.Errorf("storage: raft log stat %s: %w", filepath.Base(last), err)
	}
	cut := st.Size()
	if !onlyZerosAfterRecord(before, cut) {
		if err := restoreSegment(last, before); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("%w: damaged record at offset %d of %s with records after it", ErrCorruptLog, cut, filepath.Base(last))
	}
	return int64(len(bytes.TrimRight(before[cut:], "\x00"))), nil
}

// onlyZerosAfterRecord reports whether the segment b, whose record at offset
// at is broken, holds nothing but zeros after that record. The record's
// length comes from its 8-byte little-endian frame header, whose low 56 bits
// are the record's size and whose top byte, when its high bit is set, holds
// the padding in its low 3 bits (the WAL's frame format). A header claiming
// more than the segment holds is damage, not a tear: a tear cuts records at
// sector boundaries, and an 8-byte aligned header is never split by one.
func onlyZerosAfterRecord(b []byte, at int64) bool {
	if at < 0 || at > int64(len(b)) {
		return false
	}
	rest := b[at:]
	if len(rest) < 8 {
		return allZero(rest)
	}
	frame := binary.LittleEndian.Uint64(rest[:8])
	size := int64(frame &^ (0xff << 56))
	if frame>>63 == 1 {
		size += int64((frame >> 56) & 0x7)
	}
	end := 8 + size
	if size < 0 || end > int64(len(rest)) {
		return false
	}
	return allZero(rest[end:])
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// lastSegment is the path of the newest segment file in the WAL directory d.
func lastSegment(d string) (string, error) {
	names, err := filepath.Glob(filepath.Join(d, "*.wal"))
	if err != nil || len(names) == 0 {
		return "", fmt.Errorf("%w: no segment in %s", ErrCorruptLog, d)
	}
	sort.Strings(names)
	return names[len(names)-1], nil
}

// restoreSegment writes b back as the segment at path and syncs it.
func restoreSegment(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("storage: raft log restore %s: %w", filepath.Base(path), err)
	}
	_, werr := f.Write(b)
	serr := f.Sync()
	if err := errors.Join(werr, serr, f.Close()); err != nil {
		return fmt.Errorf("storage: raft log restore %s: %w", filepath.Base(path), err)
	}
	return nil
}
