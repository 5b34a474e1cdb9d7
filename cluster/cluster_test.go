package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/internal/backtoback"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

// TestThroughBalancer: a Go client behind a round-robin balancer without
// affinity, so that its requests land on every node in turn, round-trips
// 1,000 messages in order over each transport mode; the requests that
// reached other nodes than the owner were forwarded.
func TestThroughBalancer(t *testing.T) {
	c := startCluster(t, clusterConfig{})
	for _, tc := range []struct {
		name       string
		transports []string
		final      string
	}{
		{"polling", []string{eio.TransportPolling}, eio.TransportPolling},
		{"websocket", []string{eio.TransportWebSocket}, eio.TransportWebSocket},
		{"upgrade", nil, eio.TransportWebSocket},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before uint64
			for _, n := range c.nodes {
				before += n.forwarded.Load()
			}
			client := dial(t, c.lb.URL, tc.transports...)
			owner, ok := ownerOf(client.SID())
			if !ok {
				t.Fatalf("sid %q names no node", client.SID())
			}
			if tc.final == eio.TransportWebSocket && tc.transports == nil {
				waitFor(t, 5*time.Second, "the upgrade", func() bool { return client.Transport() == eio.TransportWebSocket })
			}
			const count = 1000
			for i := range count {
				if err := client.Send([]byte("n:" + strconv.Itoa(i))); err != nil {
					t.Fatal(err)
				}
			}
			for i := range count {
				expectMessage(t, client, "n:"+strconv.Itoa(i), false)
			}
			if err := client.SendBinary([]byte{1, 2, 3, 255}); err != nil {
				t.Fatal(err)
			}
			expectMessage(t, client, "\x01\x02\x03\xff", true)
			if got := client.Transport(); got != tc.final {
				t.Errorf("transport %s, want %s", got, tc.final)
			}
			var after uint64
			for _, n := range c.nodes {
				after += n.forwarded.Load()
			}
			if tc.name != "websocket" && after == before {
				t.Errorf("no request was forwarded: the balancer does not rotate?")
			}
			if got := len(c.node(owner).recorded(client.SID(), eio.EventMessage)); got != count+1 {
				t.Errorf("owner %s recorded %d messages, want %d", owner, got, count+1)
			}
			for _, n := range c.nodes {
				if n.ID() != owner && len(n.recorded(client.SID(), eio.EventConnect)) != 0 {
					t.Errorf("node %s reported the session of node %s", n.ID(), owner)
				}
			}
		})
	}
}

// TestSendAcrossNodes: Send, SendBinary and SendJSON from each node reach
// a client of each other node, whatever its transport.
func TestSendAcrossNodes(t *testing.T) {
	c := startCluster(t, clusterConfig{})
	transports := [][]string{{eio.TransportWebSocket}, {eio.TransportPolling}, nil}
	clients := make([]*eio.Client, len(c.nodes))
	for i, n := range c.nodes {
		clients[i] = dial(t, n.http.URL, transports[i]...)
		if owner, _ := ownerOf(clients[i].SID()); owner != n.ID() {
			t.Fatalf("client of node %s has sid %q", n.ID(), clients[i].SID())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, from := range c.nodes {
		for i, to := range c.nodes {
			if from == to {
				continue
			}
			t.Run(from.ID()+"-to-"+to.ID(), func(t *testing.T) {
				sid := clients[i].SID()
				text := "from " + from.ID() + " to " + to.ID() + " é"
				if err := from.Send(ctx, sid, []byte(text)); err != nil {
					t.Fatal(err)
				}
				expectMessage(t, clients[i], text, false)
				if err := from.SendBinary(ctx, sid, []byte{0, 1, 2, 0xfe}); err != nil {
					t.Fatal(err)
				}
				expectMessage(t, clients[i], "\x00\x01\x02\xfe", true)
				if err := from.SendJSON(ctx, sid, map[string]string{"from": from.ID()}); err != nil {
					t.Fatal(err)
				}
				expectMessage(t, clients[i], `{"from":"`+from.ID()+`"}`, false)
			})
		}
	}
}

// TestBroadcast: Broadcast from one node reaches every session of every
// node, once; so does the application's broadcast through the echo app.
func TestBroadcast(t *testing.T) {
	c := startCluster(t, clusterConfig{})
	var clients []*eio.Client
	for i, n := range c.nodes {
		clients = append(clients, dial(t, n.http.URL, [][]string{{eio.TransportWebSocket}, {eio.TransportPolling}, nil}[i]...))
	}
	if err := c.nodes[1].Broadcast([]byte("to all")); err != nil {
		t.Fatal(err)
	}
	if err := c.nodes[2].BroadcastBinary([]byte{9, 8, 7}); err != nil {
		t.Fatal(err)
	}
	if err := clients[0].Send([]byte("broadcast:from a client of a")); err != nil {
		t.Fatal(err)
	}
	// The three come from three nodes: their order is not defined.
	for _, cl := range clients {
		got := map[string]bool{}
		for range 3 {
			ev := expectEvent(t, cl, eio.EventMessage)
			got[fmt.Sprintf("%q/%v", ev.Data, ev.Binary)] = true
		}
		for _, want := range []string{`"to all"/false`, `"\t\b\a"/true`, `"from a client of a"/false`} {
			if !got[want] {
				t.Errorf("client %s: got %v, missing %s", cl.SID(), got, want)
			}
		}
	}
	// Nothing else arrives: each broadcast was delivered once.
	for _, cl := range clients {
		select {
		case ev := <-cl.Events():
			if ev.Type == eio.EventMessage {
				t.Errorf("client %s: extra message %q", cl.SID(), ev.Data)
			}
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestRemoteErrors: remote calls fail as local ones do.
func TestRemoteErrors(t *testing.T) {
	c := startCluster(t, clusterConfig{server: eio.Options{MaxQueueBytes: 4 << 10}})
	a, b := c.node("a"), c.node("b")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	t.Run("unknown", func(t *testing.T) {
		for _, sid := range []string{
			"AAAAAAAAAAAAAAAAAAAA.b", // a live node without that session
			"AAAAAAAAAAAAAAAAAAAA.z", // a node that never was
			"no-node-in-this-id",     // not a cluster id: a local call
		} {
			start := time.Now()
			if err := a.Send(ctx, sid, []byte("x")); !errors.Is(err, eio.ErrUnknownSession) {
				t.Errorf("Send(%q) = %v, want ErrUnknownSession", sid, err)
			}
			if err := a.Disconnect(ctx, sid); !errors.Is(err, eio.ErrUnknownSession) {
				t.Errorf("Disconnect(%q) = %v, want ErrUnknownSession", sid, err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("%q took %v", sid, d)
			}
		}
	})

	t.Run("disconnect", func(t *testing.T) {
		client := dial(t, b.http.URL, eio.TransportWebSocket)
		if err := a.Disconnect(ctx, client.SID()); err != nil {
			t.Fatal(err)
		}
		ev := expectEvent(t, client, eio.EventDisconnect)
		if ev.Reason != eio.ReasonServerDisconnect {
			t.Errorf("client reason %v, want %v", ev.Reason, eio.ReasonServerDisconnect)
		}
		waitFor(t, 5*time.Second, "the owner's disconnect event", func() bool {
			return len(b.recorded(client.SID(), eio.EventDisconnect)) == 1
		})
		if got := b.recorded(client.SID(), eio.EventDisconnect)[0].Reason; got != eio.ReasonServerDisconnect {
			t.Errorf("owner's reason %v", got)
		}
		err := a.Send(ctx, client.SID(), []byte("late"))
		if !errors.Is(err, eio.ErrUnknownSession) && !errors.Is(err, eio.ErrSessionClosed) {
			t.Errorf("Send after Disconnect = %v", err)
		}
	})

	t.Run("slow consumer", func(t *testing.T) {
		sid := rawHandshake(t, b.http.URL) // a session that never polls
		big := bytes.Repeat([]byte("x"), 1024)
		var err error
		for i := 0; i < 10 && err == nil; i++ {
			err = a.Send(ctx, sid, big)
		}
		if !errors.Is(err, eio.ErrSlowConsumer) {
			t.Fatalf("Send past the queue bound = %v, want ErrSlowConsumer", err)
		}
		// Until the owner's session has closed its queue, a Send may find
		// it full again.
		waitFor(t, 5*time.Second, "the session to be closed", func() bool {
			err = a.Send(ctx, sid, big)
			return errors.Is(err, eio.ErrSessionClosed) || errors.Is(err, eio.ErrUnknownSession)
		})
	})

	t.Run("context", func(t *testing.T) {
		sid := rawHandshake(t, b.http.URL)
		done, cancel := context.WithCancel(context.Background())
		cancel()
		if err := a.Send(done, sid, []byte("x")); !errors.Is(err, context.Canceled) {
			t.Errorf("Send with a cancelled context = %v", err)
		}
		// A local call does not wait, so its context does not matter.
		if err := b.Send(done, sid, []byte("x")); err != nil {
			t.Errorf("local Send with a cancelled context = %v", err)
		}
	})

	t.Run("invalid UTF-8", func(t *testing.T) {
		sid := rawHandshake(t, b.http.URL)
		bad := []byte("bad\xff")
		if err := a.Send(ctx, sid, bad); !errors.Is(err, eio.ErrInvalidUTF8) {
			t.Errorf("remote Send of invalid UTF-8 = %v", err)
		}
		if err := a.Broadcast(bad); !errors.Is(err, eio.ErrInvalidUTF8) {
			t.Errorf("Broadcast of invalid UTF-8 = %v", err)
		}
		if err := a.BroadcastBinary(bad); err != nil {
			t.Errorf("BroadcastBinary = %v", err)
		}
	})

	t.Run("too large", func(t *testing.T) {
		sid := rawHandshake(t, b.http.URL)
		big := make([]byte, a.nc.MaxPayload())
		if err := a.Send(ctx, sid, big); !errors.Is(err, ErrTooLarge) || !errors.Is(err, eio.ErrPayloadTooLarge) {
			t.Errorf("Send over max_payload = %v", err)
		}
		if err := a.Broadcast(big); !errors.Is(err, ErrTooLarge) {
			t.Errorf("Broadcast over max_payload = %v", err)
		}
	})
}

// rawHandshake opens a polling session at base with a plain GET and
// returns its sid; nothing polls it afterwards.
func rawHandshake(t testing.TB, base string) string {
	t.Helper()
	status, body := get(t, base+"/engine.io/?EIO=4&transport=polling")
	if status != http.StatusOK || !strings.HasPrefix(body, "0{") {
		t.Fatalf("handshake: %d %q", status, body)
	}
	var open struct{ SID string }
	if err := json.Unmarshal([]byte(body[1:]), &open); err != nil {
		t.Fatal(err)
	}
	return open.SID
}

// TestLargePayloadsForwarded: a message near MaxPayload crosses nodes in
// both directions, on a forwarded POST and long-poll and on a relayed
// WebSocket, through the tunnels' frames and flow control.
func TestLargePayloadsForwarded(t *testing.T) {
	// Nodes are given seconds, not the tests' usual 600 ms, to say they
	// live: with the race detector and other suites on a 2-core machine,
	// three 900 KB round trips through NATS held a heartbeat back long
	// enough that a declared b gone (the session ended with "tunnel peer
	// node is gone") about once in 50 runs. Node failure is tested
	// elsewhere.
	c := startCluster(t, clusterConfig{server: eio.Options{MaxQueueBytes: 4 << 20},
		opts: Options{NodeTimeout: 10 * time.Second, HeartbeatInterval: 500 * time.Millisecond}})
	c.lb.RouteBySID(0, 1) // handshakes on a, everything else through b
	big := make([]byte, 900_000)
	for i := range big {
		big[i] = 'a' + byte(i%26)
	}
	for _, tc := range []struct {
		name       string
		transports []string
	}{
		{"polling", []string{eio.TransportPolling}},
		{"upgrade", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := dial(t, c.lb.URL, tc.transports...)
			if owner, _ := ownerOf(client.SID()); owner != "a" {
				t.Fatalf("owner %s, want a", owner)
			}
			if tc.transports == nil {
				waitFor(t, 5*time.Second, "the upgrade", func() bool { return client.Transport() == eio.TransportWebSocket })
				if c.node("b").relays.len() != 1 {
					t.Errorf("b relays %d WebSockets, want 1", c.node("b").relays.len())
				}
			}
			for range 3 {
				if err := client.Send(big); err != nil {
					t.Fatal(err)
				}
				expectMessage(t, client, string(big), false)
			}
		})
	}
}

// TestHeldPollsKeepSessionsAlive: a polling session whose every request
// after the handshake goes through another node lives through several
// ping intervals: held GETs are answered by the owner's pings, and pongs
// are forwarded POSTs.
func TestHeldPollsKeepSessionsAlive(t *testing.T) {
	opts := eio.Options{PingInterval: 100 * time.Millisecond, PingTimeout: 200 * time.Millisecond}
	c := startCluster(t, clusterConfig{server: opts})
	c.lb.RouteBySID(0, 2)
	client := dial(t, c.lb.URL, eio.TransportPolling)
	start := time.Now()
	// Each ping interval takes two requests through c: the held GET the
	// ping answers and the pong. Wait for several intervals' worth; a
	// session that died would stop them coming.
	const requests = 10
	waitFor(t, 10*time.Second, "c to forward polls and pongs", func() bool {
		select {
		case ev := <-client.Events():
			t.Fatalf("event %v (reason %v, err %v) while idle, after %d forwarded requests", ev.Type, ev.Reason, ev.Err, c.node("c").forwarded.Load())
		default:
		}
		return c.node("c").forwarded.Load() >= requests
	})
	if d, timeout := time.Since(start), opts.PingInterval+opts.PingTimeout; d < timeout {
		t.Fatalf("%d requests forwarded in %v, less than one ping timeout (%v): they prove nothing", requests, d, timeout)
	}
	if err := client.Send([]byte("still here")); err != nil {
		t.Fatal(err)
	}
	expectMessage(t, client, "still here", false)
}

// TestNodeFailure: a node that dies without a word (its NATS connection
// and its HTTP server cut) ends only its own sessions: those relayed or
// forwarded through other nodes end within NodeTimeout, other nodes'
// sessions go on, requests for its sessions get "Session ID unknown" at
// once, and the other nodes keep no goroutine for it.
func TestNodeFailure(t *testing.T) {
	c := startCluster(t, clusterConfig{})
	a, b, cn := c.node("a"), c.node("b"), c.node("c")
	baseline := goleak.IgnoreCurrent()

	// Sessions of a: one polling through b, one WebSocket relayed by b.
	c.lb.RouteBySID(0, 1)
	aPolling := dial(t, c.lb.URL, eio.TransportPolling)
	aRelayed := dial(t, c.lb.URL)
	waitFor(t, 5*time.Second, "the upgrade", func() bool { return aRelayed.Transport() == eio.TransportWebSocket })
	// Sessions of b and c, one relayed by b.
	bDirect := dial(t, b.http.URL, eio.TransportWebSocket)
	c.lb.RouteBySID(2, 1)
	cRelayed := dial(t, c.lb.URL)
	waitFor(t, 5*time.Second, "the upgrade", func() bool { return cRelayed.Transport() == eio.TransportWebSocket })
	for _, cl := range []*eio.Client{aPolling, aRelayed, bDirect, cRelayed} {
		if err := cl.Send([]byte("before")); err != nil {
			t.Fatal(err)
		}
		expectMessage(t, cl, "before", false)
	}
	if b.relays.len() != 2 {
		t.Fatalf("b relays %d WebSockets, want 2", b.relays.len())
	}

	// a dies: gone from NATS at once, its clients' connections cut.
	killed := time.Now()
	a.nc.Close()
	a.http.CloseClientConnections()
	a.http.Listener.Close()
	// Before the others notice the silence, NATS already knows nobody
	// serves a's subjects: its sessions are unknown at once.
	if status, body := get(t, pollURL(cn.http.URL, aRelayed.SID())); status != http.StatusBadRequest || !strings.Contains(body, `"code":1`) {
		t.Errorf("right after the crash, c answered %d %q", status, body)
	}

	for _, cl := range []*eio.Client{aPolling, aRelayed} {
		select {
		case <-cl.Done():
		case <-time.After(fastOptions.NodeTimeout + 2*time.Second):
			t.Fatalf("client %s of the dead node still connected", cl.SID())
		}
	}
	if d := time.Since(killed); d > fastOptions.NodeTimeout+time.Second {
		t.Errorf("the dead node's clients took %v to end", d)
	}
	if r := aRelayed.Reason(); r != eio.ReasonTransportClose {
		t.Errorf("relayed client of the dead node ended with %v, want %v", r, eio.ReasonTransportClose)
	}
	waitFor(t, 2*time.Second, "b and c to take a for dead", func() bool {
		return b.members.state("a", time.Now()) == dead && cn.members.state("a", time.Now()) == dead
	})

	// Requests for a's sessions: 400 code 1 at once, from every node.
	for _, n := range []*testNode{b, cn} {
		start := time.Now()
		status, body := get(t, pollURL(n.http.URL, aPolling.SID()))
		if status != http.StatusBadRequest || body != `{"code":1,"message":"Session ID unknown"}` {
			t.Errorf("%s answered %d %q", n.ID(), status, body)
		}
		if err := n.Send(context.Background(), aPolling.SID(), []byte("x")); !errors.Is(err, eio.ErrUnknownSession) {
			t.Errorf("%s: Send to a dead node's session = %v", n.ID(), err)
		}
		if d := time.Since(start); d > 200*time.Millisecond {
			t.Errorf("%s took %v to answer for the dead node", n.ID(), d)
		}
	}

	// The others' sessions go on, relayed or not.
	for _, cl := range []*eio.Client{bDirect, cRelayed} {
		if err := cl.Send([]byte("after")); err != nil {
			t.Fatal(err)
		}
		expectMessage(t, cl, "after", false)
	}
	for _, n := range []*testNode{b, cn} {
		if got := n.tunnels.with("a"); len(got) != 0 {
			t.Errorf("%s still has %d tunnels to a", n.ID(), len(got))
		}
		if got := len(n.recorded("", eio.EventDisconnect)); got != 0 {
			t.Errorf("%s: %d disconnects", n.ID(), got)
		}
	}
	if b.relays.len() != 1 {
		t.Errorf("b relays %d WebSockets, want 1", b.relays.len())
	}
	// A new client gets in through the survivors.
	c.lb.Route(nil)
	c.lb.SetDown(0, true)
	fresh := dial(t, c.lb.URL)
	if err := fresh.Send([]byte("new")); err != nil {
		t.Fatal(err)
	}
	expectMessage(t, fresh, "new", false)

	// Once their clients are gone, b and c hold nothing more than before
	// the dead node's sessions existed.
	a.stop()
	for _, cl := range []*eio.Client{bDirect, cRelayed, fresh, aPolling, aRelayed} {
		closeClient(cl)
	}
	waitFor(t, 5*time.Second, "the sessions to end", func() bool {
		return b.Server().Len() == 0 && cn.Server().Len() == 0 && b.relays.len() == 0
	})
	// Idle pooled connections are not leaks, but close them to see the
	// rest: a forward may finish and pool its tunnel after a first pass.
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		for _, n := range []*testNode{b, cn} {
			n.transport.CloseIdleConnections()
		}
		c.lb.CloseIdleConnections()
		// Goroutines that wait for a session's next pass belong to the
		// server, which lives on (at most a few dozen), not to a session.
		if err = goleak.Find(baseline, goleak.IgnoreTopFunction("github.com/chanio/chanio/actor.(*Group).serveIdle")); err == nil {
			break
		}
	}
	if err != nil {
		t.Errorf("goroutines left on the surviving nodes: %v", err)
	}
}

// TestShutdownRelayed: a node that shuts down gracefully sends its
// relayed and forwarded sessions their close packet, says goodbye, and the
// others answer for its sessions as unknown at once.
func TestShutdownRelayed(t *testing.T) {
	c := startCluster(t, clusterConfig{opts: Options{NodeTimeout: time.Minute}})
	a, b := c.node("a"), c.node("b")
	c.lb.RouteBySID(0, 1)
	relayed := dial(t, c.lb.URL)
	waitFor(t, 5*time.Second, "the upgrade", func() bool { return relayed.Transport() == eio.TransportWebSocket })
	polling := dial(t, c.lb.URL, eio.TransportPolling)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*eio.Client{relayed, polling} {
		select {
		case <-cl.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("client %s still connected", cl.SID())
		}
		if r := cl.Reason(); r != eio.ReasonServerDisconnect {
			t.Errorf("client %s ended with %v, want %v", cl.SID(), r, eio.ReasonServerDisconnect)
		}
	}
	// NodeTimeout is a minute: only the goodbye can have told b.
	waitFor(t, time.Second, "b to hear a's goodbye", func() bool { return b.members.state("a", time.Now()) == dead })
	status, body := get(t, pollURL(b.http.URL, polling.SID()))
	if status != http.StatusBadRequest || !strings.Contains(body, `"code":1`) {
		t.Errorf("b answered %d %q", status, body)
	}
	if err := a.Send(ctx, polling.SID(), []byte("x")); !errors.Is(err, eio.ErrServerClosed) {
		t.Errorf("Send on a shut-down node = %v, want eio.ErrServerClosed", err)
	}
	if err := a.Send(ctx, "AAAA.b", []byte("x")); !errors.Is(err, ErrClosed) || !errors.Is(err, eio.ErrServerClosed) {
		t.Errorf("remote Send from a shut-down node = %v", err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("Close after Shutdown = %v", err)
	}
}

// TestJoinErrors: Join refuses bad options and a node id in use.
func TestJoinErrors(t *testing.T) {
	ns := startNATS(t)
	nc := connectNATS(t, ns, "test")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	first, err := Join(ctx, nc, nil, &Options{NodeID: "one", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	for _, tc := range []struct {
		name string
		opts Options
		want error
	}{
		{"bad id", Options{NodeID: "a.b"}, ErrBadNodeID},
		{"long id", Options{NodeID: strings.Repeat("x", 65)}, ErrBadNodeID},
		{"bad subject", Options{Subject: "chanio.*"}, ErrBadSubject},
		{"empty token", Options{Subject: "chanio..x"}, ErrBadSubject},
		{"taken", Options{NodeID: "one"}, ErrNodeIDTaken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Logger = testLogger()
			n, err := Join(ctx, nc, nil, &tc.opts)
			if !errors.Is(err, tc.want) {
				if n != nil {
					n.Close()
				}
				t.Fatalf("Join = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := Join(ctx, nil, nil, nil); err == nil {
		t.Error("Join without a connection succeeded")
	}
	// Another subject prefix is another cluster: the id is free there.
	other, err := Join(ctx, nc, nil, &Options{NodeID: "one", Subject: "other", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	other.Close()
}

// TestSessionIDs: a node's session ids end with its id after 20 random
// characters, or after what the application's GenerateID makes.
func TestSessionIDs(t *testing.T) {
	c := startCluster(t, clusterConfig{nodes: 1, server: eio.Options{}})
	sid := rawHandshake(t, c.nodes[0].http.URL)
	random, node, ok := strings.Cut(sid, ".")
	if !ok || node != "a" || len(random) != 20 {
		t.Errorf("sid %q: want 20 random characters, '.', 'a'", sid)
	}
	gen := sidGenerator("n1", func() string { return "app-id" })
	if got := gen(); got != "app-id.n1" {
		t.Errorf("with GenerateID: %q", got)
	}
	for _, tc := range []struct {
		sid, owner string
		ok         bool
	}{
		{"abc.node-1", "node-1", true},
		{"a.b.c_d", "c_d", true},
		{"abc", "", false},
		{".abc", "", false},
		{"abc.", "", false},
		{"abc.no*de", "", false},
		{"abc." + strings.Repeat("x", 65), "", false},
	} {
		owner, ok := ownerOf(tc.sid)
		if owner != tc.owner || ok != tc.ok {
			t.Errorf("ownerOf(%q) = %q, %v; want %q, %v", tc.sid, owner, ok, tc.owner, tc.ok)
		}
	}
}

// TestForwardedErrors: the owner's protocol errors come back as they are,
// and requests for sessions of unknown nodes are unknown sessions.
func TestForwardedErrors(t *testing.T) {
	c := startCluster(t, clusterConfig{})
	a, b := c.node("a"), c.node("b")
	sid := rawHandshake(t, a.http.URL)
	for _, tc := range []struct {
		name, url  string
		status     int
		bodyPrefix string
	}{
		{"unknown sid on a live node", pollURL(b.http.URL, "AAAAAAAAAAAAAAAAAAAA.a"), 400, `{"code":1,`},
		{"unknown node", pollURL(b.http.URL, "AAAAAAAAAAAAAAAAAAAA.nobody"), 400, `{"code":1,`},
		{"bad transport", b.http.URL + "/engine.io/?EIO=4&transport=carrier-pigeon&sid=" + sid, 400, `{"code":0,`},
		{"forwarded poll", pollURL(b.http.URL, sid), 200, `4`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.status == 200 {
				if err := b.Send(context.Background(), sid, []byte("queued")); err != nil {
					t.Fatal(err)
				}
			}
			status, body := get(t, tc.url)
			if status != tc.status || !strings.HasPrefix(body, tc.bodyPrefix) {
				t.Errorf("%d %q, want %d %s...", status, body, tc.status, tc.bodyPrefix)
			}
		})
	}
}

// TestCloseIdempotent: Close and Shutdown may be called again, in any
// order, and leave nothing running.
func TestCloseIdempotent(t *testing.T) {
	c := startCluster(t, clusterConfig{nodes: 2})
	dial(t, c.lb.URL)
	n := c.nodes[0]
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Broadcast([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Broadcast after Close = %v", err)
	}
}

// TestFrozenNode: a node that stays connected to NATS but answers nothing
// (stopped in a debugger, stuck) delays nobody past NodeTimeout: requests
// for its sessions get "Session ID unknown", Send fails, never a hang; once
// its heartbeats have been missing for NodeTimeout, at once.
func TestFrozenNode(t *testing.T) {
	c := startCluster(t, clusterConfig{nodes: 2})
	a := c.node("a")
	// Node z: subscribed to its subjects, one heartbeat, then silence.
	nc := connectNATS(t, c.ns, "frozen z")
	for _, kind := range []string{"rpc", "t"} {
		if _, err := nc.Subscribe(a.opts.nodeSubject("z", kind), func(*nats.Msg) {}); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Publish(a.opts.subjHB, appendHeartbeat(nil, heartbeat{kind: beatAlive, id: "z", incarnation: 1})); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "a to see z", func() bool { return a.members.state("z", time.Now()) == alive })
	sid := "AAAAAAAAAAAAAAAAAAAA.z"
	bound := fastOptions.NodeTimeout + 500*time.Millisecond

	start := time.Now()
	status, body := get(t, pollURL(a.http.URL, sid))
	if status != http.StatusBadRequest || body != `{"code":1,"message":"Session ID unknown"}` {
		t.Errorf("a answered %d %q", status, body)
	}
	if d := time.Since(start); d > bound {
		t.Errorf("the answer took %v", d)
	}
	start = time.Now()
	err := a.Send(context.Background(), sid, []byte("x"))
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, eio.ErrUnknownSession) {
		t.Errorf("Send to a frozen node = %v", err)
	}
	if d := time.Since(start); d > bound {
		t.Errorf("Send took %v", d)
	}
	waitFor(t, 2*fastOptions.NodeTimeout, "a to take z for dead", func() bool { return a.members.state("z", time.Now()) == dead })
	start = time.Now()
	if err := a.Send(context.Background(), sid, []byte("x")); !errors.Is(err, eio.ErrUnknownSession) {
		t.Errorf("Send to a dead node = %v", err)
	}
	if status, _ := get(t, pollURL(a.http.URL, sid)); status != http.StatusBadRequest {
		t.Errorf("a answered %d", status)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("answers for a dead node took %v", d)
	}
}

// TestForwardedPollAbandoned: a client that leaves in the middle of a
// long-poll forwarded to the owner ends its session there, as a client
// leaving a direct long-poll does (the reference behaviour).
func TestForwardedPollAbandoned(t *testing.T) {
	// The owner's server checks the poll's origin before it takes the
	// poll: from then on, the client leaving is what the owner sees.
	const origin = "http://abandoning.test"
	checked := make(chan struct{}, 1)
	c := startCluster(t, clusterConfig{server: eio.Options{CheckOrigin: func(_ *http.Request, o string) bool {
		if o == origin {
			select {
			case checked <- struct{}{}:
			default:
			}
		}
		return true
	}}})
	a, b := c.node("a"), c.node("b")
	sid := rawHandshake(t, a.http.URL)
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pollURL(b.http.URL, sid), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	done := make(chan error, 1)
	go func() {
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case <-checked:
	case <-time.After(10 * time.Second):
		t.Fatal("the poll did not reach the owner")
	}
	if n := b.forwarded.Load(); n != 1 {
		t.Fatalf("b forwarded %d requests, want the poll", n)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("abandoned poll: %v", err)
	}
	waitFor(t, 5*time.Second, "the owner to end the session", func() bool {
		return len(a.recorded(sid, eio.EventDisconnect)) == 1
	})
	if r := a.recorded(sid, eio.EventDisconnect)[0].Reason; r != eio.ReasonTransportError {
		t.Errorf("session ended with %v, want %v", r, eio.ReasonTransportError)
	}
}

// TestBackToBackRequests: issue 12's sequences, requests of one session on
// different connections fired without waiting for answers, through the
// round-robin balancer, so that each request lands on another node than
// the one before it. Every round must give the reference's answers.
func TestBackToBackRequests(t *testing.T) {
	c := startCluster(t, clusterConfig{server: eio.Options{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond}})
	rounds := 100
	if raceEnabled {
		rounds = 20
	}
	target := backtoback.Target{URL: c.lb.URL + "/engine.io/"}
	for _, seq := range backtoback.Sequences {
		t.Run(seq.Name, func(t *testing.T) {
			ok, failures := backtoback.Repeat(context.Background(), target, seq.Run, rounds, 10*time.Second)
			for _, err := range failures {
				t.Error(err)
			}
			if ok != rounds {
				t.Errorf("%d of %d rounds gave the reference's answers", ok, rounds)
			}
		})
	}
}
