package sio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/sio/wire"
)

// TestClientEventsBothWays: over each transport mode, the client joins a
// namespace with an auth payload, emits text, JSON and binary arguments,
// gets an ack, receives the server's events (binary too) and answers the
// server's ack.
func TestClientEventsBothWays(t *testing.T) {
	t.Parallel()
	modes := []struct {
		name       string
		transports []string
	}{
		{"polling", []string{eio.TransportPolling}},
		{"websocket", []string{eio.TransportWebSocket}},
		{"upgrade", nil},
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			p := newPeer(t)
			m, err := NewManager(p.url(), &ClientOptions{EngineIO: &eio.ClientOptions{Transports: mode.transports}})
			if err != nil {
				t.Fatal(err)
			}
			closeAtCleanup(t, m)
			c, conn := connectTo(t, p, m, "/chat", map[string]any{"token": "abc"}, "s1")
			if string(conn.Data) != `{"token":"abc"}` {
				t.Errorf("CONNECT payload %s, want the auth", conn.Data)
			}
			if c.SID() != "s1" || !c.Connected() || c.Namespace() != "/chat" {
				t.Errorf("SID %q connected %v nsp %q", c.SID(), c.Connected(), c.Namespace())
			}

			type point struct{ X, Y int }
			bin := []byte{0, 1, 2, 255}
			if err := c.Emit("hello", "é 😀", 42, point{1, 2}, bin, map[string]any{"nested": []byte{9}}); err != nil {
				t.Fatal(err)
			}
			name, args := eventOf(t, p.expect(t, wire.Event, "/chat"))
			want := []any{"é 😀", float64(42), map[string]any{"X": float64(1), "Y": float64(2)}, bin, map[string]any{"nested": []byte{9}}}
			if name != "hello" || !reflect.DeepEqual(args, want) {
				t.Errorf("server got %s %#v, want hello %#v", name, args, want)
			}

			// An ack the server answers, with binary.
			type ackOut struct {
				args wire.Args
				err  error
			}
			acked := make(chan ackOut, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), waitLong)
				defer cancel()
				a, err := c.EmitWithAck(ctx, "sum", 1, 2)
				acked <- ackOut{a, err}
			}()
			ev := p.expect(t, wire.Event, "/chat")
			if !ev.HasID {
				t.Fatal("EmitWithAck sent no ack id")
			}
			data, atts, _ := wire.AppendArgs(nil, nil, 3, []byte("bin"))
			p.send(t, ev.sid, wire.Packet{Type: wire.Ack, Namespace: "/chat", ID: ev.ID, HasID: true, Data: data, Attachments: atts})
			got := <-acked
			var sum int
			var b []byte
			if got.err != nil || got.args.Decode(&sum, &b) != nil || sum != 3 || string(b) != "bin" {
				t.Errorf("ack %v %s, want 3 and bin", got.err, got.args.JSON())
			}

			// The server's events, one asking for an ack.
			p.emit(t, conn.sid, "/chat", nil, "news", "text", []byte{7, 8})
			msg := expectEvent(t, c, ClientMessage)
			var text string
			var raw []byte
			if msg.Name != "news" || msg.Args.Decode(&text, &raw) != nil || text != "text" || !bytes.Equal(raw, []byte{7, 8}) || msg.WantsAck() {
				t.Errorf("event %q %s, want news text [7 8] without ack", msg.Name, msg.Args.JSON())
			}
			if err := msg.Ack(); !errors.Is(err, ErrNoAck) {
				t.Errorf("Ack of an event without ack: %v, want ErrNoAck", err)
			}
			id := uint64(7)
			p.emit(t, conn.sid, "/chat", &id, "question", "why")
			q := expectEvent(t, c, ClientMessage)
			if !q.WantsAck() {
				t.Fatal("question wants no ack")
			}
			if err := q.Ack("because", []byte{1}); err != nil {
				t.Fatal(err)
			}
			if err := q.Ack("twice"); !errors.Is(err, ErrAcked) {
				t.Errorf("second Ack: %v, want ErrAcked", err)
			}
			ans := p.expect(t, wire.Ack, "/chat")
			vs, _ := wire.AckArgs(&ans.Packet).Values()
			if ans.ID != 7 || !reflect.DeepEqual(vs, []any{"because", []byte{1}}) {
				t.Errorf("ack %d %#v, want 7 [because [1]]", ans.ID, vs)
			}
		})
	}
}

// TestClientEventBeforeConnect: an event that comes before the
// namespace's CONNECT (python-socketio emits from its connect handler
// first) is delivered right after the ClientConnect.
func TestClientEventBeforeConnect(t *testing.T) {
	t.Parallel()
	p := newPeer(t)
	res := make(chan *Client, 1)
	go func() {
		c, err := Connect(context.Background(), p.url(), &ClientOptions{EngineIO: wsOnly()})
		if err != nil {
			t.Error(err)
		}
		res <- c
	}()
	pp := p.expect(t, wire.Connect, "/")
	p.emit(t, pp.sid, "/", nil, "welcome", "early")
	p.send(t, pp.sid, wire.Packet{Type: wire.Connect, Namespace: "/", Data: []byte(`{"sid":"s1"}`)})
	c := <-res
	if c == nil {
		t.FailNow()
	}
	defer c.Close(context.Background())
	expectEvent(t, c, ClientConnect)
	if ev := expectEvent(t, c, ClientMessage); ev.Name != "welcome" {
		t.Errorf("event %q, want welcome", ev.Name)
	}
}

// TestClientEmitErrors: what cannot be emitted is refused before anything
// is sent.
func TestClientEmitErrors(t *testing.T) {
	t.Parallel()
	p := newPeer(t)
	m, _ := NewManager(p.url(), &ClientOptions{EngineIO: wsOnly()})
	closeAtCleanup(t, m)
	c, _ := connectTo(t, p, m, "/", nil, "s1")
	var argErr *wire.ArgError
	if err := c.Emit("x", func() {}); !errors.As(err, &argErr) || argErr.Index != 0 {
		t.Errorf("Emit of a func: %v, want an ArgError for argument 0", err)
	}
	if err := c.Emit("disconnect"); !errors.Is(err, wire.ErrReservedName) {
		t.Errorf("Emit of a reserved name: %v", err)
	}
	if _, err := m.Connect(context.Background(), "/", nil); !errors.Is(err, ErrNamespaceInUse) {
		t.Errorf("second Connect to /: %v, want ErrNamespaceInUse", err)
	}
	if _, err := m.Connect(context.Background(), "/x", "not an object"); !errors.Is(err, ErrBadAuth) {
		t.Errorf("Connect with a string auth: %v, want ErrBadAuth", err)
	}
	if _, err := m.Connect(context.Background(), "no-slash", nil); err == nil {
		t.Error("Connect to a namespace without / succeeded")
	}
	if _, err := NewManager(p.url()+"/chat", nil); err == nil {
		t.Error("NewManager with a path succeeded")
	}
	// Nothing of the above reached the server: the next packet is this.
	if err := c.Emit("ok"); err != nil {
		t.Fatal(err)
	}
	if name, _ := eventOf(t, p.expect(t, wire.Event, "/")); name != "ok" {
		t.Errorf("server got %s, want ok", name)
	}
}

// TestClientNamespaces: two namespaces share one Engine.IO session; one
// leaves (a DISCONNECT, its last event "io client disconnect") and the
// other goes on; when the last leaves, the session is closed.
func TestClientNamespaces(t *testing.T) {
	t.Parallel()
	p := newPeer(t)
	m, _ := NewManager(p.url(), &ClientOptions{EngineIO: wsOnly()})
	closeAtCleanup(t, m)
	root, c1 := connectTo(t, p, m, "/", nil, "r1")
	chat, c2 := connectTo(t, p, m, "/chat", map[string]int{"n": 1}, "c1")
	if c1.sid != c2.sid {
		t.Fatalf("namespaces on two Engine.IO sessions: %s and %s", c1.sid, c2.sid)
	}
	p.emit(t, c1.sid, "/chat", nil, "for-chat")
	p.emit(t, c1.sid, "/", nil, "for-root")
	if ev := expectEvent(t, chat, ClientMessage); ev.Name != "for-chat" {
		t.Errorf("chat got %s", ev.Name)
	}
	if ev := expectEvent(t, root, ClientMessage); ev.Name != "for-root" {
		t.Errorf("root got %s", ev.Name)
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := chat.Close(ctx); err != nil {
		t.Fatal(err)
	}
	p.expect(t, wire.Disconnect, "/chat")
	last := expectClosed(t, chat)
	if len(last) != 1 || last[0].Type != ClientDisconnect || last[0].Reason != ClientReasonIOClientDisconnect {
		t.Errorf("chat's last events %+v, want one io client disconnect", last)
	}
	if err := chat.Emit("late"); !errors.Is(err, ErrClientClosed) {
		t.Errorf("Emit after Close: %v", err)
	}
	if !errors.Is(chat.Err(), ErrClientClosed) {
		t.Errorf("Err %v", chat.Err())
	}
	if err := root.Emit("still"); err != nil {
		t.Fatal(err)
	}
	if name, _ := eventOf(t, p.expect(t, wire.Event, "/")); name != "still" {
		t.Errorf("root's event %s", name)
	}
	// The namespace can be joined again.
	chat2, _ := connectTo(t, p, m, "/chat", nil, "c2")

	_ = chat2.Close(ctx)
	p.expect(t, wire.Disconnect, "/chat")
	_ = root.Close(ctx)
	p.expect(t, wire.Disconnect, "/")
	if end := p.ended(t); end.Reason != eio.ReasonClientDisconnect {
		t.Errorf("session ended with %v, want the client's close", end.Reason)
	}
}

// TestClientConnectRefused: a CONNECT_ERROR ends the client, with the
// server's message and data, as the Node server and python-socketio send
// them.
func TestClientConnectRefused(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, payload, message, data string
	}{
		{"node", `{"message":"not authorized","data":{"reason":"bad token"}}`, "not authorized", `{"reason":"bad token"}`},
		{"python-string", `"Unable to connect"`, "Unable to connect", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPeer(t)
			errc := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), waitLong)
				defer cancel()
				_, err := Connect(ctx, p.url()+"/admin", &ClientOptions{EngineIO: wsOnly(), Auth: map[string]string{"token": "nope"}})
				errc <- err
			}()
			pp := p.expect(t, wire.Connect, "/admin")
			p.send(t, pp.sid, wire.Packet{Type: wire.ConnectError, Namespace: "/admin", Data: json.RawMessage(tc.payload)})
			err := <-errc
			var ce *ConnectError
			var data json.RawMessage
			if errors.As(err, &ce) && ce.Data != nil {
				data = ce.Data.(json.RawMessage)
			}
			if ce == nil || ce.Message != tc.message || string(data) != tc.data || !strings.Contains(err.Error(), "/admin") {
				t.Fatalf("Connect: %v (%+v), want a ConnectError %q %s", err, ce, tc.message, tc.data)
			}
			// The manager Connect made has ended with its only client.
			if end := p.ended(t); end.Reason != eio.ReasonClientDisconnect {
				t.Errorf("session ended with %v", end.Reason)
			}
		})
	}
}

// TestClientServerDisconnect: a DISCONNECT from the server ends the client
// with "io server disconnect"; it does not reconnect.
func TestClientServerDisconnect(t *testing.T) {
	t.Parallel()
	p := newPeer(t)
	clk := newFakeClock()
	m, _ := NewManager(p.url(), &ClientOptions{EngineIO: wsOnly(), clock: clk})
	closeAtCleanup(t, m)
	c, conn := connectTo(t, p, m, "/", nil, "s1")
	p.send(t, conn.sid, wire.Packet{Type: wire.Disconnect, Namespace: "/"})
	last := expectClosed(t, c)
	if len(last) != 1 || last[0].Reason != ClientReasonIOServerDisconnect || last[0].Reason.Reconnects() {
		t.Fatalf("last events %+v, want io server disconnect", last)
	}
	if !errors.Is(c.Err(), ErrClientClosed) {
		t.Errorf("Err %v", c.Err())
	}
	if end := p.ended(t); end.Reason != eio.ReasonClientDisconnect {
		t.Errorf("session ended with %v: the manager should close it, its last client gone", end.Reason)
	}
	clk.expectNoArming(t)
}

// TestClientAckErrors: an ack's wait ends with ctx's deadline, or with
// ErrDisconnected when the connection drops after the packet was sent.
func TestClientAckErrors(t *testing.T) {
	t.Parallel()
	p := newPeer(t)
	clk := newFakeClock()
	m, _ := NewManager(p.url(), &ClientOptions{EngineIO: wsOnly(), clock: clk})
	closeAtCleanup(t, m)
	c, conn := connectTo(t, p, m, "/", nil, "s1")

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.EmitWithAck(ctx, "never"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("EmitWithAck without answer: %v, want the deadline", err)
	}
	p.expect(t, wire.Event, "/")

	errc := make(chan error, 1)
	go func() {
		_, err := c.EmitWithAck(context.Background(), "pending")
		errc <- err
	}()
	p.expect(t, wire.Event, "/")
	if err := p.srv.Disconnect(conn.sid); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrDisconnected) {
		t.Errorf("EmitWithAck across a disconnection: %v, want ErrDisconnected", err)
	}
	if ev := expectEvent(t, c, ClientDisconnect); ev.Reason != ClientReasonTransportClose {
		t.Errorf("disconnect reason %v", ev.Reason)
	}
}

// TestClientReasonStrings: the reasons and event names print as the
// reference client's.
func TestClientReasonStrings(t *testing.T) {
	t.Parallel()
	want := map[ClientReason]string{
		ClientReasonIOServerDisconnect: "io server disconnect",
		ClientReasonIOClientDisconnect: "io client disconnect",
		ClientReasonPingTimeout:        "ping timeout",
		ClientReasonTransportClose:     "transport close",
		ClientReasonTransportError:     "transport error",
		ClientReasonParseError:         "parse error",
		ClientReason(99):               "ClientReason(99)",
	}
	for r, s := range want {
		if r.String() != s {
			t.Errorf("%d: %q, want %q", r, r.String(), s)
		}
	}
	if ClientReconnectAttempt.String() != "reconnect_attempt" || ClientEventType(0).String() != "ClientEventType(0)" {
		t.Error("event type names")
	}
	for in, out := range map[eio.Reason]ClientReason{
		eio.ReasonPingTimeout:      ClientReasonPingTimeout,
		eio.ReasonTransportError:   ClientReasonTransportError,
		eio.ReasonTransportClose:   ClientReasonTransportClose,
		eio.ReasonServerDisconnect: ClientReasonTransportClose,
	} {
		if got := clientReasonFor(in); got != out {
			t.Errorf("eio %v: %v, want %v", in, got, out)
		}
	}
}
