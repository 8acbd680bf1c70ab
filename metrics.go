package keeper

// This file is the member's Prometheus metrics. keeper registers nothing
// anywhere: Node.Collector returns a collector the host registers on a
// registry of its own. Two kinds of figures:
//
//   - meters, counters and histograms of events (writes, fsyncs, applies,
//     transfers, backups), owned by one meters value created in Open and
//     updated where the event happens with lock-free atomic operations, always,
//     whether a collector is registered or not (1.5 to 2 µs per write on a
//     busy 2-core machine, most of it reading the clock, against a write of
//     0.4 ms or more: BenchmarkMetersPerWrite, BenchmarkWriteMetrics);
//   - figures the member keeps anyway (Status, its watches and sessions),
//     read when the registry collects, so they cost nothing between scrapes.

import (
	"context"
	"errors"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/keeper-go/keeper/internal/wire"
	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/raft/v3/raftpb"
)

// Label values of keeper_proposals_total's outcome.
const (
	outcomeApplied       = iota // applied; the write succeeded
	outcomeRejected             // applied, with an error for the caller (NoNode, BadVersion, ...)
	outcomeNoLeader             // not proposed: no leader known, or raft dropped it
	outcomeIndeterminate        // proposed, outcome unknown
	outcomeError                // anything else: closed, ctx ended before proposing, ...
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"applied", "rejected", "no_leader", "indeterminate", "error"}

// Kinds and directions of tree transfers (raft snapshots and repairs).
const (
	transferSnapshot = iota
	transferRepair
	numTransferKinds
)

const (
	transferSent = iota
	transferInstalled
	numTransferDirections
)

var (
	transferKindNames      = [numTransferKinds]string{"raft_snapshot", "repair"}
	transferDirectionNames = [numTransferDirections]string{"sent", "installed"}
)

// Kinds of archive objects, the label of keeper_archive_objects_total.
const (
	archiveSegment = iota
	archiveBase
	archiveGap
	numArchiveKinds
)

var archiveKindNames = [numArchiveKinds]string{"segment", "base", "gap"}

// archived records an archive object of kind written in a put that began
// at start.
func (m *meters) archived(kind int, bytes int64, start time.Time) {
	m.archiveObjects[kind].Inc()
	m.archiveBytes[kind].Add(float64(bytes))
	m.archiveSecs[kind].Observe(time.Since(start).Seconds())
}

// Label values of keeper_consistency_scans_total's result.
const (
	scanMatch = iota
	scanMismatch
	scanError
	numScanResults
)

var scanResultNames = [numScanResults]string{"match", "mismatch", "error"}

// Histogram buckets: latencies of one write or fsync (0.25 ms to 8 s), and
// whole-tree operations (10 ms to about 3 hours).
var (
	latencyBuckets  = prometheus.ExponentialBuckets(0.00025, 2, 16)
	transferBuckets = prometheus.ExponentialBuckets(0.01, 4, 11)
)

// meters holds the member's event counters and histograms. Its methods are
// safe on any goroutine, except those marked loop-only.
type meters struct {
	all []prometheus.Collector // everything below, for Describe and Collect

	proposals     [numOutcomes]prometheus.Counter
	proposalSecs  prometheus.Histogram
	commitSecs    prometheus.Histogram
	applySecs     prometheus.Histogram
	fsyncSecs     prometheus.Histogram
	leaderChanges prometheus.Counter

	transferSecs  [numTransferKinds][numTransferDirections]prometheus.Observer
	transferBytes [numTransferKinds][numTransferDirections]prometheus.Counter

	backups            [2]prometheus.Counter // ok, error
	backupBytes        prometheus.Counter
	backupSecs         prometheus.Histogram
	restoreOnlineBytes prometheus.Counter
	restoreOnlineSecs  prometheus.Histogram

	scans [numScanResults]prometheus.Counter

	archiveObjects [numArchiveKinds]prometheus.Counter
	archiveBytes   [numArchiveKinds]prometheus.Counter
	archiveSecs    [numArchiveKinds]prometheus.Observer
	archiveFails   prometheus.Counter

	// sessions is the size of the session table after the last apply; the
	// collector reads it.
	sessions atomic.Int64

	// appends (loop-only) remembers when recent runs of entries were
	// appended to this member's log, oldest first, for the commit latency.
	appends []appendMark
}

// appendMark is a run of log entries [first, last] appended at one time.
type appendMark struct {
	first, last uint64
	at          time.Time
}

// maxAppendMarks bounds appendMark's memory while nothing commits (a
// member cut off from its quorum).
const maxAppendMarks = 1024

// newMeters makes the meters of member id; every metric carries the
// constant label member="<id>", so members of one process can share a
// registry.
func newMeters(id uint64) *meters {
	m := &meters{}
	labels := prometheus.Labels{"member": strconv.FormatUint(id, 10)}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels})
		m.all = append(m.all, c)
		return c
	}
	histogram := func(name, help string, buckets []float64) prometheus.Histogram {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, ConstLabels: labels, Buckets: buckets})
		m.all = append(m.all, h)
		return h
	}
	counterVec := func(name, help string, label ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels}, label)
		m.all = append(m.all, v)
		return v
	}

	props := counterVec("keeper_proposals_total",
		"Writes proposed through this member, by outcome: applied, rejected (applied with an error for the caller, such as NoNode or BadVersion), no_leader (not proposed), indeterminate (proposed, outcome unknown), error (not proposed: closed, ctx ended).",
		"outcome")
	for i, name := range outcomeNames {
		m.proposals[i] = props.WithLabelValues(name)
	}
	m.proposalSecs = histogram("keeper_proposal_duration_seconds",
		"Time from a write's call to its result on this member, for writes that applied.", latencyBuckets)
	m.commitSecs = histogram("keeper_raft_commit_duration_seconds",
		"Time from an entry's append to this member's raft log to this member learning it committed.", latencyBuckets)
	m.applySecs = histogram("keeper_apply_duration_seconds",
		"Time to apply one group of committed entries to the tree (one Pebble batch).", latencyBuckets)
	m.fsyncSecs = histogram("keeper_wal_fsync_duration_seconds",
		"Time to write and fsync one batch of entries and hard state to the raft log (WAL).", latencyBuckets)
	m.leaderChanges = counter("keeper_leader_changes_total",
		"Times this member saw a new leader (a change to no leader is not counted).")

	tsecs := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:        "keeper_tree_transfer_duration_seconds",
		Help:        "Duration of whole-tree transfers that the receiver installed, raft snapshots and repairs, sent or installed by this member, from the first byte to the receiver's verdict.",
		ConstLabels: labels,
		Buckets:     transferBuckets,
	}, []string{"kind", "direction"})
	m.all = append(m.all, tsecs)
	tbytes := counterVec("keeper_tree_transfer_bytes_total",
		"Stream bytes of whole-tree transfers that the receiver installed, raft snapshots and repairs, sent or installed by this member.",
		"kind", "direction")
	for k, kind := range transferKindNames {
		for d, dir := range transferDirectionNames {
			m.transferSecs[k][d] = tsecs.WithLabelValues(kind, dir)
			m.transferBytes[k][d] = tbytes.WithLabelValues(kind, dir)
		}
	}

	backups := counterVec("keeper_backups_total", "Backups taken on this member (Node.Backup), by outcome: ok or error.", "outcome")
	m.backups[0], m.backups[1] = backups.WithLabelValues("ok"), backups.WithLabelValues("error")
	m.backupBytes = counter("keeper_backup_bytes_total", "Stream bytes written by this member's successful backups.")
	m.backupSecs = histogram("keeper_backup_duration_seconds", "Duration of this member's successful backups.", transferBuckets)
	m.restoreOnlineBytes = counter("keeper_restore_online_bytes_total", "Stream bytes replicated by online restores called on this member that succeeded.")
	m.restoreOnlineSecs = histogram("keeper_restore_online_duration_seconds", "Duration of online restores called on this member that succeeded, from the call to the restore applied here.", transferBuckets)

	aobjs := counterVec("keeper_archive_objects_total", "Objects this member wrote to the archive (Config.Archive), by kind: segment, base or gap.", "kind")
	abytes := counterVec("keeper_archive_bytes_total", "Bytes of the objects this member wrote to the archive, by kind.", "kind")
	asecs := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:        "keeper_archive_put_duration_seconds",
		Help:        "Time to write one object to the archive target, from its first byte to the target's answer, by kind.",
		ConstLabels: labels,
		Buckets:     transferBuckets,
	}, []string{"kind"})
	m.all = append(m.all, asecs)
	for k, name := range archiveKindNames {
		m.archiveObjects[k], m.archiveBytes[k], m.archiveSecs[k] = aobjs.WithLabelValues(name), abytes.WithLabelValues(name), asecs.WithLabelValues(name)
	}
	m.archiveFails = counter("keeper_archive_failures_total", "Archive jobs (listing, base, segment, gap) that failed on this member and were retried.")

	scans := counterVec("keeper_consistency_scans_total",
		"Background digest scans this member ran after a consistency check, by result: match, mismatch (the tree is corrupt) or error (the scan could not finish).",
		"result")
	for i, name := range scanResultNames {
		m.scans[i] = scans.WithLabelValues(name)
	}
	return m
}

// proposed counts a write's outcome and, if it applied, its latency from
// start.
func (m *meters) proposed(start time.Time, res *applyResult, err error) {
	o := outcomeError
	switch {
	case err == nil && res != nil && res.Err != nil:
		o = outcomeRejected
	case err == nil:
		o = outcomeApplied
	case errors.Is(err, ErrNoLeader):
		o = outcomeNoLeader
	case errors.Is(err, ErrIndeterminate):
		o = outcomeIndeterminate
	}
	m.proposals[o].Inc()
	if o <= outcomeRejected {
		m.proposalSecs.Observe(time.Since(start).Seconds())
	}
}

// saved records a raft log save that began at start: its duration if it
// fsynced, and, loop-only, when ents were appended, for committed.
func (m *meters) saved(start time.Time, fsynced bool, ents []*raftpb.Entry) {
	if fsynced {
		m.fsyncSecs.Observe(time.Since(start).Seconds())
	}
	if len(ents) == 0 {
		return
	}
	first, last := ents[0].GetIndex(), ents[len(ents)-1].GetIndex()
	// Entries that replace the log's tail (a new leader's) make the marks
	// of the entries they replace meaningless.
	for len(m.appends) > 0 && m.appends[len(m.appends)-1].last >= first {
		m.appends = m.appends[:len(m.appends)-1]
	}
	if len(m.appends) == maxAppendMarks {
		m.appends = append(m.appends[:0], m.appends[1:]...)
	}
	m.appends = append(m.appends, appendMark{first: first, last: last, at: start})
}

// committed observes, loop-only, the commit latency of each committed
// entry this member appended itself since Open.
func (m *meters) committed(ents []*raftpb.Entry) {
	if len(ents) == 0 || len(m.appends) == 0 {
		return
	}
	now := time.Now()
	i := 0 // the first mark that may hold the entry
	for _, e := range ents {
		idx := e.GetIndex()
		for i < len(m.appends) && m.appends[i].last < idx {
			i++
		}
		if i == len(m.appends) {
			break
		}
		if m.appends[i].first <= idx {
			m.commitSecs.Observe(now.Sub(m.appends[i].at).Seconds())
		}
	}
	// Forget the runs committed whole; keep one committed in part.
	last := ents[len(ents)-1].GetIndex()
	for i < len(m.appends) && m.appends[i].last <= last {
		i++
	}
	if i > 0 {
		m.appends = append(m.appends[:0], m.appends[i:]...)
	}
}

// appliedGroup records, loop-only, the apply of one group to t that began
// at start, and the size of t's session table after it.
func (m *meters) appliedGroup(start time.Time, t *tree) {
	m.applySecs.Observe(time.Since(start).Seconds())
	m.sessions.Store(int64(len(t.sessionTable())))
}

// leaderChanged counts a change of leader to lead, if one is known.
func (m *meters) leaderChanged(lead uint64) {
	if lead != 0 {
		m.leaderChanges.Inc()
	}
}

// backedUp records a backup that began at start.
func (m *meters) backedUp(start time.Time, info BackupInfo, err error) {
	if err != nil {
		m.backups[1].Inc()
		return
	}
	m.backups[0].Inc()
	m.backupBytes.Add(float64(info.Bytes))
	m.backupSecs.Observe(time.Since(start).Seconds())
}

// restoredOnline records an online restore that began at start and
// succeeded.
func (m *meters) restoredOnline(start time.Time, info RestoreOnlineInfo) {
	m.restoreOnlineBytes.Add(float64(info.StreamBytes))
	m.restoreOnlineSecs.Observe(time.Since(start).Seconds())
}

// scanned counts a consistency scan's result: err from the scan, and
// whether the sum it read matched the stored digest.
func (m *meters) scanned(err error, match bool) {
	switch {
	case errors.Is(err, ErrCorrupt), err == nil && !match:
		m.scans[scanMismatch].Inc()
	case err != nil:
		m.scans[scanError].Inc()
	default:
		m.scans[scanMatch].Inc()
	}
}

// streams returns tr with its streams metered: the bytes and duration of
// every transfer the receiver took, by kind (from the stream header) and
// direction. A transport that cannot stream is returned as it is.
func (m *meters) streams(tr Transport) Transport {
	st, ok := tr.(StreamTransport)
	if !ok {
		return tr
	}
	return meteredStreams{Transport: tr, st: st, m: m}
}

// meteredStreams is a StreamTransport whose transfers are metered.
type meteredStreams struct {
	Transport
	st StreamTransport
	m  *meters
}

func (s meteredStreams) AttachStream(receive func(from uint64, header []byte, body io.Reader) error) error {
	return s.st.AttachStream(func(from uint64, header []byte, body io.Reader) error {
		start := time.Now()
		cr := &countingReader{r: body}
		err := receive(from, header, cr)
		s.m.transferred(header, transferInstalled, start, cr, err)
		return err
	})
}

func (s meteredStreams) SendStream(ctx context.Context, to uint64, header []byte, body io.Reader) error {
	start := time.Now()
	cr := &countingReader{r: body}
	err := s.st.SendStream(ctx, to, header, cr)
	s.m.transferred(header, transferSent, start, cr, err)
	return err
}

// transferred records a transfer that began at start, if the receiver took
// it.
func (m *meters) transferred(header []byte, dir int, start time.Time, body *countingReader, err error) {
	if err != nil {
		return
	}
	kind := transferSnapshot
	if _, k, _, ok := wire.SplitStreamHeader(header); ok && k == wire.StreamRepair {
		kind = transferRepair
	}
	m.transferSecs[kind][dir].Observe(time.Since(start).Seconds())
	m.transferBytes[kind][dir].Add(float64(body.n.Load()))
}

// countingReader counts the bytes read through it; n may be read by
// another goroutine.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n.Add(int64(k))
	return k, err
}

// Collector returns a Prometheus collector of this member's metrics, for
// the host to register on a registry of its own:
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(n.Collector())
//
// keeper registers nothing by itself and never touches Prometheus's
// default registry. Every metric is named keeper_... and carries the
// constant label member, this member's id, so the collectors of several
// members of one process can share a registry. Counters and histograms
// count from Open and are kept as events happen, at the cost of a few
// atomic operations and clock reads per write; the gauges (raft term and
// indexes, leadership, the cluster's two figures, sessions and watches) are
// read from the member when the registry collects.
// docs/DESIGN.md ("Metrics") lists every metric.
//
// Each call returns a new collector over the same figures; register one
// per registry. After Close it reports the member's last figures:
// unregister it when the Node is closed.
func (n *Node) Collector() prometheus.Collector {
	labels := prometheus.Labels{"member": strconv.FormatUint(n.ID(), 10)}
	c := &collector{n: n, m: n.r.meters, reg: n.watches}
	for _, d := range statusMetrics {
		c.descs = append(c.descs, prometheus.NewDesc(d.name, d.help, nil, labels))
	}
	return c
}

// statusMetric is a metric read from the member when the registry
// collects.
type statusMetric struct {
	name, help string
	counter    bool
	value      func(f *figures) float64
}

// figures is what the collector reads from the member: its Status, its
// sessions and their watches.
type figures struct {
	Status
	clusterSessions   int64
	sessions, watches int
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

var statusMetrics = []statusMetric{
	{"keeper_raft_term", "The raft term this member is in.", false,
		func(f *figures) float64 { return float64(f.Term) }},
	{"keeper_has_leader", "1 if this member knows a leader, else 0.", false,
		func(f *figures) float64 { return boolValue(f.Leader != 0) }},
	{"keeper_is_leader", "1 if this member is the leader, else 0.", false,
		func(f *figures) float64 { return boolValue(f.Role == RoleLeader) }},
	{"keeper_raft_commit_index", "The highest raft log index this member knows committed.", false,
		func(f *figures) float64 { return float64(f.Commit) }},
	{"keeper_raft_applied_index", "The highest raft log index applied to this member's tree (its zxid).", false,
		func(f *figures) float64 { return float64(f.Applied) }},
	{"keeper_members", "Members of the cluster, voters and learners, as of the applied index.", false,
		func(f *figures) float64 { return float64(len(f.Members)) }},
	{"keeper_cluster_consistency_ratio", "The share of members whose tree matched at the last consistency check (live on the leader, as of the last check elsewhere).", false,
		func(f *figures) float64 { return f.Consistency }},
	{"keeper_cluster_availability_ratio", "The share of members the leader heard from within the election timeout (live on the leader, as of the last check elsewhere).", false,
		func(f *figures) float64 { return f.Availability }},
	{"keeper_cluster_members", "The member count behind the cluster's two figures.", false,
		func(f *figures) float64 { return float64(f.MemberCount) }},
	{"keeper_cluster_members_consistent", "Members whose tree matched at the last consistency check.", false,
		func(f *figures) float64 { return float64(f.ConsistentMembers) }},
	{"keeper_cluster_members_reachable", "Members the leader heard from within the election timeout.", false,
		func(f *figures) float64 { return float64(f.ReachableMembers) }},
	{"keeper_corrupt", "1 once this member failed a consistency check (it refuses reads and writes), else 0.", false,
		func(f *figures) float64 { return boolValue(f.Corrupt) }},
	{"keeper_consistency_check_zxid", "The zxid of the last consistency check applied on this member.", false,
		func(f *figures) float64 { return float64(f.CheckZxid) }},
	{"keeper_raft_snapshots_sent_total", "Raft snapshots this member streamed to followers that took them.", true,
		func(f *figures) float64 { return float64(f.SnapshotsSent) }},
	{"keeper_raft_snapshots_installed_total", "Raft snapshots this member installed in place of its tree.", true,
		func(f *figures) float64 { return float64(f.SnapshotsInstalled) }},
	{"keeper_repairs_sent_total", "Repair transfers of its tree this member, as leader, streamed to corrupt members that took them.", true,
		func(f *figures) float64 { return float64(f.RepairsSent) }},
	{"keeper_repairs_installed_total", "Times this member, found corrupt, replaced its tree by the leader's.", true,
		func(f *figures) float64 { return float64(f.RepairsInstalled) }},
	{"keeper_archiving", "1 if this member archives now (Config.Archive), else 0.", false,
		func(f *figures) float64 { return boolValue(f.Archiving) }},
	{"keeper_archive_zxid", "The last zxid the archive holds, as this member knows it.", false,
		func(f *figures) float64 { return float64(f.ArchivedZxid) }},
	{"keeper_archive_lag_entries", "Applied entries the archive does not hold yet.", false,
		func(f *figures) float64 { return float64(f.ArchiveLag) }},
	{"keeper_archive_lag_seconds", "How long the oldest entry the archive does not hold has waited, on the archiving member.", false,
		func(f *figures) float64 { return f.ArchiveLagTime.Seconds() }},
	{"keeper_archive_gaps_total", "Gaps this member recorded in the archive: entries released from the raft log before they were archived.", true,
		func(f *figures) float64 { return float64(f.ArchiveGaps) }},
	{"keeper_archive_failing", "1 while the archive target keeps failing (Status.ArchiveErr is set), else 0.", false,
		func(f *figures) float64 { return boolValue(f.ArchiveErr != "") }},
	{"keeper_sessions", "Sessions in the cluster's session table, as of this member's last apply.", false,
		func(f *figures) float64 { return float64(f.clusterSessions) }},
	{"keeper_sessions_local", "Sessions opened through this member and not yet ended.", false,
		func(f *figures) float64 { return float64(f.sessions) }},
	{"keeper_watches", "Watches registered on this member.", false,
		func(f *figures) float64 { return float64(f.watches) }},
}

// collector is what Node.Collector returns.
type collector struct {
	n     *Node
	m     *meters
	reg   *sessionRegistry
	descs []*prometheus.Desc // statusMetrics' descriptions, in order
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.m.all {
		m.Describe(ch)
	}
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.m.all {
		m.Collect(ch)
	}
	f := figures{Status: c.n.Status()}
	f.sessions, f.watches = c.reg.counts()
	f.clusterSessions = c.m.sessions.Load()
	for i, m := range statusMetrics {
		typ := prometheus.GaugeValue
		if m.counter {
			typ = prometheus.CounterValue
		}
		ch <- prometheus.MustNewConstMetric(c.descs[i], typ, m.value(&f))
	}
}
