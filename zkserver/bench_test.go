package zkserver_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/keeper-go/keeper"
)

// BenchmarkProtocolCreate measures what ZooKeeper's protocol costs: 100-byte
// creates by 64 callers on a three-member cluster in one process, through
// keeper's API and, side by side in the same run, through go-zookeeper over
// zkserver on loopback (the callers shared over one connection per member,
// as zkbench shares them), and reports both rates and their ratio.
//
//	go test -run '^$' -bench BenchmarkProtocolCreate -benchtime 20000x ./zkserver
func BenchmarkProtocolCreate(b *testing.B) {
	e := newEnsemble(b, 3)
	ids := e.c.IDs()
	conns := make([]*zk.Conn, len(ids))
	for i, id := range ids {
		conns[i], _ = connect(b, e.hosts(id), 10*time.Second)
	}
	ctx := context.Background()
	val := make([]byte, 100)
	const callers = 64
	run := func(create func(caller, i int) error) float64 {
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for w := 0; w < callers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= b.N {
						return
					}
					if err := create(w, i); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		return float64(b.N) / time.Since(start).Seconds()
	}
	if _, err := e.c.Node(ids[0]).Create(ctx, "/api", nil, keeper.Persistent); err != nil {
		b.Fatal(err)
	}
	if _, err := e.c.Node(ids[0]).Create(ctx, "/zk", nil, keeper.Persistent); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	api := run(func(w, i int) error {
		_, err := e.c.Node(ids[w%len(ids)]).Create(ctx, fmt.Sprintf("/api/k%07d", i), val, keeper.Persistent)
		return err
	})
	proto := run(func(w, i int) error {
		_, err := conns[w%len(conns)].Create(fmt.Sprintf("/zk/k%07d", i), val, 0, zk.WorldACL(zk.PermAll))
		return err
	})
	b.ReportMetric(api, "api-creates/s")
	b.ReportMetric(proto, "zk-creates/s")
	b.ReportMetric(proto/api, "zk/api")
	b.ReportMetric(0, "ns/op")
}
