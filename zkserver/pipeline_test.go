package zkserver_test

import (
	"fmt"
	"testing"

	"github.com/keeper-go/keeper/internal/jute"
)

// A client's pipelined requests are answered in order, and its writes
// apply in order: each set below names the version the one before it
// left, and the read at the end sees the last.
func TestPipelinedRequestsKeepOrder(t *testing.T) {
	e := newEnsemble(t, 3)
	leader := e.c.Leader().ID()
	for _, id := range []uint64{leader, e.c.Others(leader)[0]} {
		c := dialRaw(t, e.addrs[id])
		c.session(4000)
		path := fmt.Sprintf("/p%d", id)
		if h, _, ok := c.call(jute.OpCreate, &jute.CreateRequest{Path: path, ACL: []jute.ACL{{Perms: jute.PermAll, Scheme: "world", ID: "anyone"}}}); !ok || h.Err != jute.CodeOK {
			t.Fatalf("create: %+v", h)
		}
		const n = 300
		for i := 0; i < n; i++ {
			c.write(&jute.RequestHeader{Xid: int32(1000 + i), Type: jute.OpSetData}, &jute.SetDataRequest{Path: path, Data: []byte(fmt.Sprint(i)), Version: int32(i)})
		}
		c.write(&jute.RequestHeader{Xid: 5000, Type: jute.OpGetData}, &jute.PathWatchRecord{Path: path})
		var last int64
		for i := 0; i <= n; i++ {
			pkt, err := c.read()
			if err != nil {
				t.Fatal(err)
			}
			d := jute.NewDecoder(pkt)
			var h jute.ReplyHeader
			d.Decode(&h)
			want := int32(1000 + i)
			if i == n {
				want = 5000
			}
			if h.Xid != want || h.Err != jute.CodeOK || h.Zxid < last {
				t.Fatalf("member %d: reply %d: %+v, want xid %d, OK, zxid ≥ %d", id, i, h, want, last)
			}
			last = h.Zxid
			if i == n {
				var r jute.GetDataResponse
				d.Decode(&r)
				if string(r.Data) != fmt.Sprint(n-1) || r.Stat.Version != n {
					t.Fatalf("member %d: the read after the writes: %q version %d", id, r.Data, r.Stat.Version)
				}
			}
		}
	}
}
