package transport

import (
	"context"
	"io"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestTCPControlLaneNotBehindData floods member 1's data lane to a slow
// member 2 (each append takes 20 ms to deliver, so the lane backs up to a
// full queue of 256 frames: over 5 s of backlog) and streams a snapshot
// between them, while heartbeat-sized frames make round trips on the
// control lane. Their round trips stay far below the backlog: a single
// shared lane would make each wait for it.
func TestTCPControlLaneNotBehindData(t *testing.T) {
	noLeaks(t)
	nodes := network(t, newPKI(t, testCluster), []uint64{1, 2}, func(c *TCPConfig) {
		c.QueueFrames = 128
	})
	waitUp(t, nodes)
	n1, n2 := nodes[1], nodes[2]

	var mu sync.Mutex
	sent := map[uint64]time.Time{}
	var rtts []time.Duration
	n1.tcp.Attach(func(_ uint64, f []byte) {
		now := time.Now()
		mu.Lock()
		if at, ok := sent[frameSeq(f)]; ok {
			rtts = append(rtts, now.Sub(at))
		}
		mu.Unlock()
	})
	n2.tcp.Attach(func(from uint64, f []byte) {
		if isBulk(f) {
			time.Sleep(20 * time.Millisecond)
			return
		}
		n2.tcp.Send(from, f) // echo on the control lane
	})
	n2.tcp.AttachStream(func(_ uint64, _ []byte, body io.Reader) error {
		_, err := io.Copy(io.Discard, body)
		return err
	})

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		big := 64 << 10
		for i := uint64(0); ctx.Err() == nil; i++ {
			n1.tcp.Send(2, testFrame(testCluster, typApp, 1<<40+i, big))
			time.Sleep(time.Millisecond)
		}
	}()
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			n1.tcp.SendStream(ctx, 2, nil, io.LimitReader(endless{}, 4<<20))
		}
	}()
	start := time.Now()
	eventually(t, 20*time.Second, "data lane backed up (frames dropped)", func() bool {
		return n1.tcp.Stats().Data.Dropped > 0
	})
	t.Logf("data lane backed up after %v", time.Since(start))
	const pings = 50
	for i := uint64(1); i <= pings; i++ {
		mu.Lock()
		sent[i] = time.Now()
		mu.Unlock()
		n1.tcp.Send(2, testFrame(testCluster, typHeartbeat, i, 32))
		time.Sleep(10 * time.Millisecond)
	}
	eventually(t, 20*time.Second, "control round trips done", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(rtts) >= pings*9/10
	})
	t.Logf("round trips done after %v", time.Since(start))
	cancel()
	wg.Wait()
	t.Logf("flood stopped after %v", time.Since(start))
	mu.Lock()
	r := slices.Clone(rtts)
	mu.Unlock()
	slices.Sort(r)
	p50, p99, worst := r[len(r)/2], r[len(r)*99/100], r[len(r)-1]
	s := n1.tcp.Stats()
	t.Logf("control round trips: %d, p50 %v, p99 %v, max %v; data sent %d, dropped %d; streams %d",
		len(r), p50, p99, worst, s.Data.Sent, s.Data.Dropped, s.StreamsSent)
	if worst > time.Second {
		t.Errorf("a control round trip took %v behind the data lane's backlog", worst)
	}
}
