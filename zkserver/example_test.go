package zkserver_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/transport"
	"github.com/keeper-go/keeper/zkserver"
)

// A keeper member serves ZooKeeper's protocol on a listener the host opens;
// an unchanged ZooKeeper client (here go-zookeeper) uses it.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir, _ := os.MkdirTemp("", "zkserver-example-")
	defer os.RemoveAll(dir)
	net1 := transport.NewMemory(1)
	defer net1.Close()
	n, err := keeper.Open(ctx, keeper.Config{ID: 1, Dir: dir, Peers: []uint64{1}, Transport: net1.Endpoint(1)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0") // the host opens the listener
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := zkserver.New(n, zkserver.Options{FourLetterWords: []string{"ruok", "srvr", "mntr"}})
	go srv.Serve(ln)
	defer srv.Shutdown(ctx)

	conn, _, err := zk.Connect([]string{ln.Addr().String()}, 10*time.Second, zk.WithLogInfo(false), zk.WithLogger(quiet{}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	if _, err := conn.Create("/app", []byte("hello"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		fmt.Println(err)
		return
	}
	data, _, err := n.Get(ctx, "/app") // the same tree, through keeper's own API
	fmt.Println(string(data), err)
	// Output: hello <nil>
}
