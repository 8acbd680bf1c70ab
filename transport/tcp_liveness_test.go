package transport

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestTCPHalfOpenReconnects freezes the links from member 1 to member 2
// (a proxy stops forwarding without closing): with the default ping
// interval member 1 finds the links dead and reconnects within a few
// seconds, and Send never waits for the network meanwhile.
func TestTCPHalfOpenReconnects(t *testing.T) {
	noLeaks(t)
	px := newProxy(t)
	nodes := network(t, newPKI(t, testCluster), []uint64{1, 2}, func(c *TCPConfig) {
		if c.ID == 1 {
			c.Dial = px.dialVia(c.Peers[2])
		}
	})
	waitUp(t, nodes)
	n1, n2 := nodes[1], nodes[2]
	n1.tcp.Send(2, testFrame(testCluster, typHeartbeat, 0, 10))
	n2.sink.next(t, 10*time.Second)

	var (
		seq     atomic.Uint64
		slowest atomic.Int64
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := uint64(1); ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			typ := uint64(typHeartbeat)
			if i%2 == 0 {
				typ = typApp
			}
			start := time.Now()
			n1.tcp.Send(2, testFrame(testCluster, typ, i, 1000))
			if d := int64(time.Since(start)); d > slowest.Load() {
				slowest.Store(d)
			}
			seq.Store(i)
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	px.freeze()
	frozenAt := time.Now()
	after := seq.Load() + 1
	eventually(t, 15*time.Second, "frames flow again after the freeze", func() bool {
		for {
			select {
			case g := <-n2.sink.ch:
				if frameSeq(g.frame) > after+50 {
					return true
				}
			default:
				return false
			}
		}
	})
	took := time.Since(frozenAt)
	s := n1.tcp.Stats()
	t.Logf("reconnected %v after the freeze; dead links %d, redials %d, slowest Send %v",
		took, s.DeadLinks, s.Redials, time.Duration(slowest.Load()))
	if s.DeadLinks == 0 || s.Redials == 0 {
		t.Errorf("dead links %d, redials %d: the frozen links were not replaced", s.DeadLinks, s.Redials)
	}
	// A Send waiting on the frozen link would wait for the dead-link
	// timeout (2 s) at least.
	if d := time.Duration(slowest.Load()); d > time.Second {
		t.Errorf("a Send took %v", d)
	}
}
