// Package siotest runs sio servers on the nodes of a chanio cluster, on an
// embedded NATS server, for the tests of sio and interop. It is for tests
// only.
package siotest

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chanio/chanio/cluster"
	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/internal/embeddednats"
	"github.com/chanio/chanio/internal/quietlog"
	"github.com/chanio/chanio/sio"
	"github.com/nats-io/nats.go"
)

// Node is one node of a test cluster: its Socket.IO server, its cluster
// node, and the URL of its own HTTP server.
type Node struct {
	Server *sio.Server
	Node   *cluster.Node
	URL    string
	ID     string
}

// StartCluster runs an embedded NATS server and n nodes named a, b, c...,
// each a sio server (opts) on a cluster node whose Engine.IO server has
// engine (with the path "/socket.io/"), behind its own HTTP server. serve,
// if not nil, runs the application on each server and returns a function
// that stops it (shutting the server down); otherwise the server is closed
// at the end. It returns once every node sees the others; everything stops
// at the test's end.
func StartCluster(t testing.TB, n int, engine eio.Options, opts *sio.Options, serve func(*sio.Server) func()) []*Node {
	t.Helper()
	ns, err := embeddednats.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { embeddednats.Stop(ns) })
	engine.Path = "/socket.io/"
	if engine.Logger == nil {
		engine.Logger = quietlog.New()
	}
	var nodes []*Node
	for i := range n {
		id := string(rune('a' + i))
		nc, err := nats.Connect(ns.ClientURL(), nats.Name("node "+id))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		eo := engine
		node, err := cluster.Join(ctx, nc, &eo,
			&cluster.Options{NodeID: id, NodeTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond, Logger: quietlog.New()})
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		srv, err := sio.JoinCluster(ctx, nc, node, opts)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		stop := func() { _ = srv.Close() }
		if serve != nil {
			stop = serve(srv)
		}
		hs := httptest.NewServer(srv)
		t.Cleanup(func() {
			hs.CloseClientConnections()
			stop()
			hs.Close()
		})
		nodes = append(nodes, &Node{Server: srv, Node: node, URL: hs.URL, ID: id})
	}
	// Cross-node calls count the nodes they expect answers from: wait
	// until every node sees the others.
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for _, nd := range nodes {
		for {
			changed := nd.Node.NodesChanged()
			if len(nd.Node.Nodes()) == n {
				break
			}
			select {
			case <-changed:
			case <-timeout.C:
				t.Fatal("siotest: the nodes do not see each other")
			}
		}
	}
	return nodes
}
