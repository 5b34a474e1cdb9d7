package sio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/internal/siotest"
	"github.com/chanio/chanio/sio"
	"github.com/chanio/chanio/sio/wire"
)

func startSioCluster(t *testing.T, n int, opts *sio.Options) []*siotest.Node {
	t.Helper()
	return siotest.StartCluster(t, n, eio.Options{}, opts, nil)
}

func TestClusterRooms(t *testing.T) {
	t.Parallel()
	nodes := startSioCluster(t, 3, nil)
	var cs []*rawClient
	var ss []*sio.Socket
	for _, nd := range nodes {
		c, s := joined(t, nd.Server, nd.URL, "/")
		s.Join("r")
		s.SetData(map[string]string{"node": nd.ID})
		cs, ss = append(cs, c), append(ss, s)
	}
	a := nodes[0].Server.Of("/")
	// A room broadcast from node a reaches every node's socket in the room,
	// except the excepted one on node c.
	if err := a.To("r").Except(ss[2].ID()).Emit("hello", "all", []byte{7}); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs[:2] {
		p := c.expect(`51-["hello","all",{"_placeholder":true,"num":0}]`)
		if string(p.Attachments[0]) != "\x07" {
			t.Fatalf("attachment %v", p.Attachments)
		}
	}
	// To a socket of another node by its id.
	if err := a.To(ss[2].ID()).Emit("direct"); err != nil {
		t.Fatal(err)
	}
	cs[2].expect(`2["direct"]`)

	// Acknowledgements from every node's sockets.
	replies := make(chan []sio.Reply, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r, err := a.To("r").EmitWithAck(ctx, "poll")
		if err != nil {
			t.Error(err)
		}
		replies <- r
	}()
	for i, c := range cs {
		p := c.next()
		if !p.HasID {
			t.Fatalf("node %d: no ack id in %s", i, p.Data)
		}
		c.send(wire.Packet{Type: wire.Ack, ID: p.ID, HasID: true, Data: json.RawMessage(fmt.Sprintf(`[%d,{"_placeholder":true,"num":0}]`, i)), Attachments: [][]byte{{byte(i)}}})
	}
	got := <-replies
	if len(got) != 3 {
		t.Fatalf("%d replies", len(got))
	}
	for _, r := range got {
		i := slices.IndexFunc(ss, func(s *sio.Socket) bool { return s.ID() == r.SocketID })
		var n int
		var b []byte
		if err := r.Args.Decode(&n, &b); i < 0 || err != nil || n != i || len(b) != 1 || b[0] != byte(i) {
			t.Fatalf("reply %s %s %v: %v", r.SocketID, r.Args.JSON(), r.Args.Attachments(), err)
		}
	}

	// FetchSockets sees every node's sockets, with their rooms and data.
	fetched, err := a.To("r").FetchSockets(context.Background())
	if err != nil || len(fetched) != 3 {
		t.Fatalf("FetchSockets: %d, %v", len(fetched), err)
	}
	for _, f := range fetched {
		i := slices.IndexFunc(ss, func(s *sio.Socket) bool { return s.ID() == f.ID })
		if i < 0 || !slices.Contains(f.Rooms, "r") || (i == 0) != (f.Socket != nil) {
			t.Fatalf("fetched %+v", f)
		}
		data, _ := json.Marshal(f.Data)
		if string(data) != fmt.Sprintf(`{"node":"%s"}`, nodes[i].ID) {
			t.Fatalf("fetched data %s", data)
		}
	}

	// Room operations reach every node, before what node a publishes next
	// (NATS keeps one publisher's order).
	if err := a.To("r").Except(ss[0].ID()).SocketsJoin("s"); err != nil {
		t.Fatal(err)
	}
	if err := a.To("s").Emit("in-s"); err != nil {
		t.Fatal(err)
	}
	cs[1].expect(`2["in-s"]`)
	cs[2].expect(`2["in-s"]`)
	if err := a.To("s").DisconnectSockets(false); err != nil {
		t.Fatal(err)
	}
	cs[1].expect("1")
	cs[2].expect("1")
	for i := 1; i < 3; i++ {
		if ev := expectEvent(t, nodes[i].Server.Of("/"), sio.EventDisconnect, ""); ev.Reason != sio.ReasonServerNamespaceDisconnect {
			t.Fatalf("node %d: %v", i, ev.Reason)
		}
	}
}

func TestClusterServerSideEmit(t *testing.T) {
	t.Parallel()
	nodes := startSioCluster(t, 3, nil)
	for _, nd := range nodes[1:] {
		go func() {
			for ev := range nd.Server.Of("/").Events() {
				if ev.Type == sio.EventServerSide && ev.Name == "hello" {
					var from string
					_ = ev.Args.Decode(&from)
					_ = ev.Ack("hi " + from + " from " + nd.ID)
				}
			}
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	answers, err := nodes[0].Server.Of("/").ServerSideEmitWithAck(ctx, "hello", "a")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range answers {
		var s string
		_ = a.Decode(&s)
		got = append(got, s)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"hi a from b", "hi a from c"}) {
		t.Fatalf("answers %v", got)
	}
}

func TestClusterRecovery(t *testing.T) {
	t.Parallel()
	nodes := startSioCluster(t, 2, &sio.Options{Recovery: &sio.Recovery{}})
	a, b := nodes[0], nodes[1]
	_, s, pid, offset := recoverable(t, a.Server, a.URL)
	drop(s, nil, a.Server)
	expectEvent(t, a.Server.Of("/"), sio.EventDisconnect, "")
	// Broadcast from node b while the client is away: node a keeps it too.
	if err := b.Server.Of("/").To("r").Emit("missed", "from b"); err != nil {
		t.Fatal(err)
	}
	if err := a.Server.Of("/").To("r").Emit("missed", "from a"); err != nil {
		t.Fatal(err)
	}
	// The client comes back on node b.
	c := comeBack(t, b.URL, pid, offset)
	ans := c.next()
	var body struct{ SID, PID string }
	if err := json.Unmarshal(ans.Data, &body); err != nil || body.SID != s.ID() || body.PID != pid {
		t.Fatalf("CONNECT answer %s, want sid %s", ans.Data, s.ID())
	}
	var missed []string
	for range 2 {
		p := c.next()
		var what string
		if _, args, err := wire.EventArgs(&p); err != nil || args.Decode(&what) != nil {
			t.Fatalf("missed %s", p.Data)
		}
		missed = append(missed, what)
	}
	slices.Sort(missed)
	if !slices.Equal(missed, []string{"from a", "from b"}) {
		t.Fatalf("missed %v", missed)
	}
	ev := expectEvent(t, b.Server.Of("/"), sio.EventConnect, "")
	if !ev.Socket.Recovered() || !ev.Socket.In("r") || string(ev.Socket.Data().(json.RawMessage)) != `"kept"` {
		t.Fatalf("recovered on b: %v %v %v", ev.Socket.Recovered(), ev.Socket.Rooms(), ev.Socket.Data())
	}
}

// ackResult is what Broadcast.EmitWithAck returned.
type ackResult struct {
	replies []sio.Reply
	err     error
}

// pollTwoNodes joins a socket on each of nodes a and b, and emits to both
// with acknowledgements from a, with a ctx that has no deadline: a's
// socket answers, b's gets the event and says nothing. It returns a's
// socket and where EmitWithAck's result comes.
func pollTwoNodes(t *testing.T, a, b *siotest.Node) (*sio.Socket, chan ackResult) {
	t.Helper()
	ca, sa := joined(t, a.Server, a.URL, "/")
	cb, _ := joined(t, b.Server, b.URL, "/")
	got := make(chan ackResult, 1)
	go func() {
		r, err := a.Server.Of("/").EmitWithAck(context.Background(), "poll")
		got <- ackResult{r, err}
	}()
	p := ca.next()
	ca.send(wire.Packet{Type: wire.Ack, ID: p.ID, HasID: true, Data: json.RawMessage(`["a"]`)})
	cb.next()
	return sa, got
}

// TestClusterBroadcastWithAckNodeLeaves: a node whose socket got a
// broadcast with acknowledgements leaves the cluster before the socket
// answers. The broadcast, whose ctx has no deadline, counts the node out
// rather than wait for it for ever, and returns the other replies.
func TestClusterBroadcastWithAckNodeLeaves(t *testing.T) {
	t.Parallel()
	nodes := startSioCluster(t, 2, nil)
	sa, got := pollTwoNodes(t, nodes[0], nodes[1])
	_ = nodes[1].Server.Close()
	select {
	case r := <-got:
		if r.err != nil || len(r.replies) != 1 || r.replies[0].SocketID != sa.ID() {
			t.Fatalf("replies %v, %v", r.replies, r.err)
		}
	case <-time.After(waitFor):
		t.Fatal("EmitWithAck still waits for the node that left")
	}
}

// TestClusterBroadcastWithAckSilentRemoteSocket: another node's socket
// does not answer. Once that node no longer forwards answers (it waits
// for its sockets for a window the broadcast gives it), the broadcast,
// whose ctx has no deadline, stops waiting for it: a node that restarted
// under the same id, or a lost message, cannot hold it for ever. The
// elapsed time is what is tested.
func TestClusterBroadcastWithAckSilentRemoteSocket(t *testing.T) {
	t.Parallel()
	nodes := startSioCluster(t, 2, nil)
	const wait = 200 * time.Millisecond
	sio.SetClusterAckWait(nodes[0].Server, wait, 100*time.Millisecond)
	start := time.Now()
	sa, got := pollTwoNodes(t, nodes[0], nodes[1])
	select {
	case r := <-got:
		if r.err != nil || len(r.replies) != 1 || r.replies[0].SocketID != sa.ID() {
			t.Fatalf("replies %v, %v", r.replies, r.err)
		}
		if d := time.Since(start); d < wait {
			t.Fatalf("gave up on the other node after %v, before its window of %v", d, wait)
		}
	case <-time.After(waitFor):
		t.Fatal("EmitWithAck still waits for the silent socket of the other node")
	}
}
