package keeper

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/keeper-go/keeper/internal/stream"
	"github.com/keeper-go/keeper/internal/wire"
	"go.etcd.io/raft/v3/raftpb"
)

// An archive log segment is a stream of kind stream.KindLogSegment: its
// header's zxid is the segment's last index, its Extra a wire.SegmentInfo,
// its records (recordLog) the committed raft entries first..last, one
// wire.LogRecord each, and its footer's digest the term of the last entry.
// The stream's checksums, compression and encryption are the backup's.

// entryTime is the proposer's time carried by a raft entry, in Unix
// milliseconds; ok is false for entries that carry none (a new leader's
// empty entry, consistency entries, membership changes).
func entryTime(e *raftpb.Entry) (ms int64, ok bool) {
	data := e.GetData()
	if e.GetType() != raftpb.EntryNormal || len(data) == 0 || data[0] != wire.EnvelopeVersion {
		return 0, false
	}
	env, err := wire.DecodeEnvelope(data)
	if err != nil {
		return 0, false
	}
	return requestTime(env.Payload)
}

// segmentInfo describes ents, consecutive committed entries.
func segmentInfo(ents []*raftpb.Entry) wire.SegmentInfo {
	info := wire.SegmentInfo{First: ents[0].GetIndex(), Last: ents[len(ents)-1].GetIndex()}
	for _, e := range ents {
		if ms, ok := entryTime(e); ok {
			if info.FirstTime == 0 {
				info.FirstTime = ms
			}
			info.LastTime = ms
		}
	}
	return info
}

// writeSegment writes ents, consecutive committed entries of cluster, as
// one log segment to w, and returns the bytes written.
func writeSegment(w io.Writer, cluster, member uint64, ents []*raftpb.Entry, info wire.SegmentInfo, opts stream.WriterOptions) (int64, error) {
	sw, err := stream.NewWriter(w, stream.Header{
		ClusterID: cluster,
		Member:    member,
		Zxid:      info.Last,
		Time:      time.Now().UnixMilli(),
		Kind:      stream.KindLogSegment,
		Extra:     wire.EncodeSegmentInfo(info),
	}, opts)
	if err != nil {
		return 0, fmt.Errorf("keeper: archive segment: %w", err)
	}
	var rec []byte
	for _, e := range ents {
		rec = wire.EncodeLogRecord(rec[:0], e)
		if err := sw.WriteRecord(recordLog, rec); err != nil {
			sw.Abort()
			return 0, fmt.Errorf("keeper: archive segment: %w", err)
		}
	}
	if err := sw.Close(stream.Footer{Digest: ents[len(ents)-1].GetTerm()}); err != nil {
		return 0, fmt.Errorf("keeper: archive segment: %w", err)
	}
	return sw.Bytes(), nil
}

// segmentReader reads one log segment and checks it against what its
// object's name says: the cluster, the index range and the times, and
// every entry's index in turn. Any difference, like any damage, is an
// error matching ErrArchiveCorrupt; a wrong key matches ErrBackupKey.
type segmentReader struct {
	sr   *stream.Reader
	body io.Closer // closed with the reader, if set
	obj  archObject
	info wire.SegmentInfo
	next uint64
	term uint64
}

func openSegment(r io.Reader, obj archObject, key []byte) (*segmentReader, error) {
	sr, err := stream.NewReader(r, stream.ReaderOptions{Key: key})
	if err != nil {
		return nil, archiveErr(obj, err)
	}
	h := sr.Header()
	bad := func(format string, args ...any) (*segmentReader, error) {
		sr.Close()
		return nil, fmt.Errorf("%w: %s: %s", ErrArchiveCorrupt, obj.Name, fmt.Sprintf(format, args...))
	}
	if h.Kind != stream.KindLogSegment {
		return bad("stream of kind %d, not a log segment", h.Kind)
	}
	if h.ClusterID != obj.Cluster {
		return bad("segment of cluster %016x", h.ClusterID)
	}
	info, err := wire.DecodeSegmentInfo(h.Extra)
	if err != nil {
		sr.Close()
		return nil, archiveErr(obj, err)
	}
	if info.First != obj.First || info.Last != obj.Last || h.Zxid != info.Last ||
		max(info.FirstTime, 0) != obj.Time0 || max(info.LastTime, 0) != obj.Time1 {
		return bad("holds entries %d..%d, its name says %d..%d", info.First, info.Last, obj.First, obj.Last)
	}
	return &segmentReader{sr: sr, obj: obj, info: info, next: info.First}, nil
}

// entry returns the segment's next entry, and io.EOF once every entry was
// returned and the stream's footer and checksums verified.
func (s *segmentReader) entry() (*raftpb.Entry, error) {
	kind, p, err := s.sr.Next()
	if err == io.EOF {
		switch {
		case s.next != s.info.Last+1:
			return nil, fmt.Errorf("%w: %s: ends at entry %d", ErrArchiveCorrupt, s.obj.Name, s.next-1)
		case s.sr.Footer().Digest != s.term:
			return nil, fmt.Errorf("%w: %s: footer names term %d, the last entry has %d", ErrArchiveCorrupt, s.obj.Name, s.sr.Footer().Digest, s.term)
		}
		return nil, io.EOF
	}
	if err != nil {
		return nil, archiveErr(s.obj, err)
	}
	if kind != recordLog {
		return nil, fmt.Errorf("%w: %s: record of kind %d", ErrArchiveCorrupt, s.obj.Name, kind)
	}
	e, err := wire.DecodeLogRecord(p)
	if err != nil {
		return nil, archiveErr(s.obj, err)
	}
	if e.GetIndex() != s.next || e.GetIndex() > s.info.Last {
		return nil, fmt.Errorf("%w: %s: entry %d where %d belongs", ErrArchiveCorrupt, s.obj.Name, e.GetIndex(), s.next)
	}
	if e.GetTerm() < s.term {
		return nil, fmt.Errorf("%w: %s: entry %d of term %d after term %d", ErrArchiveCorrupt, s.obj.Name, e.GetIndex(), e.GetTerm(), s.term)
	}
	// The record's bytes are the stream's buffer: the entry keeps a copy.
	e.Data = append([]byte(nil), e.GetData()...)
	s.next++
	s.term = e.GetTerm()
	return e, nil
}

func (s *segmentReader) close() {
	s.sr.Close()
	if s.body != nil {
		s.body.Close()
	}
}

// archiveErr wraps an error met reading archive object obj: damage
// matches ErrArchiveCorrupt (and ErrCorruptBackup), a wrong key
// ErrBackupKey.
func archiveErr(obj archObject, err error) error {
	if errors.Is(err, ErrBackupKey) || errors.Is(err, ErrBackupNotEncrypted) {
		return fmt.Errorf("keeper: archive %s: %w", obj.Name, err)
	}
	if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrCorruptBackup) || errors.Is(err, ErrFormatTooNew) {
		return fmt.Errorf("%w: %s: %w", ErrArchiveCorrupt, obj.Name, err)
	}
	return fmt.Errorf("keeper: archive %s: %w", obj.Name, err)
}

// entryView reads what an archived entry says about itself.
type entryView struct{ e *raftpb.Entry }

// request decodes the entry's request, if it is a proposal.
func (v entryView) request() (*request, bool) {
	data := v.e.GetData()
	if v.e.GetType() != raftpb.EntryNormal || len(data) == 0 || data[0] != wire.EnvelopeVersion {
		return nil, false
	}
	env, err := wire.DecodeEnvelope(data)
	if err != nil {
		return nil, false
	}
	r, err := decodeRequest(env.Payload)
	return r, err == nil
}

// time is the proposer's time in Unix milliseconds, if the entry has one.
func (v entryView) time() (int64, bool) { return entryTime(v.e) }

// markName is the name of a mark entry (Node.Mark).
func (v entryView) markName() (string, bool) {
	r, ok := v.request()
	if !ok || r.Kind != reqMark {
		return "", false
	}
	return r.Name, true
}
