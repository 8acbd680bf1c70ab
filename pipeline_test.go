package keeper_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

// Writes started one after another apply in that order, on the leader and
// through a follower, though none is awaited before the next starts: each
// set names the version the one before it left.
func TestStartKeepsOrder(t *testing.T) {
	c := keepertest.NewCluster(t, 3)
	ctx := ctxFor(t, 30*time.Second)
	leader := c.WaitLeader()
	follower := c.Node(c.Others(leader.ID())[0])
	for _, n := range []*keeper.Node{leader, follower} {
		path := fmt.Sprintf("/order-%d", n.ID())
		retry(ctx, t, func() error { _, err := n.Create(ctx, path, nil, keeper.Persistent); return err })
		const writes = 200
		pending := make([]*keeper.Pending, writes)
		for i := range pending {
			pending[i] = n.Start(ctx, false, keeper.SetOp(path, []byte(fmt.Sprint(i)), int32(i)))
		}
		for i, p := range pending {
			res, err := p.Wait()
			if err != nil {
				t.Fatalf("member %d: write %d: %v", n.ID(), i, err)
			}
			if len(res) != 1 || res[0].Stat.Version != int32(i+1) {
				t.Fatalf("member %d: write %d left version %d", n.ID(), i, res[0].Stat.Version)
			}
		}
	}
	// A multi's refusal before proposal comes from Wait, as from Multi.
	res, err := leader.Start(ctx, true, keeper.CreateOp("/ok", nil, keeper.Persistent), keeper.Op{}).Wait()
	var me *keeper.MultiError
	if !errors.As(err, &me) || me.Index != 1 || len(res) != 2 {
		t.Fatalf("multi with a zero op: %v %v", res, err)
	}
	if _, err := leader.Start(ctx, false).Wait(); !errors.Is(err, keeper.ErrBadArguments) {
		t.Fatalf("a single write of no op: %v, want ErrBadArguments", err)
	}
}
