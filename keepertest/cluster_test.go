package keepertest

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/transport"
)

// TestNewCluster runs once keeper.Open carries the tree; until then it skips.
func TestNewCluster(t *testing.T) {
	c := NewCluster(t, 3)
	leader := c.Leader()
	c.Kill(leader.ID())
	c.WaitLeader()
	c.Restart(leader.ID())
	c.Partition([]uint64{1}, c.Others(1))
	c.Heal()
	c.WaitConverged()
}

// closingTransport counts Close calls on a transport.
type closingTransport struct {
	keeper.Transport
	closes *atomic.Int32
}

func (c closingTransport) Close() error { c.closes.Add(1); return nil }

// WithTransport: members open over the transports the function makes, one
// per start; a stopped or killed member's transport is closed, and every
// other one at cleanup.
func TestWithTransport(t *testing.T) {
	net := transport.NewMemory(1)
	var made, closes atomic.Int32
	t.Cleanup(func() {
		if m, c := made.Load(), closes.Load(); m != c {
			t.Errorf("%d transports made, %d closed", m, c)
		}
		net.Close()
	})
	c := NewCluster(t, 3, WithTransport(func(id uint64) (keeper.Transport, error) {
		made.Add(1)
		return closingTransport{net.Endpoint(id), &closes}, nil
	}))
	if made.Load() != 3 {
		t.Fatalf("%d transports made for 3 members", made.Load())
	}
	leader := c.Leader()
	if _, err := leader.Create(context.Background(), "/x", nil, keeper.Persistent); err != nil {
		t.Fatal(err)
	}
	id := c.Others(leader.ID())[0]
	c.Stop(id)
	if closes.Load() != 1 || c.Config(id).Transport != nil {
		t.Errorf("after Stop: %d closed, Config's Transport %v", closes.Load(), c.Config(id).Transport)
	}
	c.Restart(id)
	c.Kill(leader.ID())
	if made.Load() != 4 || closes.Load() != 2 {
		t.Errorf("after Restart and Kill: %d made, %d closed", made.Load(), closes.Load())
	}
	c.WaitLeader()
	c.WaitConverged()
}
