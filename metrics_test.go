package keeper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keeper-go/keeper/internal/wire"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.etcd.io/raft/v3/raftpb"
)

// metricValue gathers reg and returns the value of the metric name whose
// labels include labels (name, value pairs): a counter's or gauge's value,
// a histogram's sample count. It fails the test if no such metric exists.
func metricValue(t testing.TB, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if !hasLabels(m, labels) {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	t.Fatalf("no metric %s%v", name, labels)
	return 0
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// A host registers the collectors of a 3-member cluster on one registry of
// its own; writes, a rejected write, a backup, an online restore, a raft
// snapshot install, sessions, watches and consistency checks all show in
// the metrics, and promlint finds nothing to say about them.
func TestMetricsCluster(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) {
		cfg.KeepEntries = installKeep
		cfg.CheckInterval = 200 * time.Millisecond
	})
	reg := prometheus.NewRegistry()
	for _, id := range c.ids {
		reg.MustRegister(c.node(id).Collector())
	}
	problems, err := testutil.CollectAndLint(c.node(1).Collector())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	ctx := ctxTimeout(t, 120*time.Second)
	member := func(n *Node) string { return fmt.Sprint(n.ID()) }
	value := func(name string, n *Node, labels ...string) float64 {
		t.Helper()
		return metricValue(t, reg, name, append([]string{"member", member(n)}, labels...)...)
	}

	// Writes: 20 applied and one rejected, on the leader.
	leader := c.waitLeader()
	for i := 0; i < 20; i++ {
		if _, err := leader.Create(ctx, fmt.Sprintf("/m-%02d", i), nil, Persistent); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := leader.Create(ctx, "/m-00", nil, Persistent); !errors.Is(err, ErrNodeExists) {
		t.Fatalf("second create of /m-00: %v", err)
	}
	if got := value("keeper_proposals_total", leader, "outcome", "applied"); got != 20 {
		t.Errorf("applied proposals %v, want 20", got)
	}
	if got := value("keeper_proposals_total", leader, "outcome", "rejected"); got != 1 {
		t.Errorf("rejected proposals %v, want 1", got)
	}
	if got := value("keeper_proposal_duration_seconds", leader); got != 21 {
		t.Errorf("proposal latencies observed %v, want 21", got)
	}
	if got := value("keeper_raft_commit_duration_seconds", leader); got < 21 {
		t.Errorf("commit latencies observed on the leader %v, want at least 21", got)
	}
	leaders := 0.0
	for _, n := range c.live() {
		for _, h := range []string{"keeper_wal_fsync_duration_seconds", "keeper_apply_duration_seconds", "keeper_leader_changes_total", "keeper_has_leader", "keeper_raft_term"} {
			if got := value(h, n); got < 1 {
				t.Errorf("member %d: %s is %v, want at least 1", n.ID(), h, got)
			}
		}
		if got := value("keeper_members", n); got != 3 {
			t.Errorf("member %d: keeper_members %v, want 3", n.ID(), got)
		}
		leaders += value("keeper_is_leader", n)
	}
	if leaders != 1 {
		t.Errorf("keeper_is_leader sums to %v over the members, want 1", leaders)
	}

	// Consistency checks: the figures and the scans.
	waitFor(t, 30*time.Second, "every member consistent and reachable in the metrics", func() bool {
		l := c.waitLeader()
		return value("keeper_cluster_consistency_ratio", l) == 1 && value("keeper_cluster_availability_ratio", l) == 1 &&
			value("keeper_cluster_members_consistent", l) == 3 && value("keeper_consistency_check_zxid", l) > 0
	})
	waitFor(t, 30*time.Second, "a matching consistency scan", func() bool {
		for _, n := range c.live() {
			if value("keeper_consistency_scans_total", n, "result", "match") > 0 {
				return true
			}
		}
		return false
	})

	// A backup on a follower and an online restore of it on the leader.
	f := c.node(follower(c))
	var buf bytes.Buffer
	info, err := f.Backup(ctx, &buf, BackupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := value("keeper_backups_total", f, "outcome", "ok"); got != 1 {
		t.Errorf("backups %v, want 1", got)
	}
	if got := value("keeper_backup_bytes_total", f); got != float64(info.Bytes) || got == 0 {
		t.Errorf("backup bytes %v, want %d", got, info.Bytes)
	}
	if got := value("keeper_backup_duration_seconds", f); got != 1 {
		t.Errorf("backup durations observed %v, want 1", got)
	}
	if _, err := f.Backup(ctx, errWriter{}, BackupOptions{}); err == nil {
		t.Fatal("backup into a failing writer succeeded")
	}
	if got := value("keeper_backups_total", f, "outcome", "error"); got != 1 {
		t.Errorf("failed backups %v, want 1", got)
	}
	leader = c.waitLeader()
	ri, err := leader.RestoreOnline(ctx, bytes.NewReader(buf.Bytes()), RestoreOnlineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := value("keeper_restore_online_bytes_total", leader); got != float64(ri.StreamBytes) || got == 0 {
		t.Errorf("online restore bytes %v, want %d", got, ri.StreamBytes)
	}
	if got := value("keeper_restore_online_duration_seconds", leader); got != 1 {
		t.Errorf("online restore durations observed %v, want 1", got)
	}

	// A raft snapshot: a follower cut off while the leader's log moves past
	// it gets one once it is back.
	fid := follower(c)
	f = c.node(fid)
	c.net.Isolate(fid)
	waitFor(t, 10*time.Second, "a leader without the isolated member", func() bool {
		for _, n := range c.live() {
			if n.ID() != fid && n.Status().Role == RoleLeader {
				leader = n
				return true
			}
		}
		return false
	})
	createPastLog(t, func() *Node { return leader }, "/past")
	c.net.Heal()
	snap := []string{"kind", "raft_snapshot"}
	waitFor(t, 60*time.Second, "the raft snapshot sent and installed in the metrics", func() bool {
		return value("keeper_tree_transfer_duration_seconds", leader, append(snap, "direction", "sent")...) >= 1 &&
			value("keeper_tree_transfer_duration_seconds", f, append(snap, "direction", "installed")...) >= 1
	})
	if got := value("keeper_tree_transfer_bytes_total", leader, append(snap, "direction", "sent")...); got == 0 {
		t.Error("raft snapshot sent with 0 bytes")
	}
	if got := value("keeper_tree_transfer_bytes_total", f, append(snap, "direction", "installed")...); got == 0 {
		t.Error("raft snapshot installed with 0 bytes")
	}
	if got := value("keeper_raft_snapshots_installed_total", f); got < 1 {
		t.Errorf("keeper_raft_snapshots_installed_total %v, want at least 1", got)
	}
	if got := value("keeper_raft_snapshots_sent_total", leader); got < 1 {
		t.Errorf("keeper_raft_snapshots_sent_total %v, want at least 1", got)
	}
	c.waitConverged(0)

	// Sessions and watches of a member.
	s, err := f.NewSession(ctx, SessionOptions{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddWatch(ctx, "/", PersistentRecursive); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.GetW(ctx, "/m-01"); err != nil {
		t.Fatal(err)
	}
	if got, w := value("keeper_sessions_local", f), value("keeper_watches", f); got != 1 || w != 2 {
		t.Errorf("sessions %v, watches %v, want 1 and 2", got, w)
	}
	waitFor(t, 10*time.Second, "the session in every member's table", func() bool {
		for _, n := range c.live() {
			if value("keeper_sessions", n) != 1 {
				return false
			}
		}
		return true
	})
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got, w := value("keeper_sessions_local", f), value("keeper_watches", f); got != 0 || w != 0 {
		t.Errorf("after close: sessions %v, watches %v, want 0 and 0", got, w)
	}
	if got := value("keeper_sessions", f); got != 0 {
		t.Errorf("after close: %v sessions in the table, want 0", got)
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errors.New("test: disk full") }

// Gathering while writes run on every member is race-free (run with
// -race), and every member's applied count ends at the writes it took.
func TestMetricsGatherDuringWrites(t *testing.T) {
	c := newTreeCluster(t, 3, nil)
	reg := prometheus.NewRegistry()
	for _, id := range c.ids {
		reg.MustRegister(c.node(id).Collector())
	}
	c.waitLeader()
	ctx := ctxTimeout(t, 60*time.Second)
	const perMember = 50
	var writers sync.WaitGroup
	done := make(chan struct{})
	for _, n := range c.live() {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := 0; i < perMember; i++ {
				if _, err := n.Create(ctx, fmt.Sprintf("/w-%d-%03d", n.ID(), i), nil, Persistent); err != nil {
					t.Errorf("member %d: %v", n.ID(), err)
					return
				}
			}
		}()
	}
	gathers := 0
	var gatherer sync.WaitGroup
	gatherer.Add(1)
	go func() {
		defer gatherer.Done()
		last := 0.0
		for {
			select {
			case <-done:
				return
			default:
			}
			families, err := reg.Gather()
			if err != nil {
				t.Errorf("gather: %v", err)
				return
			}
			sum := 0.0
			for _, f := range families {
				if f.GetName() == "keeper_proposals_total" {
					for _, m := range f.GetMetric() {
						sum += m.GetCounter().GetValue()
					}
				}
			}
			if sum < last {
				t.Errorf("keeper_proposals_total went back from %v to %v", last, sum)
			}
			last = sum
			gathers++
		}
	}()
	writers.Wait()
	close(done)
	gatherer.Wait()
	if gathers == 0 {
		t.Fatal("nothing gathered")
	}
	for _, n := range c.live() {
		if got := metricValue(t, reg, "keeper_proposals_total", "member", fmt.Sprint(n.ID()), "outcome", "applied"); got != perMember {
			t.Errorf("member %d: %v applied proposals, want %d", n.ID(), got, perMember)
		}
	}
	t.Logf("%d gathers during %d writes", gathers, 3*perMember)
}

// fakeStreams is a StreamTransport that hands every stream to its own
// receiver at once.
type fakeStreams struct {
	nopTransport
	receive func(from uint64, header []byte, body io.Reader) error
}

func (f *fakeStreams) AttachStream(receive func(from uint64, header []byte, body io.Reader) error) error {
	f.receive = receive
	return nil
}

func (f *fakeStreams) SendStream(_ context.Context, _ uint64, header []byte, body io.Reader) error {
	return f.receive(1, header, body)
}

// Metered streams tell raft snapshots from repairs by their header, count
// the body's bytes on both sides and leave out transfers the receiver
// refused.
func TestMeteredStreams(t *testing.T) {
	m := newMeters(1)
	tr := m.streams(&fakeStreams{}).(StreamTransport)
	refuse := false
	err := tr.AttachStream(func(_ uint64, _ []byte, body io.Reader) error {
		if _, err := io.Copy(io.Discard, body); err != nil {
			return err
		}
		if refuse {
			return errSnapshotNotTaken
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	snapHeader, err := wire.EncodeSnapshotHeader(7, &raftpb.Message{Type: raftpb.MsgSnap.Enum()})
	if err != nil {
		t.Fatal(err)
	}
	repairHeader := wire.EncodeRepairHeader(7, wire.RepairHeader{Zxid: 5})
	send := func(header []byte, body string) {
		t.Helper()
		err := tr.SendStream(context.Background(), 2, header, strings.NewReader(body))
		if (err != nil) != refuse {
			t.Fatalf("send: %v", err)
		}
	}
	send(snapHeader, "12345")
	send(repairHeader, "123")
	send(repairHeader, "1234567")
	refuse = true
	send(snapHeader, "123456789")

	for k, kind := range transferKindNames {
		for d, dir := range transferDirectionNames {
			wantN, wantBytes := 1.0, 5.0
			if k == transferRepair {
				wantN, wantBytes = 2, 10
			}
			if got := testutil.ToFloat64(m.transferBytes[k][d]); got != wantBytes {
				t.Errorf("%s %s: %v bytes, want %v", kind, dir, got, wantBytes)
			}
			h := m.transferSecs[k][d].(prometheus.Histogram)
			var pb dto.Metric
			if err := h.Write(&pb); err != nil {
				t.Fatal(err)
			}
			if got := float64(pb.GetHistogram().GetSampleCount()); got != wantN {
				t.Errorf("%s %s: %v transfers timed, want %v", kind, dir, got, wantN)
			}
		}
	}
	if _, ok := m.streams(nopTransport{}).(StreamTransport); ok {
		t.Error("a transport that cannot stream became one")
	}
}

// The commit latency counts each committed entry this member appended
// once: entries replaced by a new leader's are forgotten, a run committed
// in part keeps its mark, entries never appended here (replayed, or
// installed by a snapshot) are not counted, and the marks stay bounded.
func TestCommitLatencyMarks(t *testing.T) {
	m := newMeters(1)
	ents := func(first, last uint64) []*raftpb.Entry {
		var es []*raftpb.Entry
		for i := first; i <= last; i++ {
			es = append(es, &raftpb.Entry{Index: new(i)})
		}
		return es
	}
	count := func() uint64 {
		var pb dto.Metric
		if err := m.commitSecs.Write(&pb); err != nil {
			t.Fatal(err)
		}
		return pb.GetHistogram().GetSampleCount()
	}
	now := time.Now()
	m.committed(ents(1, 3)) // replayed: never appended here
	m.saved(now, true, ents(4, 6))
	m.saved(now, true, ents(7, 9))
	m.saved(now, true, ents(8, 10)) // a new leader replaces 8..9: the mark of 7..9 goes
	m.committed(ents(4, 5))
	if got := count(); got != 2 {
		t.Fatalf("%d observed, want 2", got)
	}
	m.committed(ents(6, 10)) // 6 from the kept mark, 7 lost with its mark, 8..10
	if got := count(); got != 6 {
		t.Fatalf("%d observed, want 6", got)
	}
	if len(m.appends) != 0 {
		t.Fatalf("%d marks left after everything committed", len(m.appends))
	}
	for i := uint64(0); i < 2*maxAppendMarks; i++ {
		m.saved(now, false, ents(100+i, 100+i))
	}
	if len(m.appends) != maxAppendMarks {
		t.Fatalf("%d marks kept, want %d", len(m.appends), maxAppendMarks)
	}
	if got := metricValue(t, gathererOf(m), "keeper_wal_fsync_duration_seconds"); got != 3 {
		t.Fatalf("%v fsyncs observed, want 3", got)
	}
}

// gathererOf is a registry holding m's metrics.
func gathererOf(m *meters) prometheus.Gatherer {
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.all...)
	return reg
}

// BenchmarkMetersPerWrite measures what the meters add to one write on the
// member that proposed it: the outcome and latency, a WAL save with its
// fsync and append mark, the commit latency and an apply group.
//
//	go test -run '^$' -bench BenchmarkMetersPerWrite .
func BenchmarkMetersPerWrite(b *testing.B) {
	m := newMeters(1)
	res := &applyResult{}
	ents := []*raftpb.Entry{{Index: new(uint64(0))}}
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		i++
		ents[0].Index = &i
		start := time.Now()
		m.saved(start, true, ents)
		m.committed(ents)
		m.appliedGroup(start, nil)
		m.proposed(start, res, nil)
	}
}
