package sio_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/sio"
	"github.com/chanio/chanio/sio/wire"
)

func TestConnectAndEvents(t *testing.T) {
	t.Parallel()
	for _, tr := range [][]string{{eio.TransportPolling}, {eio.TransportWebSocket}, nil} {
		t.Run(fmt.Sprint(tr), func(t *testing.T) {
			t.Parallel()
			srv, url := newServer(t, nil)
			c := dial(t, url, tr...)
			sid := c.connect("/", `{"token":"abc"}`)
			ev := expectEvent(t, srv.Of("/"), sio.EventConnect, "")
			s := ev.Socket
			if s.ID() != sid || sid == s.EngineID() {
				t.Fatalf("socket id %q, client got %q, engine id %q: the Socket.IO sid must be its own", s.ID(), sid, s.EngineID())
			}
			if h := s.Handshake(); string(h.Auth) != `{"token":"abc"}` || h.Query().Get("EIO") != "4" || h.Address == "" {
				t.Fatalf("handshake %+v", h)
			}
			if !s.Connected() || s.Namespace().Name() != "/" || !slices.Equal(s.Rooms(), []string{sid}) || !s.In(sid) {
				t.Fatalf("socket state: connected %v nsp %s rooms %v", s.Connected(), s.Namespace().Name(), s.Rooms())
			}
			c.emit("/", -1, "hello", "world", 42, map[string]any{"nested": []any{1.5, true, nil}})
			ev = expectEvent(t, srv.Of("/"), sio.EventMessage, "hello")
			var text string
			var n int
			var m map[string]any
			if err := ev.Args.Decode(&text, &n, &m); err != nil || text != "world" || n != 42 || fmt.Sprint(m) != "map[nested:[1.5 true <nil>]]" {
				t.Fatalf("args %s: %q %d %v %v", ev.Args.JSON(), text, n, m, err)
			}
			if ev.Socket != s || ev.WantsAck() {
				t.Fatalf("event socket %p (want %p), wants ack %v", ev.Socket, s, ev.WantsAck())
			}
			if err := ev.Ack(); !errors.Is(err, sio.ErrNoAck) {
				t.Fatalf("Ack of an event without id: %v", err)
			}
			if err := s.Emit("greeting", "hi", 1); err != nil {
				t.Fatal(err)
			}
			c.expect(`2["greeting","hi",1]`)
			if err := s.Emit("disconnect"); !errors.Is(err, sio.ErrReservedEvent) {
				t.Fatalf("Emit of a reserved name: %v", err)
			}
		})
	}
}

func TestAcks(t *testing.T) {
	t.Parallel()
	srv, url := newServer(t, nil)
	c, s := joined(t, srv, url, "/")

	t.Run("client asks", func(t *testing.T) {
		c.emit("/", 0, "sum", 1, 2)
		ev := expectEvent(t, srv.Of("/"), sio.EventMessage, "sum")
		if !ev.WantsAck() {
			t.Fatal("event with an id does not want an ack")
		}
		if err := ev.Ack(3, "ok"); err != nil {
			t.Fatal(err)
		}
		c.expect(`30[3,"ok"]`)
		if err := ev.Ack(4); !errors.Is(err, sio.ErrAcked) {
			t.Fatalf("second Ack: %v", err)
		}
		c.emit("/", 7, "bin", []byte{1, 2})
		ev = expectEvent(t, srv.Of("/"), sio.EventMessage, "bin")
		if err := ev.Ack([]byte{3, 4, 5}); err != nil {
			t.Fatal(err)
		}
		p := c.expect(`61-7[{"_placeholder":true,"num":0}]`)
		if string(p.Attachments[0]) != "\x03\x04\x05" {
			t.Fatalf("ack attachment %v", p.Attachments[0])
		}
	})

	t.Run("server asks", func(t *testing.T) {
		type result struct {
			args sio.Args
			err  error
		}
		got := make(chan result, 1)
		go func() {
			a, err := s.EmitWithAck(context.Background(), "question", "why")
			got <- result{a, err}
		}()
		p := c.next()
		if p.Type != wire.Event || !p.HasID || string(p.Data) != `["question","why"]` {
			t.Fatalf("server's event %+v", p)
		}
		c.send(wire.Packet{Type: wire.Ack, ID: p.ID, HasID: true, Data: json.RawMessage(`["because",{"n":1}]`)})
		r := <-got
		var why string
		var obj struct{ N int }
		if r.err != nil || r.args.Decode(&why, &obj) != nil || why != "because" || obj.N != 1 {
			t.Fatalf("EmitWithAck = %s, %v", r.args.JSON(), r.err)
		}
	})

	t.Run("server times out", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := s.EmitWithAck(ctx, "ignored")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("EmitWithAck without an answer: %v", err)
		}
		p := c.next()
		// A late answer is ignored; the connection goes on.
		c.send(wire.Packet{Type: wire.Ack, ID: p.ID, HasID: true, Data: json.RawMessage(`[]`)})
		c.emit("/", -1, "still", "here")
		expectEvent(t, srv.Of("/"), sio.EventMessage, "still")
	})

	t.Run("socket leaves while waiting", func(t *testing.T) {
		c2, s2 := joined(t, srv, url, "/")
		got := make(chan error, 1)
		go func() {
			_, err := s2.EmitWithAck(context.Background(), "never")
			got <- err
		}()
		c2.next()
		c2.send(wire.Packet{Type: wire.Disconnect})
		if err := <-got; !errors.Is(err, sio.ErrDisconnected) {
			t.Fatalf("EmitWithAck on a socket that left: %v", err)
		}
		expectEvent(t, srv.Of("/"), sio.EventDisconnect, "")
		if _, err := s2.EmitWithAck(context.Background(), "late"); !errors.Is(err, sio.ErrDisconnected) {
			t.Fatalf("EmitWithAck after leaving: %v", err)
		}
	})
}

func TestNamespaces(t *testing.T) {
	t.Parallel()
	srv, url := newServer(t, nil)
	admin := srv.Of("admin")
	if admin.Name() != "/admin" || srv.Of("/admin") != admin {
		t.Fatalf("Of(admin) = %s", admin.Name())
	}
	c := dial(t, url)
	mainSID := c.connect("/", "")
	main := expectEvent(t, srv.Of("/"), sio.EventConnect, "").Socket
	adminSID := c.connect("/admin", "")
	as := expectEvent(t, admin, sio.EventConnect, "").Socket
	if mainSID == adminSID || as.EngineID() != main.EngineID() {
		t.Fatalf("two namespaces: sids %s %s, engine ids %s %s", mainSID, adminSID, main.EngineID(), as.EngineID())
	}
	c.emit("/admin", -1, "a", 1)
	c.emit("/", -1, "m", 2)
	expectEvent(t, admin, sio.EventMessage, "a")
	expectEvent(t, srv.Of("/"), sio.EventMessage, "m")
	if err := admin.Emit("to-admins", "x"); err != nil {
		t.Fatal(err)
	}
	c.expect(`2/admin,["to-admins","x"]`)

	// Leave /admin, stay in /.
	c.send(wire.Packet{Type: wire.Disconnect, Namespace: "/admin"})
	ev := expectEvent(t, admin, sio.EventDisconnect, "")
	if ev.Socket != as || ev.Reason != sio.ReasonClientNamespaceDisconnect || ev.Reason.String() != "client namespace disconnect" || as.Connected() {
		t.Fatalf("leaving /admin: %v %v", ev.Reason, as.Connected())
	}
	c.emit("/", -1, "m", 3)
	expectEvent(t, srv.Of("/"), sio.EventMessage, "m")
	// And come back.
	c.connect("/admin", "")
	expectEvent(t, admin, sio.EventConnect, "")

	// A namespace nobody made.
	c.send(wire.Packet{Type: wire.Connect, Namespace: "/nope"})
	c.expect(`4/nope,{"message":"Invalid namespace"}`)
	c.emit("/", -1, "m", 4)
	expectEvent(t, srv.Of("/"), sio.EventMessage, "m")
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	srv, url := newServer(t, nil)
	priv := srv.Of("/private")
	var calls []string
	var mu sync.Mutex
	priv.Use(func(ctx context.Context, s *sio.Socket) error {
		mu.Lock()
		calls = append(calls, "first")
		mu.Unlock()
		var auth struct{ Token string }
		_ = json.Unmarshal(s.Handshake().Auth, &auth)
		switch auth.Token {
		case "":
			return errors.New("no token")
		case "bad":
			return &sio.ConnectError{Message: "not authorized", Data: map[string]any{"retry": false}}
		}
		s.SetData(map[string]string{"user": auth.Token})
		return nil
	})
	priv.Use(func(ctx context.Context, s *sio.Socket) error {
		mu.Lock()
		calls = append(calls, "second")
		mu.Unlock()
		if s.Connected() {
			return errors.New("connected before the middleware ended")
		}
		return nil
	})

	c := dial(t, url)
	c.send(wire.Packet{Type: wire.Connect, Namespace: "/private"})
	c.expect(`4/private,{"message":"no token"}`)
	c.send(wire.Packet{Type: wire.Connect, Namespace: "/private", Data: json.RawMessage(`{"token":"bad"}`)})
	c.expect(`4/private,{"message":"not authorized","data":{"retry":false}}`)
	sid := c.connect("/private", `{"token":"ada"}`)
	ev := expectEvent(t, priv, sio.EventConnect, "")
	if ev.Socket.ID() != sid || fmt.Sprint(ev.Socket.Data()) != "map[user:ada]" {
		t.Fatalf("accepted socket %s data %v", ev.Socket.ID(), ev.Socket.Data())
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(calls, []string{"first", "first", "first", "second"}) {
		t.Fatalf("middleware calls %v", calls)
	}
}

func TestMiddlewareOfAClientThatLeaves(t *testing.T) {
	t.Parallel()
	srv, url := newServer(t, nil)
	started, released := make(chan struct{}), make(chan error, 1)
	srv.Of("/slow").Use(func(ctx context.Context, s *sio.Socket) error {
		close(started)
		<-ctx.Done()
		released <- ctx.Err()
		return ctx.Err()
	})
	c := dial(t, url)
	c.send(wire.Packet{Type: wire.Connect, Namespace: "/slow"})
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := c.c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-released; !errors.Is(err, context.Canceled) {
		t.Fatalf("middleware's ctx ended with %v", err)
	}
	// The socket never connected: the namespace reports nothing.
	select {
	case ev := <-srv.Of("/slow").Events():
		t.Fatalf("event %v for a socket that never connected", ev.Type)
	default:
	}
}

// TestConnectAgainWhileMiddlewareRuns: a client sends a second CONNECT
// for a namespace whose middleware still runs for its first. The second
// replaces the first, whose middleware sees its ctx end, and the client
// gets one answer: the second's.
func TestConnectAgainWhileMiddlewareRuns(t *testing.T) {
	t.Parallel()
	srv, url := newServer(t, nil)
	nsp := srv.Of("/")
	started, released := make(chan struct{}), make(chan error, 1)
	srv.Use(func(ctx context.Context, s *sio.Socket) error {
		if string(s.Handshake().Auth) == `{"n":1}` {
			s.Join("first")
			close(started)
			<-ctx.Done()
			released <- ctx.Err()
			return ctx.Err()
		}
		return nil
	})
	c := dial(t, url)
	c.send(wire.Packet{Type: wire.Connect, Data: json.RawMessage(`{"n":1}`)})
	<-started
	sid := c.connect("/", `{"n":2}`)
	s := expectEvent(t, nsp, sio.EventConnect, "").Socket
	if s.ID() != sid || string(s.Handshake().Auth) != `{"n":2}` {
		t.Fatalf("connected socket %s with %s, client got %s", s.ID(), s.Handshake().Auth, sid)
	}
	if err := <-released; !errors.Is(err, context.Canceled) {
		t.Fatalf("the first middleware's ctx ended with %v", err)
	}
	if got := nsp.Rooms(); len(got) != 0 || nsp.Len() != 1 {
		t.Fatalf("rooms %v, %d sockets", got, nsp.Len())
	}
	if err := s.Emit("marker"); err != nil {
		t.Fatal(err)
	}
	c.expect(`2["marker"]`) // and no other answer before it
}

func TestDynamicNamespaces(t *testing.T) {
	t.Parallel()
	srv, url := newServer(t, nil)
	parent := srv.OfRegexp(regexpMust(`^/room-\d+$`))
	byFunc := srv.OfFunc(func(name string, h *sio.Handshake) bool {
		var a struct{ Let bool }
		_ = json.Unmarshal(h.Auth, &a)
		return a.Let
	})
	parent.Use(func(ctx context.Context, s *sio.Socket) error {
		if s.Namespace().Name() == "/room-13" {
			return errors.New("unlucky")
		}
		return nil
	})

	c := dial(t, url)
	c.connect("/room-1", "")
	ev := expectEvent(t, parent, sio.EventConnect, "")
	child := ev.Socket.Namespace()
	if child.Name() != "/room-1" || child.Parent() != parent || srv.Of("/room-1") != child {
		t.Fatalf("child %s, parent %v", child.Name(), child.Parent())
	}
	c.send(wire.Packet{Type: wire.Connect, Namespace: "/room-13"})
	c.expect(`4/room-13,{"message":"unlucky"}`)
	c.send(wire.Packet{Type: wire.Connect, Namespace: "/room-x"})
	c.expect(`4/room-x,{"message":"Invalid namespace"}`)
	c.connect("/room-2", "")
	expectEvent(t, parent, sio.EventConnect, "")
	c.emit("/room-2", -1, "in-two")
	if ev := expectEvent(t, parent, sio.EventMessage, "in-two"); ev.Socket.Namespace().Name() != "/room-2" {
		t.Fatalf("event from %s", ev.Socket.Namespace().Name())
	}
	// An emit on the parent reaches every child.
	if err := parent.Emit("all"); err != nil {
		t.Fatal(err)
	}
	got := []string{c.next().Namespace, c.next().Namespace}
	slices.Sort(got)
	if !slices.Equal(got, []string{"/room-1", "/room-2"}) || parent.Len() != 2 {
		t.Fatalf("parent emit reached %v, Len %d", got, parent.Len())
	}
	// Of with a name the parent's regexp matches makes a child too.
	if n := srv.Of("/room-77"); n.Parent() != parent {
		t.Fatal("Of(/room-77) is not a child of the regexp parent")
	}

	c.send(wire.Packet{Type: wire.Connect, Namespace: "/by-func"})
	c.expect(`4/by-func,{"message":"Invalid namespace"}`)
	c.connect("/by-func", `{"let":true}`)
	if ev := expectEvent(t, byFunc, sio.EventConnect, ""); ev.Socket.Namespace().Name() != "/by-func" {
		t.Fatalf("OfFunc child %s", ev.Socket.Namespace().Name())
	}
}

func TestBinary(t *testing.T) {
	t.Parallel()
	srv, url := newServer(t, nil)
	for _, tr := range []string{eio.TransportPolling, eio.TransportWebSocket} {
		c, s := joined(t, srv, url, "/", tr)
		c.emit("/", -1, "file", "name.bin", []byte{0, 1, 2, 255}, map[string]any{"thumb": []byte("png")})
		ev := expectEvent(t, srv.Of("/"), sio.EventMessage, "file")
		var name string
		var body []byte
		var meta struct{ Thumb []byte }
		if err := ev.Args.Decode(&name, &body, &meta); err != nil || name != "name.bin" || string(body) != "\x00\x01\x02\xff" || string(meta.Thumb) != "png" {
			t.Fatalf("%s: binary args %q %v %q %v", tr, name, body, meta.Thumb, err)
		}
		if err := s.Emit("back", []byte{9}, "text", []byte{}); err != nil {
			t.Fatal(err)
		}
		p := c.expect(`52-["back",{"_placeholder":true,"num":0},"text",{"_placeholder":true,"num":1}]`)
		if string(p.Attachments[0]) != "\x09" || len(p.Attachments[1]) != 0 {
			t.Fatalf("%s: attachments %v", tr, p.Attachments)
		}
	}
}

// TestBinaryEmitsDoNotInterleave sends binary and text events to one
// socket from many goroutines at once: each packet's attachments must
// follow its text with nothing between them.
func TestBinaryEmitsDoNotInterleave(t *testing.T) {
	t.Parallel()
	srv, url := newServer(t, nil)
	c, s := joined(t, srv, url, "/", eio.TransportWebSocket)
	const senders, each = 8, 50
	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				var err error
				if i%2 == 0 {
					err = s.Emit("b", g, i, []byte{byte(g)}, []byte{byte(i)})
				} else {
					err = s.Emit("t", g, i)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range senders * each {
		p := c.next() // fails on any interleaving
		if name, args, _ := wire.EventArgs(&p); name == "b" {
			var g, i int
			var bg, bi []byte
			if err := args.Decode(&g, &i, &bg, &bi); err != nil || bg[0] != byte(g) || bi[0] != byte(i) {
				t.Fatalf("binary event %s with %v: %v", p.Data, p.Attachments, err)
			}
		}
	}
	wg.Wait()
}

func TestInOrder(t *testing.T) {
	t.Parallel()
	srv, url := newServer(t, nil)
	for _, tr := range []string{eio.TransportPolling, eio.TransportWebSocket} {
		c, s := joined(t, srv, url, "/", tr)
		const n = 1000
		for i := range n {
			c.emit("/", -1, "n", i)
		}
		for i := range n {
			ev := expectEvent(t, srv.Of("/"), sio.EventMessage, "n")
			var got int
			if err := ev.Args.Decode(&got); err != nil || got != i {
				t.Fatalf("%s: event %d carries %d (%v)", tr, i, got, err)
			}
			if err := s.Emit("n", i); err != nil {
				t.Fatal(err)
			}
		}
		for i := range n {
			c.expect(fmt.Sprintf(`2["n",%d]`, i))
		}
	}
}

func TestServerDisconnects(t *testing.T) {
	t.Parallel()
	// Each case has a server of its own, so that one case's ends do not
	// show up in another's channels.
	setup := func(t *testing.T) (*sio.Server, string, *sio.Namespace) {
		srv, url := newServer(t, nil)
		return srv, url, srv.Of("/other")
	}

	t.Run("namespace", func(t *testing.T) {
		t.Parallel()
		srv, url, other := setup(t)
		c, s := joined(t, srv, url, "/")
		c.connect("/other", "")
		expectEvent(t, other, sio.EventConnect, "")
		if err := s.Disconnect(false); err != nil {
			t.Fatal(err)
		}
		c.expect("1")
		ev := expectEvent(t, srv.Of("/"), sio.EventDisconnect, "")
		if ev.Reason != sio.ReasonServerNamespaceDisconnect || s.Connected() {
			t.Fatalf("reason %v", ev.Reason)
		}
		if err := s.Emit("late"); !errors.Is(err, sio.ErrDisconnected) {
			t.Fatalf("Emit after Disconnect: %v", err)
		}
		if err := s.Disconnect(false); err != nil {
			t.Fatalf("second Disconnect: %v", err)
		}
		// The other namespace goes on.
		c.emit("/other", -1, "alive")
		expectEvent(t, other, sio.EventMessage, "alive")
	})

	t.Run("connection", func(t *testing.T) {
		t.Parallel()
		srv, url, other := setup(t)
		_ = other
		c, s := joined(t, srv, url, "/")
		c.connect("/other", "")
		expectEvent(t, other, sio.EventConnect, "")
		if err := s.Disconnect(true); err != nil {
			t.Fatal(err)
		}
		// Each socket leaves as by Disconnect(false), as the reference's
		// client._disconnect() makes them: not a reason to recover from.
		for _, n := range []*sio.Namespace{srv.Of("/"), other} {
			if ev := expectEvent(t, n, sio.EventDisconnect, ""); ev.Reason != sio.ReasonServerNamespaceDisconnect {
				t.Fatalf("%s: reason %v", n.Name(), ev.Reason)
			}
		}
		if r := c.expectEnd(); r != eio.ReasonServerDisconnect {
			t.Fatalf("client saw %v", r)
		}
	})

	t.Run("transport close", func(t *testing.T) {
		t.Parallel()
		srv, url, other := setup(t)
		_ = other
		c, _ := joined(t, srv, url, "/")
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		_ = c.c.Close(ctx)
		if ev := expectEvent(t, srv.Of("/"), sio.EventDisconnect, ""); ev.Reason != sio.ReasonTransportClose || ev.Reason.String() != "transport close" {
			t.Fatalf("reason %v", ev.Reason)
		}
	})

	t.Run("parse error", func(t *testing.T) {
		t.Parallel()
		srv, url, other := setup(t)
		_ = other
		c, _ := joined(t, srv, url, "/")
		c.sendText(`2["connect"]`) // a reserved name
		ev := expectEvent(t, srv.Of("/"), sio.EventDisconnect, "")
		if ev.Reason != sio.ReasonParseError || !errors.Is(ev.Err, wire.ErrBadPayload) {
			t.Fatalf("reason %v err %v", ev.Reason, ev.Err)
		}
		c.expectEnd()
	})

	t.Run("packet for a namespace not joined", func(t *testing.T) {
		t.Parallel()
		srv, url, other := setup(t)
		_ = other
		c, _ := joined(t, srv, url, "/")
		c.emit("/other", -1, "sneaky")
		if ev := expectEvent(t, srv.Of("/"), sio.EventDisconnect, ""); ev.Reason != sio.ReasonParseError {
			t.Fatalf("reason %v", ev.Reason)
		}
		c.expectEnd()
	})

	t.Run("packet over MaxPacketBytes", func(t *testing.T) {
		t.Parallel()
		srv, url, other := setup(t)
		_ = other
		// Two attachments of 600 KB: each message fits eio's MaxPayload,
		// the packet does not fit the default MaxPacketBytes (the same).
		c := dialWith(t, url, &eio.ClientOptions{Transports: []string{eio.TransportWebSocket}, MaxQueueBytes: 4 << 20})
		c.connect("/", "")
		expectEvent(t, srv.Of("/"), sio.EventConnect, "")
		big := make([]byte, 600_000)
		c.emit("/", -1, "big", big, big)
		if ev := expectEvent(t, srv.Of("/"), sio.EventDisconnect, ""); ev.Reason != sio.ReasonParseError || !errors.Is(ev.Err, wire.ErrTooLarge) {
			t.Fatalf("reason %v err %v", ev.Reason, ev.Err)
		}
	})

	t.Run("too many attachments", func(t *testing.T) {
		t.Parallel()
		srv, url, other := setup(t)
		_ = other
		c, _ := joined(t, srv, url, "/")
		c.sendText(`511-["x"]`)
		if ev := expectEvent(t, srv.Of("/"), sio.EventDisconnect, ""); !errors.Is(ev.Err, wire.ErrTooManyAttachments) {
			t.Fatalf("err %v", ev.Err)
		}
	})
}

// TestDisconnectThenConnectionEnds: Disconnect(false), then at once the
// connection ends: the socket leaves for the reason it was disconnected
// for, whichever of the two the loop sees first. The loop is held up
// meanwhile (another client's events fill the channel), so that it finds
// both waiting.
func TestDisconnectThenConnectionEnds(t *testing.T) {
	t.Parallel()
	srv, url := newServer(t, &sio.Options{EventBuffer: 1})
	nsp := srv.Of("/")
	a, _ := joined(t, srv, url, "/")
	for i := range 50 {
		_, s := joined(t, srv, url, "/")
		a.emit("/", -1, "x")
		a.emit("/", -1, "x")
		_ = s.Disconnect(false)
		_ = srv.Engine().Disconnect(s.EngineID())
		for range 3 { // a's two events and s's end, in any order
			if ev := nextEvent(t, nsp); ev.Type == sio.EventDisconnect && ev.Reason != sio.ReasonServerNamespaceDisconnect {
				t.Fatalf("run %d: reason %v", i, ev.Reason)
			}
		}
	}
}

// TestConnectTimeout checks that a connection that joins no namespace is
// closed after ConnectTimeout: the elapsed time is what is tested. A
// CONNECT that the middleware refuses, or that it has not answered yet,
// is not a namespace joined (the reference clears its timer only once a
// socket has connected).
func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		auth string // "" sends no CONNECT
	}{
		{"no CONNECT", ""},
		{"refused", `{"refuse":true}`},
		{"middleware running", `{"wait":true}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Long enough for the refusal to come first on a loaded
			// machine (at 100ms the timeout once beat it).
			srv, url := newServer(t, &sio.Options{ConnectTimeout: time.Second})
			srv.Use(func(ctx context.Context, s *sio.Socket) error {
				if string(s.Handshake().Auth) == `{"wait":true}` {
					<-ctx.Done()
				}
				return errors.New("refused")
			})
			c := dial(t, url)
			start := time.Now()
			if tc.auth != "" {
				c.send(wire.Packet{Type: wire.Connect, Data: json.RawMessage(tc.auth)})
			}
			if tc.name == "refused" {
				c.expect(`4{"message":"refused"}`)
			}
			if r := c.expectEnd(); r != eio.ReasonServerDisconnect {
				t.Fatalf("reason %v", r)
			}
			// The timer starts before start (at the Engine.IO connect):
			// half of it is a safe lower bound.
			if d := time.Since(start); d < 500*time.Millisecond {
				t.Fatalf("closed after %v", d)
			}
		})
	}
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	srv, url := newServer(t, nil)
	other := srv.Of("/other")
	c, _ := joined(t, srv, url, "/")
	c.connect("/other", "")
	expectEvent(t, other, sio.EventConnect, "")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		done <- srv.Shutdown(ctx)
	}()
	for _, n := range []*sio.Namespace{srv.Of("/"), other} {
		if ev := expectEvent(t, n, sio.EventDisconnect, ""); ev.Reason != sio.ReasonServerShuttingDown {
			t.Fatalf("%s: reason %v", n.Name(), ev.Reason)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, n := range []*sio.Namespace{srv.Of("/"), other} {
		if _, ok := <-n.Events(); ok {
			t.Fatalf("%s: events channel open after Shutdown", n.Name())
		}
	}
	c.expectEnd()
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

// TestConnectWhileEventsFull: a socket connects while its namespace's
// channel is full, and the application, before it reads on, emits to the
// namespace. The loop must not hold the namespace's lock while it waits for
// room in the channel (the reviewer's deadlock).
func TestConnectWhileEventsFull(t *testing.T) {
	t.Parallel()
	srv, url := newServer(t, &sio.Options{EventBuffer: 1})
	nsp, other := srv.Of("/"), srv.Of("/other")
	a, _ := joined(t, srv, url, "/")
	a.emit("/", -1, "x")
	a.emit("/", -1, "y")
	expectEvent(t, nsp, sio.EventMessage, "x")
	// The loop handles a's packets in order: once a has its answer to
	// this CONNECT, y is in the channel, which is full.
	a.connect("/other", "")
	expectEvent(t, other, sio.EventConnect, "")
	// b gets its CONNECT answer, then the loop waits to hand over b's
	// connect event.
	b := dial(t, url)
	b.connect("/", "")
	done := make(chan error, 1)
	go func() { done <- srv.Emit("z") }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitFor):
		t.Fatal("Emit blocked while the loop waited for room in the channel")
	}
	expectEvent(t, nsp, sio.EventMessage, "y")
	expectEvent(t, nsp, sio.EventConnect, "")
	a.expect(`2["z"]`)
	b.expect(`2["z"]`)
}

// TestEndedConnectionsAreLetGo: the server holds a connection for its
// connect timeout only until it has joined a namespace or ended, and a
// connection that ends drops the half of a binary packet it had sent (up
// to MaxPacketBytes), even while the application keeps its sockets.
func TestEndedConnectionsAreLetGo(t *testing.T) {
	t.Parallel()
	srv, url := newServer(t, &sio.Options{ConnectTimeout: time.Hour})
	half := wire.Packet{Type: wire.Event, Data: json.RawMessage(`["x",{"_placeholder":true,"num":0}]`), Attachments: [][]byte{nil}}
	text, err := wire.Append(nil, &half)
	if err != nil {
		t.Fatal(err)
	}
	closeClient := func(c *rawClient) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := c.c.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// A client that joined.
	c, s := joined(t, srv, url, "/")
	if n := sio.ConnectsWaiting(srv); n != 0 {
		t.Fatalf("%d connections held for the connect timeout after joining", n)
	}
	c.sendText(string(text)) // the attachment never comes
	closeClient(c)
	expectEvent(t, srv.Of("/"), sio.EventDisconnect, "")
	if n := sio.AwaitingAttachments(s); n != 0 {
		t.Fatalf("the ended connection's decoder still waits for %d attachments", n)
	}

	// A client that leaves while its middleware runs.
	started, released := make(chan *sio.Socket, 1), make(chan struct{})
	srv.Of("/slow").Use(func(ctx context.Context, s *sio.Socket) error {
		started <- s
		<-ctx.Done()
		close(released)
		return ctx.Err()
	})
	c = dial(t, url)
	c.send(wire.Packet{Type: wire.Connect, Namespace: "/slow"})
	s = <-started
	half.Namespace = "/slow"
	if text, err = wire.Append(nil, &half); err != nil {
		t.Fatal(err)
	}
	c.sendText(string(text))
	closeClient(c)
	<-released // the connection has ended
	if n := sio.AwaitingAttachments(s); n != 0 {
		t.Fatalf("the ended connection's decoder still waits for %d attachments", n)
	}
	if n := sio.ConnectsWaiting(srv); n != 0 {
		t.Fatalf("%d connections held for the connect timeout after they ended", n)
	}
}

// TestShutdownByTheHTTPServer: the http.Server's Shutdown begins the
// Engine.IO server's (eio registers with its RegisterOnShutdown), and the
// sockets leave with ReasonServerShuttingDown, as with Server.Shutdown.
func TestShutdownByTheHTTPServer(t *testing.T) {
	t.Parallel()
	srv, hs := newHTTPServer(t, nil)
	c, _ := joined(t, srv, hs.URL, "/")
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := hs.Config.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	ev := expectEvent(t, srv.Of("/"), sio.EventDisconnect, "")
	if ev.Reason != sio.ReasonServerShuttingDown {
		t.Fatalf("reason %v (err %v)", ev.Reason, ev.Err)
	}
	c.expectEnd()
}
