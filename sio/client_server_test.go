package sio

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http/httptest"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/internal/clienttest"
)

// testApp is chanio's Socket.IO server running the application the
// interop tests run on Node and python-socketio (interop/js/
// sioclient_server.js): "/" and "/chat" for everyone, "/admin" for the
// auth {"token":"secret"}, and the events echo, ack, noack, ask, count,
// stats, burst, ticks, kick. Its listener can be cut (every connection
// closed, new ones too, until mended) and the server killed.
type testApp struct {
	srv  *Server
	hs   *httptest.Server
	addr string

	counted clienttest.Log[int] // the "count" events, in order, across restarts

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	cut     bool
	gone    chan string // the sockets that left
	failure error       // what went wrong in the app

	group sync.WaitGroup // the namespaces' readers and the tickers
	stop  chan struct{}  // stops the tickers

	// hold, while locked, stops the application between two events (the
	// server hangs); dead tells the current server's readers to drop what
	// is left once it is killed.
	hold sync.Mutex
	dead *atomic.Bool
}

// cutListener closes the connections it accepts while the app is cut, and
// tracks the others so that a cut or a kill can close them.
type cutListener struct {
	net.Listener
	a *testApp
}

func (l cutListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.a.mu.Lock()
		if l.a.cut {
			l.a.mu.Unlock()
			c.Close()
			continue
		}
		l.a.conns[c] = struct{}{}
		l.a.mu.Unlock()
		return c, nil
	}
}

// startApp runs the app on addr ("127.0.0.1:0" for any port).
func startApp(t *testing.T, addr string, opts *Options) *testApp {
	t.Helper()
	a := &testApp{conns: map[net.Conn]struct{}{}, gone: make(chan string, 64), stop: make(chan struct{})}
	a.serve(t, addr, opts)
	t.Cleanup(func() {
		a.close()
		if a.failure != nil {
			t.Errorf("the app failed: %v", a.failure)
		}
	})
	return a
}

// serve starts a server of the app on addr.
func (a *testApp) serve(t *testing.T, addr string, opts *Options) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	a.srv = NewServer(opts)
	a.hs = httptest.NewUnstartedServer(a.srv)
	a.hs.Listener.Close()
	a.hs.Listener = cutListener{ln, a}
	a.hs.Start()
	a.addr = ln.Addr().String()
	admin := a.srv.Of("/admin")
	admin.Use(func(_ context.Context, s *Socket) error {
		var auth struct{ Token string }
		if h := s.Handshake(); json.Unmarshal(h.Auth, &auth) != nil || auth.Token != "secret" {
			return &ConnectError{Message: "not authorized", Data: map[string]string{"reason": "bad token"}}
		}
		return nil
	})
	a.dead = &atomic.Bool{}
	for _, n := range []*Namespace{a.srv.Of("/"), a.srv.Of("/chat"), admin} {
		a.group.Add(1)
		go a.handle(n, a.dead)
	}
}

// url is the app's base URL.
func (a *testApp) url() string { return "http://" + a.addr }

// handle runs one namespace's events.
func (a *testApp) handle(n *Namespace, dead *atomic.Bool) {
	defer a.group.Done()
	for ev := range n.Events() {
		a.hold.Lock()
		//lint:ignore SA2001 passing through: the lock is held only to pause
		a.hold.Unlock()
		if dead.Load() {
			continue // events a killed server had taken in and never handled
		}
		switch ev.Type {
		case EventConnect:
			var auth any // a nil json.RawMessage is refused by wire.AppendArgs
			if h := ev.Socket.Handshake(); h.Auth != nil {
				auth = h.Auth
			}
			err := ev.Socket.Emit("welcome", map[string]any{
				"nsp": n.Name(), "sid": ev.Socket.ID(), "auth": auth, "recovered": ev.Socket.Recovered(),
			})
			if err != nil && !errors.Is(err, ErrDisconnected) {
				a.mu.Lock()
				a.failure = err // the test's own app is broken
				a.mu.Unlock()
			}
		case EventMessage:
			a.onEvent(n, ev)
		case EventDisconnect:
			select {
			case a.gone <- ev.Socket.ID():
			default:
			}
		}
	}
}

func (a *testApp) onEvent(n *Namespace, ev Event) {
	args, err := ev.Args.Values()
	if err != nil {
		return
	}
	s := ev.Socket
	switch ev.Name {
	case "echo":
		_ = s.Emit("echo", args...)
	case "ack":
		_ = ev.Ack(args...)
	case "ask":
		ms, _ := args[0].(float64)
		rest := args[1:]
		a.group.Add(1)
		go func() {
			defer a.group.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(ms)*time.Millisecond)
			defer cancel()
			answer, err := s.EmitWithAck(ctx, "question", rest...)
			if err != nil {
				_ = s.Emit("answer", map[string]any{"error": "operation has timed out"})
				return
			}
			vs, _ := answer.Values()
			_ = s.Emit("answer", map[string]any{"answer": vs})
		}()
	case "count":
		var k int
		_ = ev.Args.Decode(&k)
		_ = ev.Ack(k)
		a.counted.Add(k)
	case "burst":
		k, _ := args[0].(float64)
		for i := range int(k) {
			_ = s.Emit("n", i)
		}
	case "ticks":
		ms, _ := args[0].(float64)
		room := s.ID()
		a.group.Add(1)
		go func() {
			defer a.group.Done()
			tick := time.NewTicker(time.Duration(ms) * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-a.stop:
					return
				case <-tick.C:
					_ = n.To(room).Emit("tick", i)
				}
			}
		}()
	case "kick":
		_ = s.Disconnect(false)
	}
}

// waitCounted waits until done, given the numbers counted so far, says so.
func (a *testApp) waitCounted(t *testing.T, done func([]int) bool) []int {
	t.Helper()
	return a.counted.Wait(t, "count", done)
}

// setCut cuts every connection to the app (and the new ones) or mends it.
func (a *testApp) setCut(cut bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cut = cut
	if cut {
		for c := range a.conns {
			c.Close()
		}
		clear(a.conns)
	}
}

// kill stops the server as a crash would: every connection is cut, the
// listener closes (the port can be served again), the server closes, and
// what it had taken in and not handled is lost.
func (a *testApp) kill() {
	a.dead.Store(true)
	a.setCut(true)
	a.hs.Listener.Close()
	a.closeServer()
	a.mu.Lock()
	a.cut = false
	a.mu.Unlock()
}

// closeServer closes the server and waits for its namespaces' readers.
func (a *testApp) closeServer() {
	_ = a.srv.Close()
	a.hs.Close()
}

func (a *testApp) close() {
	close(a.stop)
	a.closeServer()
	a.group.Wait()
}

// appModes are the transport modes of the client.
var appModes = []struct {
	name       string
	transports []string
}{
	{"polling", []string{eio.TransportPolling}},
	{"websocket", []string{eio.TransportWebSocket}},
	{"upgrade", nil},
}

// joinApp joins nsp of the app on m and checks the welcome.
func joinApp(t *testing.T, m *Manager, nsp string, auth any) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	c, err := m.Connect(ctx, nsp, auth)
	if err != nil {
		t.Fatalf("Connect(%s): %v", nsp, err)
	}
	ev := expectEvent(t, c, ClientConnect)
	w := expectMessage(t, c, "welcome")
	var welcome struct{ NSP, SID string }
	if err := w.Args.Decode(&welcome); err != nil || welcome.NSP != nsp || welcome.SID != ev.SID {
		t.Fatalf("welcome %s, want %s and %s", w.Args.JSON(), nsp, ev.SID)
	}
	return c
}

// expectMessage returns the next event, which must be the server's event
// name.
func expectMessage(t *testing.T, c *Client, name string) ClientEvent {
	t.Helper()
	ev := expectEvent(t, c, ClientMessage)
	if ev.Name != name {
		t.Fatalf("event %q (%s), want %q", ev.Name, ev.Args.JSON(), name)
	}
	return ev
}

// TestClientWithServer: the client against chanio's own server, each
// transport mode: what the interop tests check against Node and
// python-socketio.
func TestClientWithServer(t *testing.T) {
	t.Parallel()
	a := startApp(t, "127.0.0.1:0", nil)
	for _, mode := range appModes {
		t.Run(mode.name, func(t *testing.T) {
			m, _ := NewManager(a.url(), &ClientOptions{EngineIO: &eio.ClientOptions{Transports: mode.transports}})
			closeAtCleanup(t, m)
			root := joinApp(t, m, "/", map[string]string{"user": "go"})

			nested := map[string]any{"list": []any{1.5, "two", nil, true}}
			bin := []byte{0, 1, 2, 0x1e, 255}
			if err := root.Emit("echo", "héllo 😀", 42.0, nested, bin); err != nil {
				t.Fatal(err)
			}
			vs, err := expectMessage(t, root, "echo").Args.Values()
			if want := []any{"héllo 😀", 42.0, nested, bin}; err != nil || !reflect.DeepEqual(vs, want) {
				t.Errorf("echo %#v (%v), want %#v", vs, err, want)
			}

			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			ack, err := root.EmitWithAck(ctx, "ack", "a", []byte("b"))
			if vs, _ := ack.Values(); err != nil || !reflect.DeepEqual(vs, []any{"a", []byte("b")}) {
				t.Errorf("ack %s: %v", ack.JSON(), err)
			}
			short, cancelShort := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancelShort()
			if _, err := root.EmitWithAck(short, "noack"); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("unanswered ack: %v", err)
			}
			if err := root.Emit("ask", 10000, "q1"); err != nil {
				t.Fatal(err)
			}
			if err := expectMessage(t, root, "question").Ack("yes"); err != nil {
				t.Fatal(err)
			}
			var answer struct {
				Answer []any
				Error  string
			}
			if err := expectMessage(t, root, "answer").Args.Decode(&answer); err != nil || !reflect.DeepEqual(answer.Answer, []any{"yes"}) {
				t.Errorf("answer %+v (%v)", answer, err)
			}
			if err := root.Emit("ask", 100, "q2"); err != nil {
				t.Fatal(err)
			}
			expectMessage(t, root, "question") // not answered
			answer.Answer = nil
			if err := expectMessage(t, root, "answer").Args.Decode(&answer); err != nil || answer.Error == "" {
				t.Errorf("answer %+v (%v), want the server's timeout", answer, err)
			}

			chat := joinApp(t, m, "/chat", nil)
			admin := joinApp(t, m, "/admin", map[string]string{"token": "secret"})
			var ce *ConnectError
			if _, err := m.Connect(ctx, "/nope", nil); !errors.As(err, &ce) {
				t.Errorf("unknown namespace: %v", err)
			}
			m2, _ := NewManager(a.url(), &ClientOptions{EngineIO: &eio.ClientOptions{Transports: mode.transports}})
			closeAtCleanup(t, m2)
			_, err = m2.Connect(ctx, "/admin", map[string]string{"token": "wrong"})
			if !errors.As(err, &ce) || ce.Message != "not authorized" || string(ce.Data.(json.RawMessage)) != `{"reason":"bad token"}` {
				t.Errorf("refused: %v", err)
			}
			if err := chat.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if err := admin.Emit("echo", "admin"); err != nil {
				t.Fatal(err)
			}
			expectMessage(t, admin, "echo")

			for i := range 1000 {
				if err := root.Emit("count", i); err != nil {
					t.Fatal(err)
				}
			}
			if err := root.Emit("burst", 1000); err != nil {
				t.Fatal(err)
			}
			for i := range 1000 {
				var k int
				if err := expectMessage(t, root, "n").Args.Decode(&k); err != nil || k != i {
					t.Fatalf("event %d: %d", i, k)
				}
			}

			if err := admin.Emit("kick"); err != nil {
				t.Fatal(err)
			}
			if ev := expectEvent(t, admin, ClientDisconnect); ev.Reason != ClientReasonIOServerDisconnect {
				t.Errorf("kick: %v", ev.Reason)
			}
		})
	}
	// Every mode's 1,000 numbers arrived, in order per client.
	got := a.waitCounted(t, func(ns []int) bool { return len(ns) >= 3000 })
	for i, k := range got {
		if k != i%1000 {
			t.Fatalf("count %d arrived as %d", i, k)
		}
	}
}

// TestClientWithServerKilled: chanio's server is killed and started again on
// the same port while the client emits every 10 ms, with Reliable on: every
// number arrives once, in order; each delay within its bounds.
func TestClientWithServerKilled(t *testing.T) {
	t.Parallel()
	for _, mode := range appModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			a := startApp(t, "127.0.0.1:0", nil)
			const delay, delayMax, jitter = 50 * time.Millisecond, 200 * time.Millisecond, 0.5
			m, _ := NewManager(a.url(), &ClientOptions{
				EngineIO:          &eio.ClientOptions{Transports: mode.transports},
				Reliable:          true,
				ReconnectionDelay: delay, ReconnectionDelayMax: delayMax, RandomizationFactor: jitter,
			})
			closeAtCleanup(t, m)
			c := joinApp(t, m, "/", nil)

			emitter := clienttest.Every(t, 10*time.Millisecond, func(n int) error { return c.Emit("count", n) })
			a.waitCounted(t, func(ns []int) bool { return len(ns) >= 30 })
			// The server hangs when every number emitted has its ack back,
			// takes three more it never handles, and dies (see interop's
			// TestSioClientServerKilled).
			var frozen int
			emitter.AtQuietMoment(t, func() bool { return c.Buffered() == 0 }, func() {
				a.hold.Lock()
				frozen = len(emitter.Sent.All())
			})
			emitter.Sent.Wait(t, "three numbers to the hung server", func(ns []int) bool { return len(ns) >= frozen+3 })
			a.kill()
			a.hold.Unlock()
			// Down until two attempts have failed; the events say so.
			var delays []time.Duration
			for errs := 0; errs < 2; {
				ev := nextEvent(t, c)
				switch ev.Type {
				case ClientReconnectAttempt:
					delays = append(delays, ev.Delay)
				case ClientReconnectError:
					errs++
				case ClientMessage, ClientDisconnect:
				default:
					t.Fatalf("event %v while the server is down", ev.Type)
				}
			}
			a.serve(t, a.addr, nil)
			for ev := nextEvent(t, c); ev.Type != ClientConnect; ev = nextEvent(t, c) {
				if ev.Type == ClientReconnectAttempt {
					delays = append(delays, ev.Delay)
				}
			}
			mark := len(a.waitCounted(t, func([]int) bool { return true }))
			a.waitCounted(t, func(ns []int) bool { return len(ns) >= mark+30 })
			n := emitter.Stop()
			got := a.waitCounted(t, func(ns []int) bool { return len(ns) > 0 && ns[len(ns)-1] == n-1 })
			if len(got) != n {
				t.Errorf("%d numbers counted for %d emitted", len(got), n)
			}
			for i, k := range got {
				if k != i {
					t.Fatalf("number %d arrived as %d (lost or doubled across the kill)", i, k)
				}
			}
			for i, d := range delays {
				lo, hi := reconnectBounds(delay, delayMax, jitter, i)
				if d < lo || d > hi {
					t.Errorf("delay %d: %v, want within [%v, %v]", i+1, d, lo, hi)
				}
			}
		})
	}
}

// TestClientWithServerRecovery: chanio's server with connection state
// recovery; the network is cut while the server ticks to the client's room
// every 10 ms: the client comes back recovered, same SID, and every tick
// arrives once, in order.
func TestClientWithServerRecovery(t *testing.T) {
	t.Parallel()
	for _, mode := range appModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			a := startApp(t, "127.0.0.1:0", &Options{
				Recovery: &Recovery{MaxDisconnectionDuration: time.Minute},
				Engine:   &eio.Options{PingInterval: 300 * time.Millisecond, PingTimeout: 300 * time.Millisecond},
			})
			m, _ := NewManager(a.url(), &ClientOptions{
				EngineIO:          &eio.ClientOptions{Transports: mode.transports},
				ReconnectionDelay: 50 * time.Millisecond, ReconnectionDelayMax: 100 * time.Millisecond,
			})
			closeAtCleanup(t, m)
			c := joinApp(t, m, "/", nil)
			sid := c.SID()
			if err := c.Emit("ticks", 10); err != nil {
				t.Fatal(err)
			}
			next := 0
			tick := func(ev ClientEvent) {
				t.Helper()
				var k int
				if err := ev.Args.Decode(&k); err != nil || k != next {
					t.Fatalf("tick %d arrived as %d (%s)", next, k, ev.Args.JSON())
				}
				next++
			}
			for next < 20 {
				tick(expectMessage(t, c, "tick"))
			}
			a.setCut(true)
			for ev := nextEvent(t, c); ev.Type != ClientReconnectError; ev = nextEvent(t, c) {
				if ev.Type == ClientMessage {
					tick(ev)
				}
			}
			// Mend once the server has seen the client go: over polling
			// it sees that when the pings stop.
			for gone := ""; gone != sid; {
				select {
				case gone = <-a.gone:
				case <-time.After(waitLong):
					t.Fatal("the server never saw the client go")
				}
			}
			a.setCut(false)
			ev := nextEvent(t, c)
			for ; ev.Type != ClientConnect; ev = nextEvent(t, c) {
				if ev.Type == ClientMessage {
					tick(ev)
				}
			}
			if !ev.Recovered || ev.SID != sid {
				t.Fatalf("connect after the gap: sid %s recovered %v, want %s recovered", ev.SID, ev.Recovered, sid)
			}
			before := next
			for next < before+30 {
				ev := nextEvent(t, c)
				switch {
				case ev.Type != ClientMessage:
					t.Fatalf("event %v %v while ticking", ev.Type, ev.Reason)
				case ev.Name == "welcome":
					var w struct{ Recovered bool }
					if err := ev.Args.Decode(&w); err != nil || !w.Recovered {
						t.Errorf("welcome after the gap %s, want recovered", ev.Args.JSON())
					}
				default:
					tick(ev)
				}
			}
		})
	}
}
