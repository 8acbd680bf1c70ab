package zkfile

import (
	"bytes"
	"fmt"
	"hash/adler32"
	"io"
)

// EncodeTxn encodes t as a log entry: the TxnHeader, the record of its type
// and, when t.Digest is set, the TxnDigest. A closeSession without HasPaths
// carries no record, as before 3.6; a create with ParentCVersion −1 is
// written in the 3.3-era form without it.
func EncodeTxn(t *Txn) ([]byte, error) {
	var buf bytes.Buffer
	j := &juteWriter{w: &buf}
	j.int64(t.ClientID)
	j.int32(t.Cxid)
	j.int64(t.Zxid)
	j.int64(t.Time)
	j.int32(t.Type)
	if err := t.encodeBody(j, true); err != nil {
		return nil, err
	}
	if t.Digest != nil {
		j.int32(t.Digest.Version)
		j.int64(t.Digest.Tree)
	}
	return buf.Bytes(), j.err
}

func (t *Txn) encodeBody(j *juteWriter, top bool) error {
	switch t.Type {
	case OpCreate, OpCreate2:
		j.str(t.Path)
		j.buffer(t.Data)
		j.acls(t.ACL)
		j.bool(t.Ephemeral)
		if t.ParentCVersion != -1 || !top || t.Type != OpCreate {
			j.int32(t.ParentCVersion)
		}
	case OpCreateTTL:
		j.str(t.Path)
		j.buffer(t.Data)
		j.acls(t.ACL)
		j.int32(t.ParentCVersion)
		j.int64(t.TTL)
	case OpCreateContainer:
		j.str(t.Path)
		j.buffer(t.Data)
		j.acls(t.ACL)
		j.int32(t.ParentCVersion)
	case OpDelete, OpDeleteContainer:
		j.str(t.Path)
	case OpSetData, OpReconfig:
		j.str(t.Path)
		j.buffer(t.Data)
		j.int32(t.Version)
	case OpSetACL:
		j.str(t.Path)
		j.acls(t.ACL)
		j.int32(t.Version)
	case OpCheck:
		j.str(t.Path)
		j.int32(t.Version)
	case OpCreateSession:
		j.int32(t.Timeout)
	case OpCloseSession:
		if t.HasPaths {
			j.int32(int32(len(t.Paths)))
			for _, p := range t.Paths {
				j.str(p)
			}
		}
	case OpError:
		j.int32(t.Err)
	case OpMulti:
		j.int32(int32(len(t.Ops)))
		for i := range t.Ops {
			var sub bytes.Buffer
			sj := &juteWriter{w: &sub}
			if err := t.Ops[i].encodeBody(sj, false); err != nil {
				return err
			}
			j.int32(t.Ops[i].Type)
			j.buffer(sub.Bytes())
		}
	default:
		return unsupportedf("txn type %d", t.Type)
	}
	return nil
}

// LogWriter writes a transaction log file as ZooKeeper's FileTxnLog does.
type LogWriter struct {
	j juteWriter
}

// NewLogWriter writes a log file header to w.
func NewLogWriter(w io.Writer, dbid int64) (*LogWriter, error) {
	l := &LogWriter{j: juteWriter{w: w}}
	l.j.int32(logMagic)
	l.j.int32(fileVersion)
	l.j.int64(dbid)
	if l.j.err != nil {
		return nil, fmt.Errorf("zkfile: %w", l.j.err)
	}
	return l, nil
}

// Append writes t as one record: checksum, entry, end byte.
func (l *LogWriter) Append(t *Txn) error {
	b, err := EncodeTxn(t)
	if err != nil {
		return err
	}
	l.j.int64(int64(adler32.Checksum(b)))
	l.j.buffer(b)
	l.j.write([]byte{eor})
	if l.j.err != nil {
		return fmt.Errorf("zkfile: %w", l.j.err)
	}
	return nil
}

// Pad writes n zero bytes, as ZooKeeper preallocates its log files.
func (l *LogWriter) Pad(n int) error {
	l.j.write(make([]byte, n))
	return l.j.err
}
