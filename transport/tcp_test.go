package transport

import (
	"testing"
	"time"
)

// TestTCPDeliversByLane sends control and data frames among three members
// over mutual TLS: each arrives once, unaltered, from the certified
// sender, on the lane its kind belongs to.
func TestTCPDeliversByLane(t *testing.T) {
	noLeaks(t)
	nodes := network(t, newPKI(t, testCluster), []uint64{1, 2, 3}, nil)
	waitUp(t, nodes)
	const n = 200
	for i := range uint64(n) {
		typ := uint64(typHeartbeat)
		if i%2 == 0 {
			typ = typApp
		}
		nodes[1].tcp.Send(2, testFrame(testCluster, typ, i, 100+int(i)))
		nodes[3].tcp.Send(2, testFrame(testCluster, typ, 1000+i, 10))
	}
	seen := map[uint64]uint64{}
	for range 2 * n {
		g := nodes[2].sink.next(t, 10*time.Second)
		seq := frameSeq(g.frame)
		want := uint64(1)
		if seq >= 1000 {
			want = 3
		}
		if g.from != want {
			t.Fatalf("frame %d delivered from %d, want %d", seq, g.from, want)
		}
		seen[seq]++
	}
	if len(seen) != 2*n {
		t.Fatalf("%d distinct frames, want %d", len(seen), 2*n)
	}
	s1 := nodes[1].tcp.Stats()
	if s1.Control.Sent != n/2 || s1.Data.Sent != n/2 || s1.Control.Dropped+s1.Data.Dropped != 0 {
		t.Errorf("member 1 stats %+v %+v, want %d sent per lane, none dropped", s1.Control, s1.Data, n/2)
	}
	s2 := nodes[2].tcp.Stats()
	if s2.Control.Received != n || s2.Data.Received != n {
		t.Errorf("member 2 received %d control, %d data, want %d each", s2.Control.Received, s2.Data.Received, n)
	}
}

// TestTCPInsecure runs plaintext: frames arrive with the sender the
// dialler announces, and a member that is not a peer is still refused.
func TestTCPInsecure(t *testing.T) {
	noLeaks(t)
	nodes := network(t, nil, []uint64{1, 2}, nil)
	waitUp(t, nodes)
	nodes[2].tcp.Send(1, testFrame(testCluster, typApp, 5, 100))
	if g := nodes[1].sink.next(t, 10*time.Second); g.from != 2 || frameSeq(g.frame) != 5 {
		t.Fatalf("got frame %d from %d", frameSeq(g.frame), g.from)
	}
	nodes[1].tcp.RemovePeer(2)
	eventually(t, 10*time.Second, "member 2 refused once removed", func() bool {
		return refusals(nodes[1], ReasonUnknownMember) > 0
	})
	if err := nodes[1].tcp.Reload(); err != nil {
		t.Fatalf("Reload in Insecure mode: %v", err)
	}
}
