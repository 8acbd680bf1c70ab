package keeper

import (
	"context"
	"testing"
	"time"

	"github.com/keeper-go/keeper/transport"
)

// A write's caller finds Status at least at the write's zxid when the call
// returns, even while the raft loop is slow to finish its step (the hook
// stalls it right after apply, where the status used to be published only
// later).
func TestStatusCoversAcknowledgedWrite(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	net := transport.NewMemory(1)
	defer net.Close()
	cfg := Config{ID: 1, Dir: t.TempDir(), Peers: []uint64{1}, Transport: net.Endpoint(1)}
	n, err := open(ctx, cfg, openOptions{hook: func(p hookPoint) {
		if p == hookAfterApply {
			time.Sleep(5 * time.Millisecond)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, err := n.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		_, st, err := n.Create2(ctx, "/n-", nil, PersistentSequential)
		if err != nil {
			t.Fatal(err)
		}
		if got := n.Status().Applied; got < st.Czxid {
			t.Fatalf("write at zxid %d acknowledged, Status().Applied %d", st.Czxid, got)
		}
	}
}
