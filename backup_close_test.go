package keeper

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// closeOnWrite starts n.Close on its first Write and holds that Write until
// Close has begun, as a slow backup destination would be while the host
// shuts the member down.
type closeOnWrite struct {
	n      *Node
	closed chan error
	first  bool
}

func (w *closeOnWrite) Write(p []byte) (int, error) {
	if !w.first {
		w.first = true
		go func() { w.closed <- w.n.Close() }()
		// Runs on the backup's goroutine: a timeout fails the Backup, which
		// the test checks, rather than the test from here.
		deadline := time.Now().Add(10 * time.Second)
		for w.n.closing.Err() == nil {
			if time.Now().After(deadline) {
				return 0, errors.New("Close did not begin within 10s")
			}
			time.Sleep(time.Millisecond)
		}
	}
	return len(p), nil
}

// TestCloseEndsBackup: Close during a Backup ends the backup, which
// returns ErrClosed, instead of waiting for it to finish.
func TestCloseEndsBackup(t *testing.T) {
	c := newTreeCluster(t, 1, nil)
	ctx := ctxTimeout(t, 60*time.Second)
	n := c.waitLeader()
	for i := range 5 {
		ops := make([]Op, 0, 1000)
		for j := range 1000 {
			ops = append(ops, CreateOp(fmt.Sprintf("/n%d-%04d", i, j), make([]byte, 64), Persistent))
		}
		if _, err := n.Multi(ctx, ops...); err != nil {
			t.Fatal(err)
		}
	}
	w := &closeOnWrite{n: n, closed: make(chan error, 1)}
	_, err := n.Backup(ctx, w, BackupOptions{NoCompression: true})
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("Backup during Close = %v, want ErrClosed", err)
	}
	select {
	case err := <-w.closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after the backup ended")
	}
}
