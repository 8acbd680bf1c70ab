package zkfile

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/adler32"
	"io"
)

// LogInfo describes a transaction log file that was read.
type LogInfo struct {
	// File is the file's path as given.
	File string
	// Zxid is the zxid in the file's name: that of its first transaction.
	Zxid int64
	// DBID is the header's dbid.
	DBID int64
	// Records counts the whole records read; First and Last are the zxids of
	// the first and last of them (0 when there are none).
	Records     int64
	First, Last int64
	// Torn, when not nil, is the record at the end of the file that was
	// dropped because it was never completely written.
	Torn *Torn
}

// Torn is a record dropped from a log's end.
type Torn struct {
	// Offset is where the record starts in the file.
	Offset int64
	// Reason says what was incomplete.
	Reason string
}

// eor is the byte that ends every log record.
const eor = 'B'

// logRecordHead is the size of a record's checksum and length.
const logRecordHead = 8 + 4

// ReadLog reads the transaction log file named file from r and hands each
// whole record's transaction, with the record's offset, to visit, in file
// order. The transaction is visit's to keep.
//
// The end of the records is the end of the file or a zero length (ZooKeeper
// preallocates log files with zeros). A record that is cut short, lacks its
// end byte or fails its checksum, and after which the file holds only
// zeros, was being written when the server stopped: it is dropped and
// reported in LogInfo.Torn. The same damage with data after it is refused
// with ErrCorrupt, as is a record whose checksum holds but whose
// transaction does not decode; every such error is a *FileError naming the
// record's offset. A file that is not a log is refused with
// ErrNotZooKeeper.
func ReadLog(ctx context.Context, file string, r io.Reader, visit func(t *Txn, offset int64) error) (LogInfo, error) {
	info := LogInfo{File: file}
	info.Zxid, _ = ZxidOfName(baseName(file), "log")
	br := bufio.NewReaderSize(r, 256<<10)
	j := &juteReader{r: br}
	magic := j.int32()
	version := j.int32()
	info.DBID = j.int64()
	switch {
	case j.err != nil && j.off == 0:
		return info, &FileError{File: file, Err: fmt.Errorf("%w: empty file", ErrNotZooKeeper)}
	case j.err != nil:
		return info, j.errAt(file, 0, "header")
	case magic != logMagic:
		return info, &FileError{File: file, Err: fmt.Errorf("%w: magic %#x is not a log's", ErrNotZooKeeper, uint32(magic))}
	case version != fileVersion:
		return info, &FileError{File: file, Offset: 4, Err: unsupportedf("log version %d", version)}
	}
	var body []byte
	for {
		at := j.off
		crc := j.int64()
		if j.err != nil {
			if errors.Is(j.err, io.EOF) && j.off == at {
				return info, nil // the end of the file, between records
			}
			return info, torn(&info, at, "cut in its checksum", nil)
		}
		n := j.int32()
		if j.err != nil {
			return info, torn(&info, at, "cut in its length", nil)
		}
		if n == 0 {
			if err := zerosAfter(j, file); err != nil {
				return info, &FileError{File: file, Offset: at, Err: corruptf("a zero-length record with data after it: %v", err)}
			}
			if crc != 0 {
				return info, torn(&info, at, "zero length", nil)
			}
			return info, nil
		}
		if n < 0 || n > MaxLength {
			return info, torn(&info, at, fmt.Sprintf("length %d out of range", n), zerosAfter(j, file))
		}
		body = j.bytes(body[:0], int(n))
		end := j.bool() // the end byte, read as a byte
		if j.err != nil {
			return info, torn(&info, at, "cut short", nil)
		}
		if j.tmp[0] != eor {
			_ = end
			return info, torn(&info, at, fmt.Sprintf("end byte %#x, not 'B'", j.tmp[0]), zerosAfter(j, file))
		}
		if got := int64(adler32.Checksum(body)); got != crc {
			if err := zerosAfter(j, file); err != nil {
				return info, &FileError{File: file, Offset: at, Err: corruptf("record checksum %#x, its bytes sum to %#x", crc, got)}
			}
			return info, torn(&info, at, "checksum does not match", nil)
		}
		t, err := DecodeTxn(body)
		if err != nil {
			return info, &FileError{File: file, Offset: at, Err: err}
		}
		if info.Records == 0 {
			info.First = t.Zxid
		}
		info.Records++
		info.Last = t.Zxid
		if err := visit(t, at); err != nil {
			return info, err
		}
		if info.Records%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return info, err
			}
		}
	}
}

// torn records a torn last record at offset at, unless after is not nil
// (the file holds data after the record): then the damage is in the middle
// and refused.
func torn(info *LogInfo, at int64, reason string, after error) error {
	if after != nil {
		return &FileError{File: info.File, Offset: at, Err: corruptf("record %s, with data after it (%v)", reason, after)}
	}
	info.Torn = &Torn{Offset: at, Reason: reason}
	return nil
}

// zerosAfter reads the rest of the file and reports the first byte that is
// not zero, or nil if there is none.
func zerosAfter(j *juteReader, file string) error {
	if j.err != nil && !errors.Is(j.err, io.EOF) && !errors.Is(j.err, io.ErrUnexpectedEOF) {
		return j.err
	}
	var buf [32 << 10]byte
	off := j.off
	for {
		n, err := j.r.Read(buf[:])
		for i := 0; i < n; i++ {
			if buf[i] != 0 {
				return fmt.Errorf("byte %#x at offset %d", buf[i], off+int64(i))
			}
		}
		off += int64(n)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", file, err)
		}
	}
}
