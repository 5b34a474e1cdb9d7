package cluster_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/chanio/chanio/cluster"
	"github.com/chanio/chanio/eio"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

func Example() {
	// An embedded NATS server for the example; production connects to its
	// own with nats.Connect("nats://...").
	ns, _ := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true})
	ns.Start()
	defer ns.WaitForShutdown()
	defer ns.Shutdown()
	ns.ReadyForConnections(5 * time.Second)

	ctx := context.Background()
	var nodes []*cluster.Node
	var urls []string
	for _, id := range []string{"a", "b"} {
		nc, _ := nats.Connect(ns.ClientURL())
		defer nc.Close()
		node, err := cluster.Join(ctx, nc, nil, &cluster.Options{NodeID: id})
		if err != nil {
			fmt.Println(err)
			return
		}
		defer node.Close()
		srv := httptest.NewServer(node) // the node forwards what is not its own
		defer srv.Close()
		nodes, urls = append(nodes, node), append(urls, srv.URL)
	}

	// A client of node a...
	client, err := eio.Dial(ctx, urls[0], &eio.ClientOptions{Transports: []string{eio.TransportWebSocket}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close(ctx)
	<-client.Events() // connect

	// ...is reached from node b by its session id, which names node a.
	_ = nodes[1].Send(ctx, client.SID(), []byte("hello from b"))
	fmt.Println(string((<-client.Events()).Data))
	// A broadcast from any node reaches every session of every node.
	_ = nodes[1].Broadcast([]byte("hello, everyone"))
	fmt.Println(string((<-client.Events()).Data))
	// Output:
	// hello from b
	// hello, everyone
}
