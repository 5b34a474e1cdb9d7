package sio

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/sio/wire"
)

// TestClientReconnectBackoff: after the connection drops, the manager waits
// the reference's backoff delays (drawn from the test's random source),
// reports each attempt, its failure and the success, joins the namespace
// again, and then sends what was emitted meanwhile, in order; the volatile
// emit is dropped. After a success the backoff starts again from its first
// delay.
func TestClientReconnectBackoff(t *testing.T) {
	t.Parallel()
	p := newPeer(t)
	clk := newFakeClock()
	m, _ := NewManager(p.url(), &ClientOptions{
		EngineIO: wsOnly(),
		clock:    clk,
		rand:     draws(0.25, 0.375, 0.0625, 0.8),
	})
	closeAtCleanup(t, m)
	c, conn := connectTo(t, p, m, "/", map[string]string{"token": "t"}, "s1")

	p.down.Store(true)
	if err := p.srv.Disconnect(conn.sid); err != nil {
		t.Fatal(err)
	}
	if ev := expectEvent(t, c, ClientDisconnect); ev.Reason != ClientReasonTransportClose || !ev.Reason.Reconnects() {
		t.Fatalf("disconnect reason %v", ev.Reason)
	}
	if c.Connected() || c.SID() != "" {
		t.Error("still connected after the disconnect")
	}
	for i := range 5 {
		if err := c.Emit("buffered", i); err != nil {
			t.Fatalf("Emit while disconnected: %v", err)
		}
	}
	if err := c.EmitVolatile("volatile"); err != nil {
		t.Fatalf("EmitVolatile while disconnected: %v", err)
	}

	// The reference's delays for these draws (see TestBackoffMatchesReference).
	want := []time.Duration{875 * time.Millisecond, 2375 * time.Millisecond, 3875 * time.Millisecond}
	for i, d := range want {
		if got := clk.nextArming(t); got != d {
			t.Fatalf("delay %d: %v, want %v", i+1, got, d)
		}
		if i == len(want)-1 {
			p.down.Store(false)
		}
		clk.fire()
		ev := expectEvent(t, c, ClientReconnectAttempt)
		if ev.Attempt != i+1 || ev.Delay != d {
			t.Fatalf("attempt event %d after %v, want %d after %v", ev.Attempt, ev.Delay, i+1, d)
		}
		if i < len(want)-1 {
			ev := expectEvent(t, c, ClientReconnectError)
			if ev.Attempt != i+1 || ev.Err == nil || !strings.Contains(ev.Err.Error(), "503") {
				t.Fatalf("attempt error %d: %v, want attempt %d refused with 503", ev.Attempt, ev.Err, i+1)
			}
		}
	}
	if ev := expectEvent(t, c, ClientReconnect); ev.Attempt != 3 {
		t.Errorf("reconnect after %d attempts, want 3", ev.Attempt)
	}
	re := p.accept(t, "/", "s2", "")
	if string(re.Data) != `{"token":"t"}` {
		t.Errorf("CONNECT payload after the reconnection %s, want the auth again", re.Data)
	}
	if ev := expectEvent(t, c, ClientConnect); ev.SID != "s2" || ev.Recovered {
		t.Errorf("connect %+v, want s2 not recovered", ev)
	}
	for i := range 5 {
		name, args := eventOf(t, p.expect(t, wire.Event, "/"))
		if name != "buffered" || !reflect.DeepEqual(args, []any{float64(i)}) {
			t.Fatalf("buffered %d: got %s %v", i, name, args)
		}
	}
	if err := c.Emit("after"); err != nil {
		t.Fatal(err)
	}
	if name, _ := eventOf(t, p.expect(t, wire.Event, "/")); name != "after" {
		t.Fatalf("got %s, want after (the volatile emit must have been dropped)", name)
	}

	// A success resets the backoff: the next drop waits the first delay
	// again (1000ms - floor(0.8·0.5·1000) for the draw 0.8).
	if err := p.srv.Disconnect(re.sid); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, c, ClientDisconnect)
	if got := clk.nextArming(t); got != 600*time.Millisecond {
		t.Errorf("first delay after a success %v, want 600ms", got)
	}
}

// TestClientReconnectFailed: with ReconnectionAttempts, the manager gives
// up after that many failures in a row and the client ends.
func TestClientReconnectFailed(t *testing.T) {
	t.Parallel()
	p := newPeer(t)
	clk := newFakeClock()
	m, _ := NewManager(p.url(), &ClientOptions{EngineIO: wsOnly(), clock: clk, ReconnectionAttempts: 2, RandomizationFactor: -1})
	closeAtCleanup(t, m)
	c, conn := connectTo(t, p, m, "/", nil, "s1")
	p.down.Store(true)
	_ = p.srv.Disconnect(conn.sid)
	expectEvent(t, c, ClientDisconnect)
	for i, d := range []time.Duration{time.Second, 2 * time.Second} {
		if got := clk.nextArming(t); got != d {
			t.Fatalf("delay %d: %v, want %v (no jitter)", i+1, got, d)
		}
		clk.fire()
		expectEvent(t, c, ClientReconnectAttempt)
		expectEvent(t, c, ClientReconnectError)
	}
	last := expectClosed(t, c)
	if len(last) != 1 || last[0].Type != ClientReconnectFailed || last[0].Attempt != 2 {
		t.Fatalf("last events %+v, want reconnect_failed after 2", last)
	}
	if !errors.Is(c.Err(), ErrReconnectFailed) {
		t.Errorf("Err %v", c.Err())
	}
	if err := c.Emit("x"); !errors.Is(err, ErrClientClosed) {
		t.Errorf("Emit after giving up: %v", err)
	}
}

// TestClientNoReconnection: with NoReconnection, a drop ends the client.
func TestClientNoReconnection(t *testing.T) {
	t.Parallel()
	p := newPeer(t)
	clk := newFakeClock()
	m, _ := NewManager(p.url(), &ClientOptions{EngineIO: wsOnly(), clock: clk, NoReconnection: true})
	closeAtCleanup(t, m)
	c, conn := connectTo(t, p, m, "/", nil, "s1")
	_ = p.srv.Disconnect(conn.sid)
	last := expectClosed(t, c)
	if len(last) != 1 || last[0].Reason != ClientReasonTransportClose {
		t.Fatalf("last events %+v", last)
	}
	if c.Err() == nil {
		t.Error("no Err after the end")
	}
	clk.expectNoArming(t)
}

// TestClientConnectRetries: Connect to a server that is down keeps trying
// with the backoff until it is up, or until ctx ends.
func TestClientConnectRetries(t *testing.T) {
	t.Parallel()
	p := newPeer(t)
	p.down.Store(true)
	clk := newFakeClock()
	opts := &ClientOptions{EngineIO: wsOnly(), clock: clk, RandomizationFactor: -1}

	type result struct {
		c   *Client
		err error
	}
	res := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		c, err := Connect(ctx, p.url()+"/chat", opts)
		res <- result{c, err}
	}()
	for _, d := range []time.Duration{time.Second, 2 * time.Second} {
		if got := clk.nextArming(t); got != d {
			t.Fatalf("delay %v, want %v", got, d)
		}
		if d == 2*time.Second {
			p.down.Store(false)
		}
		clk.fire()
	}
	p.accept(t, "/chat", "s1", "")
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	// The first event is the connect: the attempts before it are not
	// reported to a client the application did not hold yet.
	expectEvent(t, r.c, ClientConnect)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := r.c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.c.Manager().Done():
	default:
		t.Error("the manager Connect made did not end with its client")
	}

	// Down for good: Connect ends with ctx, and says what the last attempt
	// met.
	p.down.Store(true)
	clk2 := newFakeClock()
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() {
		clk2.nextArming(t)
		cancel2()
	}()
	_, err := Connect(ctx2, p.url(), &ClientOptions{EngineIO: wsOnly(), clock: clk2})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "503") {
		t.Errorf("Connect to a server that is down: %v, want canceled with the last attempt's 503", err)
	}
}

// TestClientBufferBound: while disconnected, emits are held up to
// MaxBufferBytes; past it Emit fails with ErrBufferFull and holds nothing
// of the refused packet; after the reconnection every held packet arrives,
// in order.
func TestClientBufferBound(t *testing.T) {
	t.Parallel()
	p := newPeer(t)
	clk := newFakeClock()
	m, _ := NewManager(p.url(), &ClientOptions{EngineIO: wsOnly(), clock: clk, MaxBufferBytes: 4096})
	closeAtCleanup(t, m)
	c, conn := connectTo(t, p, m, "/", nil, "s1")
	p.down.Store(true)
	_ = p.srv.Disconnect(conn.sid)
	expectEvent(t, c, ClientDisconnect)

	payload := strings.Repeat("x", 100)
	held := 0
	for ; ; held++ {
		err := c.Emit("n", held, payload)
		if errors.Is(err, ErrBufferFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if held > 100 {
			t.Fatal("the buffer took 100 packets of 100 bytes in 4096 bytes")
		}
	}
	held0 := c.Buffered()
	if next := packetSize([]byte(fmt.Sprintf(`2["n",%d,"%s"]`, held, payload)), nil); held == 0 || held0 > 4096 || held0+next <= 4096 {
		t.Fatalf("held %d packets in %d bytes; the next of %d bytes was refused: the bound is 4096", held, held0, next)
	}
	// Binary attachments count too.
	if err := c.Emit("bin", make([]byte, 4096)); !errors.Is(err, ErrBufferFull) {
		t.Errorf("a 4 KiB attachment: %v, want ErrBufferFull", err)
	}

	clk.nextArming(t)
	p.down.Store(false)
	clk.fire()
	p.accept(t, "/", "s2", "")
	for i := range held {
		_, args := eventOf(t, p.expect(t, wire.Event, "/"))
		if args[0] != float64(i) {
			t.Fatalf("packet %d arrived as %v", i, args[0])
		}
	}
	if err := c.Emit("last"); err != nil {
		t.Fatal(err)
	}
	if name, _ := eventOf(t, p.expect(t, wire.Event, "/")); name != "last" {
		t.Fatalf("got %s after the held packets, want last (the refused ones must not be sent)", name)
	}
	m.mu.Lock()
	left := m.bufBytes
	m.mu.Unlock()
	if left != 0 || c.Buffered() != 0 {
		t.Errorf("%d bytes (Buffered %d) still counted as held", left, c.Buffered())
	}
}

// TestClientRecovery: with a server that offers connection state recovery,
// the client sends the pid and the offset of the last event in its
// CONNECT after a drop; a recovered connect says so, and the events the
// server replays arrive once. A server that does not recover gives a new
// session, and the offset starts again.
func TestClientRecovery(t *testing.T) {
	t.Parallel()
	p := newPeer(t)
	clk := newFakeClock()
	m, _ := NewManager(p.url(), &ClientOptions{EngineIO: wsOnly(), clock: clk})
	closeAtCleanup(t, m)

	res := make(chan *Client, 1)
	go func() {
		c, err := m.Connect(context.Background(), "/", map[string]string{"token": "t"})
		if err != nil {
			t.Error(err)
		}
		res <- c
	}()
	first := p.accept(t, "/", "s1", "pid-1")
	c := <-res
	expectEvent(t, c, ClientConnect)
	for i := 1; i <= 2; i++ {
		p.emit(t, first.sid, "/", nil, "tick", i, fmt.Sprintf("off-%d", i))
		expectEvent(t, c, ClientMessage)
	}

	drop := func(sid string) {
		t.Helper()
		_ = p.srv.Disconnect(sid)
		expectEvent(t, c, ClientDisconnect)
		clk.nextArming(t)
		clk.fire()
		expectEvent(t, c, ClientReconnectAttempt)
		expectEvent(t, c, ClientReconnect)
	}
	drop(first.sid)
	re := p.expect(t, wire.Connect, "/")
	if string(re.Data) != `{"pid":"pid-1","offset":"off-2","token":"t"}` {
		t.Fatalf("CONNECT after a drop %s, want pid, offset and the auth", re.Data)
	}
	p.send(t, re.sid, wire.Packet{Type: wire.Connect, Namespace: "/", Data: []byte(`{"sid":"s1","pid":"pid-1"}`)})
	if ev := expectEvent(t, c, ClientConnect); ev.SID != "s1" || !ev.Recovered {
		t.Fatalf("connect %+v, want s1 recovered", ev)
	}
	p.emit(t, re.sid, "/", nil, "tick", 3, "off-3") // missed during the gap
	if ev := expectEvent(t, c, ClientMessage); ev.Args.Len() != 2 {
		t.Fatalf("replayed event %s", ev.Args.JSON())
	}

	// This time the server has forgotten the session.
	drop(re.sid)
	re2 := p.expect(t, wire.Connect, "/")
	if string(re2.Data) != `{"pid":"pid-1","offset":"off-3","token":"t"}` {
		t.Fatalf("CONNECT after the second drop %s", re2.Data)
	}
	p.send(t, re2.sid, wire.Packet{Type: wire.Connect, Namespace: "/", Data: []byte(`{"sid":"s9","pid":"pid-9"}`)})
	if ev := expectEvent(t, c, ClientConnect); ev.SID != "s9" || ev.Recovered {
		t.Fatalf("connect %+v, want a new session", ev)
	}
	drop(re2.sid)
	if re3 := p.expect(t, wire.Connect, "/"); string(re3.Data) != `{"pid":"pid-9","token":"t"}` {
		t.Fatalf("CONNECT with a new pid and no event since %s", re3.Data)
	}
}

// TestClientReliable: with Reliable, every emit carries an ack id and is
// held until acknowledged; what was not acknowledged when the connection
// dropped is sent again after the reconnection, with its id, before what
// was emitted meanwhile.
func TestClientReliable(t *testing.T) {
	t.Parallel()
	p := newPeer(t)
	clk := newFakeClock()
	m, _ := NewManager(p.url(), &ClientOptions{EngineIO: wsOnly(), clock: clk, Reliable: true})
	closeAtCleanup(t, m)
	c, conn := connectTo(t, p, m, "/", nil, "s1")
	ack := func(pp peerPacket) {
		p.send(t, pp.sid, wire.Packet{Type: wire.Ack, Namespace: "/", ID: pp.ID, HasID: true, Data: []byte("[]")})
	}
	for i := range 5 {
		if err := c.Emit("n", i); err != nil {
			t.Fatal(err)
		}
	}
	var ids []uint64
	for i := range 5 {
		pp := p.expect(t, wire.Event, "/")
		if !pp.HasID {
			t.Fatal("a reliable emit without ack id")
		}
		ids = append(ids, pp.ID)
		if i < 2 {
			ack(pp)
		}
	}
	// The server acks 0 and 1; then the connection drops.
	_ = p.srv.Disconnect(conn.sid)
	expectEvent(t, c, ClientDisconnect)
	if err := c.Emit("n", 5); err != nil {
		t.Fatal(err)
	}
	clk.nextArming(t)
	clk.fire()
	p.accept(t, "/", "s2", "")
	for i := 2; i <= 5; i++ {
		pp := p.expect(t, wire.Event, "/")
		_, args := eventOf(t, pp)
		if args[0] != float64(i) || i < 5 && pp.ID != ids[i] {
			t.Fatalf("resent %v with id %d, want %d with id %d", args[0], pp.ID, i, ids[min(i, 4)])
		}
		ack(pp)
	}
	// A last round trip: its ack comes after the others on the same
	// connection, so once it is back every ack has been taken in.
	done := make(chan error, 1)
	go func() {
		_, err := c.EmitWithAck(context.Background(), "last")
		done <- err
	}()
	ack(p.expect(t, wire.Event, "/"))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if held := c.Buffered(); held != 0 {
		t.Fatalf("%d bytes still held after every ack", held)
	}
}

// TestClientParseError: a packet the client cannot parse closes the
// connection with "parse error", and the manager reconnects.
func TestClientParseError(t *testing.T) {
	t.Parallel()
	p := newPeer(t)
	clk := newFakeClock()
	m, _ := NewManager(p.url(), &ClientOptions{EngineIO: wsOnly(), clock: clk})
	closeAtCleanup(t, m)
	c, conn := connectTo(t, p, m, "/", nil, "s1")
	if err := p.srv.Send(conn.sid, []byte(`2["unterminated`)); err != nil {
		t.Fatal(err)
	}
	ev := expectEvent(t, c, ClientDisconnect)
	var werr *wire.Error
	if ev.Reason != ClientReasonParseError || !errors.As(ev.Err, &werr) {
		t.Fatalf("disconnect %v (%v), want parse error with the wire error", ev.Reason, ev.Err)
	}
	if end := p.ended(t); end.SID != conn.sid {
		t.Errorf("ended %s", end.SID)
	}
	clk.nextArming(t)
	clk.fire()
	p.accept(t, "/", "s2", "")
	expectEvent(t, c, ClientReconnectAttempt)
	expectEvent(t, c, ClientReconnect)
	expectEvent(t, c, ClientConnect)
}

// TestClientCloseAbandons: Close gives up on an application that does
// not read its events when ctx ends, and still delivers the last one.
func TestClientCloseAbandons(t *testing.T) {
	t.Parallel()
	p := newPeer(t)
	m, _ := NewManager(p.url(), &ClientOptions{EngineIO: wsOnly(), EventBuffer: 1})
	closeAtCleanup(t, m)
	c, conn := connectTo(t, p, m, "/", nil, "s1")
	queued := make(chan struct{}, 8)
	m.mu.Lock()
	c.queuedHook = func() { queued <- struct{}{} }
	m.mu.Unlock()
	for i := range 3 {
		p.emit(t, conn.sid, "/", nil, "fill", i)
	}
	// The first event fills the buffer; the second waits in the manager,
	// which then stops reading the connection.
	select {
	case <-queued:
	case <-time.After(waitLong):
		t.Fatal("no event queued behind a full Events buffer")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := c.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: %v, want the deadline", err)
	}
	var evs []ClientEvent
	for ev := range c.Events() {
		evs = append(evs, ev)
	}
	if len(evs) != 1 || evs[0].Type != ClientDisconnect || evs[0].Reason != ClientReasonIOClientDisconnect {
		t.Fatalf("events left %+v, want only the disconnect", evs)
	}
}

// TestClientSlowConnection: when the connection's queue is full (its
// transport stalls), packets with attachments are held whole, never half
// written, and go out in order once it drains. (With a queue of 1100
// bytes, two packets of 470 leave room for a third's text, 106, and not
// for its attachment, 364.)
func TestClientSlowConnection(t *testing.T) {
	t.Parallel()
	p := newPeer(t)
	clk := newFakeClock()
	m, _ := NewManager(p.url(), &ClientOptions{
		EngineIO: &eio.ClientOptions{Transports: []string{eio.TransportPolling}, MaxQueueBytes: 1100},
		clock:    clk,
	})
	closeAtCleanup(t, m)
	c, _ := connectTo(t, p, m, "/", nil, "s1")
	p.holdPost.Store(true)
	if err := c.Emit("first"); err != nil {
		t.Fatal(err)
	}
	<-p.held // the POST with "first" stalls; the queue fills behind it
	const n = 10
	for i := range n {
		if err := c.Emit("bin", i, make([]byte, 300)); err != nil {
			t.Fatalf("Emit %d: %v", i, err)
		}
	}
	m.mu.Lock()
	held := c.unsent
	m.mu.Unlock()
	if held == 0 {
		t.Fatal("nothing held back: the queue of 1100 bytes took 10 packets of 300")
	}
	close(p.release)
	if name, _ := eventOf(t, p.expect(t, wire.Event, "/")); name != "first" {
		t.Fatalf("first packet %s", name)
	}
	for i := 0; i < n; {
		select {
		case <-clk.armed: // the retry of the held packets
			clk.fire()
		case pp := <-p.in:
			name, args := eventOf(t, pp)
			if name != "bin" || args[0] != float64(i) || len(args[1].([]byte)) != 300 {
				t.Fatalf("packet %d: %s %v", i, name, args[0])
			}
			i++
		case <-time.After(waitLong):
			t.Fatalf("packet %d never came", i)
		}
	}
}

// TestClientUnreadEventsBounded: while the application does not read its
// events, the attempts of a manager that cannot reconnect do not pile up
// without bound; what is queued is delivered once it reads, the attempts
// go on.
func TestClientUnreadEventsBounded(t *testing.T) {
	t.Parallel()
	p := newPeer(t)
	clk := newFakeClock()
	m, _ := NewManager(p.url(), &ClientOptions{EngineIO: wsOnly(), clock: clk, EventBuffer: 1})
	closeAtCleanup(t, m)
	c, conn := connectTo(t, p, m, "/", nil, "s1")
	p.down.Store(true)
	_ = p.srv.Disconnect(conn.sid)
	const attempts = 3 * maxQueuedManagerEvents
	for range attempts {
		clk.nextArming(t) // armed after the previous attempt failed
		clk.fire()
	}
	clk.nextArming(t)
	m.mu.Lock()
	queued := len(c.queue)
	m.mu.Unlock()
	if queued > maxQueuedManagerEvents+1 {
		t.Fatalf("%d events queued for an application that does not read", queued)
	}
	if ev := expectEvent(t, c, ClientDisconnect); ev.Reason != ClientReasonTransportClose {
		t.Errorf("first event %v", ev.Reason)
	}
	if ev := expectEvent(t, c, ClientReconnectAttempt); ev.Attempt != 1 {
		t.Errorf("first attempt %d", ev.Attempt)
	}
	drained := make(chan struct{})
	go func() {
		for range c.Events() {
		}
		close(drained)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		t.Error(err)
	}
	<-drained
}
