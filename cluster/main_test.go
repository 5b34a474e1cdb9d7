package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/internal/embeddednats"
	"github.com/chanio/chanio/internal/testlb"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testLogger logs at Debug to stderr when CHANIO_TEST_LOG=1, and only
// errors otherwise.
func testLogger() *slog.Logger {
	level := slog.LevelError
	if os.Getenv("CHANIO_TEST_LOG") == "1" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// startNATS runs an embedded NATS server on a random loopback port until
// the test ends.
func startNATS(t testing.TB) *server.Server {
	t.Helper()
	ns, err := embeddednats.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { embeddednats.Stop(ns) })
	return ns
}

func connectNATS(t testing.TB, ns *server.Server, name string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL(), nats.Name(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// testNode is a node of a test cluster: the node, its NATS connection,
// its HTTP server, and an echo application whose events are recorded.
type testNode struct {
	*Node
	nc   *nats.Conn
	http *httptest.Server
	app  sync.WaitGroup

	mu     sync.Mutex
	events []eio.Event
}

// clusterConfig configures a test cluster; zero fields mean test
// defaults.
type clusterConfig struct {
	nodes  int
	server eio.Options
	opts   Options
}

type testCluster struct {
	ns    *server.Server
	nodes []*testNode
	lb    *testlb.Balancer
}

// fastOptions are cluster options for tests: failures show within a
// second.
var fastOptions = Options{NodeTimeout: 600 * time.Millisecond, HeartbeatInterval: 150 * time.Millisecond}

// startCluster runs an embedded NATS server, cfg.nodes nodes (3 by
// default) named a, b, c..., each behind an httptest server, and a
// round-robin balancer in front of them all. Everything stops at the
// test's end.
func startCluster(t testing.TB, cfg clusterConfig) *testCluster {
	t.Helper()
	if cfg.nodes == 0 {
		cfg.nodes = 3
	}
	if cfg.opts.NodeTimeout == 0 {
		cfg.opts.NodeTimeout = fastOptions.NodeTimeout
		cfg.opts.HeartbeatInterval = fastOptions.HeartbeatInterval
	}
	if cfg.server.Logger == nil {
		cfg.server.Logger = testLogger()
	}
	if cfg.opts.Logger == nil {
		cfg.opts.Logger = testLogger()
	}
	c := &testCluster{ns: startNATS(t)}
	var backends []string
	for i := range cfg.nodes {
		n := c.addNode(t, string(rune('a'+i)), cfg)
		backends = append(backends, n.http.URL)
	}
	c.lb = testlb.New(t, backends...)
	c.waitMembers(t)
	return c
}

func (c *testCluster) addNode(t testing.TB, id string, cfg clusterConfig) *testNode {
	t.Helper()
	n := &testNode{nc: connectNATS(t, c.ns, "node "+id)}
	so, o := cfg.server, cfg.opts
	o.NodeID = id
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	node, err := Join(ctx, n.nc, &so, &o)
	if err != nil {
		t.Fatal(err)
	}
	n.Node = node
	n.http = httptest.NewServer(node)
	n.app.Add(1)
	go func() {
		defer n.app.Done()
		n.echo()
	}()
	t.Cleanup(n.stop)
	c.nodes = append(c.nodes, n)
	return n
}

// stop closes the node, its HTTP server and its application. Idempotent.
func (n *testNode) stop() {
	_ = n.Close()
	n.http.Close()
	n.app.Wait()
}

// echo is the test application: every message goes back to its sender,
// and "broadcast:X" sends X to the whole cluster.
func (n *testNode) echo() {
	for ev := range n.Server().Events() {
		n.mu.Lock()
		n.events = append(n.events, eio.Event{Type: ev.Type, SID: ev.SID, Reason: ev.Reason, Err: ev.Err})
		n.mu.Unlock()
		if ev.Type != eio.EventMessage {
			continue
		}
		switch {
		case ev.Binary:
			_ = n.SendBinary(context.Background(), ev.SID, ev.Data)
		case strings.HasPrefix(string(ev.Data), "broadcast:"):
			_ = n.Broadcast(ev.Data[len("broadcast:"):])
		default:
			_ = n.Send(context.Background(), ev.SID, ev.Data)
		}
	}
}

// recorded returns the events of type typ recorded for sid.
func (n *testNode) recorded(sid string, typ eio.EventType) []eio.Event {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []eio.Event
	for _, ev := range n.events {
		if ev.SID == sid && ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// waitMembers waits until every node sees every other alive.
func (c *testCluster) waitMembers(t testing.TB) {
	t.Helper()
	waitFor(t, 5*time.Second, "every node to see the others", func() bool {
		for _, n := range c.nodes {
			if len(n.Nodes()) != len(c.nodes) {
				return false
			}
		}
		return true
	})
}

func (c *testCluster) node(id string) *testNode {
	for _, n := range c.nodes {
		if n.ID() == id {
			return n
		}
	}
	panic("no node " + id)
}

// waitFor waits up to d until cond holds. It looks every 10ms: what it
// waits on (membership, counters, a client's transport) changes without an
// event a test could wait on. The result never depends on the interval.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dial connects a Go client to base over transports, closing it at the
// test's end.
func dial(t testing.TB, base string, transports ...string) *eio.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := eio.Dial(ctx, base, &eio.ClientOptions{Transports: transports, Logger: testLogger()})
	if err != nil {
		t.Fatalf("dial %s over %v: %v", base, transports, err)
	}
	t.Cleanup(func() { closeClient(c) })
	expectEvent(t, c, eio.EventConnect)
	return c
}

func closeClient(c *eio.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for range c.Events() {
		}
	}()
	_ = c.Close(ctx)
	<-drained
}

// expectEvent reads c's next event, which must be of type typ.
func expectEvent(t testing.TB, c *eio.Client, typ eio.EventType) eio.Event {
	t.Helper()
	select {
	case ev, ok := <-c.Events():
		if !ok {
			t.Fatalf("client %s: events closed, want %v", c.SID(), typ)
		}
		if ev.Type == eio.EventUpgrade && typ != eio.EventUpgrade {
			// An upgrade may fall between any two messages.
			return expectEvent(t, c, typ)
		}
		if ev.Type != typ {
			t.Fatalf("client %s: event %v (%q, reason %v, err %v), want %v", c.SID(), ev.Type, ev.Data, ev.Reason, ev.Err, typ)
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatalf("client %s: no %v event in 10s", c.SID(), typ)
	}
	return eio.Event{}
}

// expectMessage reads c's next event, which must be the message want.
func expectMessage(t testing.TB, c *eio.Client, want string, binary bool) {
	t.Helper()
	ev := expectEvent(t, c, eio.EventMessage)
	if string(ev.Data) != want || ev.Binary != binary {
		t.Fatalf("client %s: message %q (binary %v), want %q (binary %v)", c.SID(), ev.Data, ev.Binary, want, binary)
	}
}

// get sends a GET to u and returns the status and body.
func get(t testing.TB, u string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func pollURL(base, sid string) string {
	return fmt.Sprintf("%s/engine.io/?EIO=4&transport=polling&sid=%s", base, url.QueryEscape(sid))
}
