package eio

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/chanio/chanio/actor"
	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/transport"
)

// This file is the protocol core: one end of an Engine.IO connection, the
// state machine that a server's session (session.go) and a Client
// (client.go) both are. It owns the outbound queue and its batching, the
// decoding and dispatch of what arrives, the heartbeat, the upgrade from
// one transport to another (probe, switch, abandon), the close and its
// reasons, and the events for the application. It holds its transports as
// transport.Conn and never asks which one it holds. What differs between
// the two sides is the side interface below, implemented in session.go and
// client.go.

// endpoint is one end of an Engine.IO connection: an actor, run by an
// actor.Runner one pass at a time, that owns every field below "Owned by
// the actor" but state (an atomic, for other goroutines). Other goroutines
// reach it only through its mailboxes, the atomics, and the Receiver
// methods its transports call.
type endpoint struct {
	side side
	env  *endpointEnv
	sid  string

	in  *actor.Mailbox[inbound]            // what transports read; waits give backpressure
	out *actor.Mailbox[transport.Outgoing] // what the application sends; bounded in bytes

	runner *actor.Runner // runs work whenever there is something to do
	timer  *actor.Timer  // the one timer, armed to the nearest deadline

	closeReq atomic.Pointer[closeRequest] // an end asked for by another goroutine
	live     atomic.Pointer[liveConn]     // the stream to cut on an abort

	// Owned by the actor (whichever goroutine runs its pass).
	cur   transport.Conn // the transport in use
	probe transport.Conn // a transport being upgraded to

	ctrl    []codec.Packet       // the endpoint's own packets (ping, pong, probe) to send next
	batch   []transport.Outgoing // scratch for a write
	inBatch []inbound            // scratch for a drain of in
	carry   *transport.Outgoing  // taken from out, did not fit a byte-bounded write

	queue eventQueue // events waiting for room in events

	armed      actor.Instant // what timer is set to; zero when stopped
	nextPing   actor.Instant // the pinging side sends its next ping then
	pongDue    actor.Instant // the peer's heartbeat is due by then, or the connection ends
	mark       actor.Instant // the last ping, sent or heard, or the last extension of pongDue
	upgradeDue actor.Instant // the upgrade must be done by then
	closeDue   actor.Instant // a graceful close waits this long

	closeErr error

	// state is, for other goroutines, the transport in use (an index into
	// transportNames) and the flags below; see setMode and setFlag.
	state atomic.Uint32
	// Small fields together, so that padding does not grow every one of
	// many thousands of sessions.
	version   codec.Version
	reason    Reason // non-zero once closing
	begun     bool   // begin has run
	pings     bool   // this side sends the pings (a protocol 4 server)
	probed    bool   // the probe has been answered: the old transport is paused
	lingering bool   // closing, waiting for the peer: its last request (a server, side.lingers) or its close (a client, linger)
	sendClose bool   // the close packet is owed to the peer
	closeSent bool   // the close packet has been handed to a transport
	ended     bool   // transports gone, the end reported
}

// endpointEnv is what an endpoint shares with its siblings: a server's
// sessions share the server's, a client has one of its own. The answers
// that differ by side and never change are here, as data.
type endpointEnv struct {
	events  chan<- Event       // the Server's or the Client's channel
	readers *transport.Readers // read the streams

	// The heartbeat: the pinging side sends a ping every interval and
	// waits wait for the pong; the other waits interval+wait for each
	// ping and answers it. With noTimeout a missing pong does not end
	// the connection.
	interval, wait time.Duration
	noTimeout      bool

	// probes: this side probes an upgrade (the client) rather than
	// answering the probe (the server). A probing side gives its upgrade
	// up when it closes, and keeps its heartbeat deadline while it waits
	// for its close to go out: a close stuck there ends as a ping timeout.
	probes bool
	// cutReason is the reason of an end the owner cuts short
	// (Server.Close, a Client.Close that gave up); peerClose that of an
	// end the peer's close packet asks for.
	cutReason, peerClose Reason
	// cutErr is the error of an end the owner cuts short.
	cutErr error
	// How a transport's failure is classified (see reasonFor): with
	// closeFrameIsPeer a normal close frame is the peer's close (Node's
	// engine.io server ends a WebSocket session so, without a close
	// packet; to a server it is a transport close), and otherFailure is
	// the reason of a failure no rule names (a server: a transport error;
	// a client: a dropped request, a transport close).
	closeFrameIsPeer bool
	otherFailure     Reason
	// The errors of an open packet on an open connection, of an upgrade
	// not done in time, and of an end by a panic.
	errOpen, errUpgradeTimeout, errInternal error

	// hooks, nil but in tests, tell tests of moments they wait for.
	hooks *testHooks
}

// testHooks are called at moments tests wait for, on the goroutine that
// sees them; nil outside tests. Set them before the first endpoint runs.
type testHooks struct {
	pollHeld func(sid string) // a session holds a GET
	pong     func(sid string) // the pinging side took a pong
	parked   func(sid string) // a quiet stream's reader parked it
	trimmed  func(sid string) // the endpoint let go of its scratch (trim)
}

// side is what differs between a server's session and a client: each
// method is one decision or duty of one side, called by the core at the
// point its comment names. session.go and client.go implement it.
type side interface {
	// onBegin is the first pass: announce the connection, start reading.
	onBegin()
	// commands takes in the side's own requests (a server's GETs,
	// WebSocket upgrades, data calls) before inbound packets are judged.
	commands()
	// receiveProbe handles a packet of the upgrade's probe exchange,
	// which the probing side (the client) and the answering side (the
	// server) play from opposite ends.
	receiveProbe(p codec.Packet)
	// ready handles word from c that a request of it is over (a
	// client's GET or POST), or that it has opened (a client's probe).
	ready(c transport.Conn, r readiness)
	// lost handles the failure of the transport in use.
	lost(err error)
	// upgraded runs after the switch to the probed transport; old is the
	// transport left.
	upgraded(old transport.Conn)
	// upgradeFailed runs when an upgrade is abandoned, before the probe
	// is closed; resume runs after, to take up the old transport again.
	upgradeFailed(err error)
	resume()
	// owesClose says whether an end for r owes the peer a close packet
	// after what is queued, and closeWait until when it may wait (zero:
	// no bound but the owner's).
	owesClose(r Reason) bool
	closeWait() actor.Instant
	// lingers says whether an end for r waits for the peer a little
	// before it ends (it then sets lingering and closeDue).
	lingers(r Reason) bool
	// closeWritten runs once the close packet has been handed to the
	// transport (err: how the write went).
	closeWritten(err error)
	// closeExpired runs when closeDue passes; false keeps waiting (it
	// has moved closeDue).
	closeExpired() bool
	// closeHow is how the transports are closed at the end for r.
	closeHow(r Reason) transport.Closing
	// deadline is a deadline of the side's own, zero if none; onDeadline
	// runs when a wake-up finds it due.
	deadline() actor.Instant
	onDeadline(now actor.Instant)
	// hearsWhileClosing says whether packets are taken between the
	// start of a close and the end (the reference client does; its
	// server does not). unheard sees what is not taken.
	hearsWhileClosing() bool
	unheard(m inbound)
	// sentBefore says whether packets from c, a transport the endpoint
	// has left, still count: the peer sent them before it switched (a
	// POST handled after the upgrade packet).
	sentBefore(c transport.Conn) bool
	// received counts a message from the peer; sent the messages and
	// bytes taken for a write; undelivered those lost; dropped the
	// events lost to the owner's cut.
	received(p codec.Packet)
	sent(n, bytes int)
	undelivered(n int)
	dropped(n int)
	// trimSide lets go of the side's own reusable memory (see trim).
	trimSide()
	// beforeEnd runs at the end before the transports close, afterEnd after
	// (the mailboxes closed): it reports the end to the application.
	beforeEnd()
	afterEnd()
	// finish runs in the last pass, once every event before the end has
	// been delivered or dropped.
	finish(ctx context.Context)
	// info and debug log with the side's way of naming the connection;
	// debugging reports whether debug goes anywhere, so that a caller
	// skips building its arguments (an allocation each) when it does not.
	info(msg string, args ...any)
	debug(msg string, args ...any)
	debugging() bool
}

// inbound is what transports deliver: one packet, a transport's end (err
// set), or word that a request of it is over (ready set). from is the
// transport it came from.
type inbound struct {
	from  transport.Conn
	pkt   codec.Packet
	err   error
	ready readiness
}

// readiness says which request of a transport is over (transport.Receiver's
// Ready), or that a stream has opened for the endpoint.
type readiness uint8

const (
	notReady   readiness = iota
	readDone             // a long-poll GET, its packets delivered
	writeDone            // a POST
	streamOpen           // a stream dialed for an upgrade, its probe sent
)

const inboundOverhead = 64 // bytes counted per queued item beyond its data

func inboundSize(m inbound) int        { return len(m.pkt.Data) + inboundOverhead }
func outSize(o transport.Outgoing) int { return len(o.Packet.Data) + inboundOverhead }

// liveConn is the stream in use, for the goroutine that must cut it.
type liveConn struct{ c transport.Conn }

// closeRequest is an end asked for from outside the actor.
type closeRequest struct {
	reason Reason
	err    error
}

// Errors behind ReasonTransportError, carried in Event.Err, on both sides.
var (
	errInternal         = errors.New("eio: session failed internally")
	errCloseWaitExpired = errors.New("eio: no poll came to take the close packet")
	errClosing          = errors.New("eio: closing")
)

// init readies the endpoint's mailboxes; the side then makes its runner
// and timer.
func (e *endpoint) init(s side, env *endpointEnv, v codec.Version, maxIn int, maxOut int) {
	e.side = s
	e.env = env
	e.version = v
	e.in = actor.NewSizedMailbox(256, maxIn, inboundSize)
	e.out = actor.NewSizedMailbox(maxOut/inboundOverhead+1, maxOut, outSize)
}

// The flags of state, over the index of the transport in use.
const (
	flagClosed  = 1 << 31 // closing or closed: see Server.Transport
	flagWoken   = 1 << 30 // a deadline passed or a close was asked for: see handleWake
	flagQuiet   = 1 << 29 // a stream went quiet and its reader parked: see trim
	flagStarted = 1 << 28 // the actor may run: see work
	modeMask    = flagStarted - 1
)

// setFlag sets f in state, from any goroutine.
func (e *endpoint) setFlag(f uint32) { e.state.Or(f) }

// flag reports whether f is set.
func (e *endpoint) flag(f uint32) bool { return e.state.Load()&f != 0 }

// takeFlag clears f and reports whether it was set.
func (e *endpoint) takeFlag(f uint32) bool { return e.state.And(^f)&f != 0 }

// transportNames are the names a mode stands for: polling, then the
// stream transports.
var transportNames = func() []string {
	names := []string{TransportPolling}
	for _, k := range transport.Kinds() {
		names = append(names, k.Name)
	}
	return names
}()

// setMode publishes the name of the transport in use.
func (e *endpoint) setMode(name string) {
	var mode uint32
	for i, n := range transportNames {
		if n == name {
			mode = uint32(i)
		}
	}
	for {
		old := e.state.Load()
		if e.state.CompareAndSwap(old, old&^modeMask|mode) {
			return
		}
	}
}

// setClosed publishes that the connection is ending.
func (e *endpoint) setClosed() { e.setFlag(flagClosed) }

// transportName names the transport in use, from any goroutine, and
// whether the connection is ending.
func (e *endpoint) transportName() (name string, closed bool) {
	st := e.state.Load()
	return transportNames[st&modeMask], st&flagClosed != 0
}

// attach makes c the transport in use.
func (e *endpoint) attach(c transport.Conn) {
	e.cur = c
	e.setMode(c.Name())
	if _, ok := c.(transport.Stream); ok {
		e.live.Store(&liveConn{c})
	} else {
		e.live.Store(nil)
	}
}

// work is one pass of the actor, run by its actor.Runner whenever there
// may be something to do: it handles everything there is and returns, so
// that an idle endpoint holds no goroutine. It waits only for room in the
// Events channel, and then still hears of new work through the runner's
// Kick. It returns true once the connection is over and its last event
// is out.
func (e *endpoint) work(ctx context.Context) (over bool) {
	if !e.flag(flagStarted) {
		// Registered but still in its handshake, which owns the
		// endpoint's fields until it starts it; that schedules a pass.
		// What woke us (a close request, a Send) waits in the mailboxes
		// until then.
		return false
	}
	passed := false
	defer func() {
		if !passed {
			e.abort(ctx) // a panic: let go of everything; the runner reports it
		}
	}()
	if !e.begun {
		e.begun = true
		e.begin()
	}
	for {
		if ctx.Err() != nil && !e.ended {
			// Server.Close, or a Client.Close that gave up: end now,
			// without waiting for anything.
			e.close(e.env.cutReason, e.env.cutErr)
			e.endTransport()
		}
		if e.flag(flagWoken) {
			e.handleWake()
		}
		e.side.commands()
		if e.queue.empty() && e.handleInbound() > 0 && e.writable() {
			// The application has just been handed messages and is likely
			// to answer them: let it run first, so that the answers leave
			// in this pass's one write instead of one write each.
			runtime.Gosched()
		}
		e.flush()
		if !e.queue.empty() {
			if e.deliver(ctx) {
				continue
			}
			// Closed while the application is not reading: what does not
			// fit now is dropped.
			e.dropEvents()
		}
		if e.flag(flagQuiet) && e.takeFlag(flagQuiet) { // a load first: no write on a busy pass
			e.trim()
		}
		passed = true
		if e.ended {
			e.timer.Stop()
			e.side.finish(ctx)
			return true
		}
		return false
	}
}

// begin starts the heartbeat, then the side.
func (e *endpoint) begin() {
	now := actor.Now()
	e.mark = now
	if e.pings {
		e.nextPing = now.Add(e.env.interval)
	} else {
		// The peer pings; silence for interval+wait ends the connection.
		e.pongDue = now.Add(e.env.interval + e.env.wait)
	}
	e.side.onBegin()
	e.arm()
}

// deliver hands the oldest pending event to the application, waiting for
// room while no other work comes in. It returns false only when the
// owner is cutting the connection (ctx ended) and there is no room.
func (e *endpoint) deliver(ctx context.Context) bool {
	next := e.queue.front()
	select {
	case e.env.events <- next:
		e.queue.pop()
		return true
	default:
	}
	select {
	case e.env.events <- next:
		e.queue.pop()
	case <-e.runner.Kick():
	case <-ctx.Done():
		select {
		case e.env.events <- next:
			e.queue.pop()
		default:
			return false
		}
	}
	return true
}

// dropEvents hands what fits to the application without waiting, and
// drops the rest, counting them.
func (e *endpoint) dropEvents() {
	dropped := 0
	for ; !e.queue.empty(); e.queue.pop() {
		select {
		case e.env.events <- e.queue.front():
		default:
			dropped++
		}
	}
	e.queue.drop()
	if dropped > 0 {
		e.side.dropped(dropped)
	}
}

// abort releases everything after a panic in work, and tells the
// application the connection ended, if its Events channel has room.
func (e *endpoint) abort(ctx context.Context) {
	e.setClosed()
	e.timer.Stop()
	if !e.ended {
		if e.reason == 0 || !e.env.probes {
			// A server's session reports a panic as a transport error
			// whatever its close was for; a client keeps the reason of a
			// close under way (its Close's).
			e.reason = ReasonTransportError
		}
		e.closeErr = e.env.errInternal
		e.endTransport()
	}
	e.dropEvents()
	e.side.finish(ctx)
}

// emit queues an event for the application, in order.
func (e *endpoint) emit(ev Event) { e.queue.push(e.env.events, ev) }

// writable reports whether queued packets have somewhere to go now. While
// a probe is answered the old transport is paused: nothing goes on it.
func (e *endpoint) writable() bool {
	return !e.ended && !e.probed && e.cur != nil && e.cur.Room().Packets != 0
}

// handleInbound takes in what the transports delivered and returns how
// many items that was.
func (e *endpoint) handleInbound() int {
	batch, _ := e.in.Drain(e.inBatch[:0])
	for i := range batch {
		m := &batch[i]
		switch {
		case e.ended:
			e.dropStray(*m)
		case e.lingering && m.from == e.cur && m.err != nil:
			// The peer's answer to our close, or the transport's end.
			e.endTransport()
		case e.reason == 0 || e.side.hearsWhileClosing() && !e.lingering,
			// A closing endpoint still finishes an upgrade it has
			// answered the probe of (see close).
			e.probe != nil && m.from == e.probe:
			e.receive(*m)
		default:
			e.side.unheard(*m)
		}
		batch[i] = inbound{}
	}
	e.inBatch = batch[:0]
	return len(batch)
}

// dropStray lets go of what arrives after the end: a stream that opened
// for it late is closed.
func (e *endpoint) dropStray(m inbound) {
	if m.ready == streamOpen && m.from != e.cur && m.from != e.probe {
		_ = m.from.CloseAs(transport.CloseGoingAway)
	}
}

func (e *endpoint) receive(m inbound) {
	switch {
	case m.ready != notReady:
		e.side.ready(m.from, m.ready)
	case e.probe != nil && m.from == e.probe:
		if m.err != nil {
			e.abandonUpgrade(m.err)
		} else {
			e.side.receiveProbe(m.pkt)
		}
	case m.from != e.cur:
		if m.err == nil && e.side.sentBefore(m.from) {
			e.dispatch(m.pkt)
		}
		// Otherwise: a transport already let go of.
	case m.err != nil:
		e.side.lost(m.err)
	default:
		e.dispatch(m.pkt)
	}
}

// dispatch acts on a packet from the transport in use.
func (e *endpoint) dispatch(p codec.Packet) {
	switch p.Type {
	case codec.Message:
		e.side.received(p)
		e.emit(Event{Type: EventMessage, SID: e.sid, Data: p.Data, Binary: p.Binary})
	case codec.Ping:
		if e.pings {
			e.close(ReasonTransportError, errClientPing)
			return
		}
		now := actor.Now()
		if e.env.probes {
			// The client judges a stall from the last ping; a protocol 3
			// server from its start, as before the protocol core.
			e.mark = now
		}
		e.pongDue = now.Add(e.env.interval + e.env.wait)
		e.arm()
		e.queueCtrl(codec.Packet{Type: codec.Pong, Data: p.Data})
	case codec.Pong:
		if !e.pings {
			return // a stray pong, which the reference ignores
		}
		e.pongDue = 0
		e.nextPing = actor.Now().Add(e.env.interval)
		e.arm()
		if h := e.env.hooks; h != nil && h.pong != nil {
			h.pong(e.sid)
		}
	case codec.Close:
		if e.reason != 0 {
			// Closing already (only a side that hears while closing gets
			// here): the peer answers our close packet, or ends first.
			if !e.closeSent {
				e.reason = e.env.peerClose
			}
			e.endTransport()
			return
		}
		e.close(e.env.peerClose, nil)
	case codec.Open:
		e.close(ReasonTransportError, e.env.errOpen)
	case codec.Noop, codec.Upgrade:
		// Nothing to do: a noop ends a poll; a stray upgrade outside a
		// probe changes nothing.
	}
}

// end ends the connection now, without a close packet or a wait. A
// connection closing already keeps its reason; err, if the first, is
// kept as the error behind the end.
func (e *endpoint) end(r Reason, err error) {
	if e.ended {
		return
	}
	if e.reason == 0 {
		e.reason = r
	}
	if e.closeErr == nil {
		e.closeErr = err
	}
	e.endTransport()
}

// reasonFor classifies how a transport failed, for either side: a close
// frame, or the connection gone (EOF, reset, closed), is a transport close
// (a normal close frame the peer's close, on a side that says so); an
// HTTP error answer, bad input, a limit or a timeout is a transport error.
func (e *endpoint) reasonFor(err error) Reason {
	if err == io.EOF { // the common end, without the reflection of errors.As below
		return ReasonTransportClose
	}
	var ce *transport.CloseError
	var he *HTTPError
	var se *codec.SyntaxError
	var op *net.OpError
	switch {
	case errors.As(err, &ce):
		if ce.Normal() && e.env.closeFrameIsPeer {
			return e.env.peerClose
		}
		return ReasonTransportClose
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.As(err, &op) && !op.Timeout(): // reset, refused
		return ReasonTransportClose
	case errors.As(err, &he), errors.As(err, &se),
		errors.Is(err, codec.ErrTooLarge), errors.Is(err, transport.ErrUnsupportedEncoding),
		errors.Is(err, transport.ErrMessageTooBig), errors.Is(err, transport.ErrProtocol),
		errors.Is(err, transport.ErrInvalidUTF8), errors.Is(err, context.DeadlineExceeded):
		return ReasonTransportError
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ReasonTransportError
	}
	return e.env.otherFailure
}

// asked returns the end someone asked for, when a failure for r may be
// its doing: the connection failed because it was asked to end and cut
// (a slow consumer, a Close that gave up). Nil otherwise.
func (e *endpoint) asked(r Reason) *closeRequest {
	if r != ReasonTransportClose && r != ReasonTransportError {
		return nil
	}
	return e.closeReq.Load()
}

// startProbe makes c, a stream that is to take over the connection, the
// probe of an upgrade that must be done by timeout, and starts reading
// it. It reports false, with c closed and no probe, when no reader could
// start.
func (e *endpoint) startProbe(c transport.Stream, timeout time.Duration) bool {
	if !e.read(c) {
		return false
	}
	e.probe = c
	e.upgradeDue = actor.Now().Add(timeout)
	e.arm()
	return true
}

// read starts reading c into the endpoint; on failure c is closed.
func (e *endpoint) read(c transport.Stream) bool {
	if err := e.env.readers.Read(c, e); err != nil {
		_ = c.CloseAs(transport.CloseGoingAway)
		return false
	}
	return true
}

// switchToProbe moves the connection to the probe: the upgrade is done.
func (e *endpoint) switchToProbe() {
	old := e.cur
	e.attach(e.probe)
	e.probe, e.probed = nil, false
	e.upgradeDue = 0
	e.side.upgraded(old)
	e.emit(Event{Type: EventUpgrade, SID: e.sid, Transport: e.cur.Name()})
	e.arm()
	e.flush()
}

// abandonUpgrade drops the probe; the connection goes on on the old
// transport.
func (e *endpoint) abandonUpgrade(err error) {
	if e.probe == nil {
		return
	}
	e.side.upgradeFailed(err)
	_ = e.probe.CloseAs(transport.CloseNormal)
	e.probe, e.probed = nil, false
	e.upgradeDue = 0
	e.side.resume()
	e.arm()
	e.flush()
}

// probeAnswered pauses the old transport: the probe has been answered,
// and the switch must come by timeout.
func (e *endpoint) probeAnswered(timeout time.Duration) {
	e.probed = true
	e.upgradeDue = actor.Now().Add(timeout)
	e.arm()
}

// linger waits up to timeout, once the close packet is out, for the
// peer's answer to it (its close, or the transport's end); the heartbeat
// no longer counts.
func (e *endpoint) linger(timeout time.Duration) {
	e.lingering = true
	e.pongDue = 0
	e.closeDue = actor.Now().Add(timeout)
	e.arm()
}

// queueCtrl queues one of the endpoint's own packets and sends it if it
// can.
func (e *endpoint) queueCtrl(p codec.Packet) {
	e.ctrl = append(e.ctrl, p)
	e.flush()
}

// collect takes what is due to the peer, as much as room allows: the
// endpoint's own packets, the application's, and the close packet when it
// is owed and nothing is left before it. closing reports that the close
// packet is in.
func (e *endpoint) collect(room transport.Room) (b []transport.Outgoing, closing bool) {
	if e.pings && e.reason == 0 {
		for _, p := range e.ctrl {
			if p.Type == codec.Ping {
				e.pingLeaves()
			}
		}
	}
	b = e.batch[:0]
	for _, p := range e.ctrl {
		b = append(b, transport.Outgoing{Packet: p})
	}
	clear(e.ctrl)
	e.ctrl = e.ctrl[:0]
	before := len(b)
	if room.Bytes > 0 {
		b = e.collectBytes(b, room)
	} else {
		if e.carry != nil {
			// Left by a byte-bounded write, before the transport changed.
			b = append(b, *e.carry)
			e.carry = nil
		}
		n := -1
		if room.Packets >= 0 {
			n = max(0, room.Packets-len(b))
		}
		b, _ = e.out.DrainMax(b, n)
	}
	if n := len(b) - before; n > 0 {
		size := 0
		for i := range b[before:] {
			size += len(b[before+i].Packet.Data)
		}
		e.side.sent(n, size)
	}
	if e.sendClose && !e.closeSent && e.carry == nil && e.out.Len() == 0 &&
		(room.Packets < 0 || len(b) < room.Packets) {
		b = append(b, transport.Outgoing{Packet: codec.Packet{Type: codec.Close}})
		closing = true
	}
	return b, closing
}

// collectBytes takes from out what fits room's byte bound, one packet at
// least; the first that does not fit waits in carry for the next write.
func (e *endpoint) collectBytes(b []transport.Outgoing, room transport.Room) []transport.Outgoing {
	var size int64
	for i := range b {
		size += transport.PayloadLen(b[i].Packet)
	}
	for {
		var it transport.Outgoing
		if e.carry != nil {
			it = *e.carry
		} else {
			var ok bool
			if it, ok = e.out.TryRecv(); !ok {
				break
			}
		}
		n := transport.PayloadLen(it.Packet)
		if len(b) > 0 && (room.Packets >= 0 && len(b) >= room.Packets || size+n > room.Bytes) {
			if e.carry == nil {
				e.carry = &it
			}
			break
		}
		e.carry = nil
		b = append(b, it)
		size += n
	}
	return b
}

// pingLeaves restarts the pong wait now that the ping is written: the
// peer cannot answer a ping before it has it, and the endpoint may have
// held it back (no GET to take it, or one held during an upgrade). The
// wait never gets shorter, so a peer that never polls again still times
// out from when the ping was queued.
func (e *endpoint) pingLeaves() {
	now := actor.Now()
	e.mark = now
	e.pongDue = max(e.pongDue, now.Add(e.env.wait))
	e.arm()
}

func (e *endpoint) release(b []transport.Outgoing) {
	clear(b)
	e.batch = b[:0]
}

// flush sends what is queued on the transport in use, if it can.
func (e *endpoint) flush() {
	if !e.writable() {
		return
	}
	b, closing := e.collect(e.cur.Room())
	if len(b) == 0 {
		return
	}
	if closing {
		e.closeSent = true
	}
	err := e.cur.Write(b)
	if err != nil {
		// Nothing says how much of the batch got through: count its
		// messages as undelivered rather than claim them.
		e.side.undelivered(transport.CountMessages(b))
	}
	e.release(b)
	switch {
	case closing:
		e.side.closeWritten(err)
	case errors.Is(err, net.ErrClosed):
		// The reader has answered the peer's close frame (or the
		// connection was cut). It reports that after the packets that
		// came before it, which must still be received: let that end
		// the connection, not this write.
	case err != nil:
		e.side.lost(err)
	}
}

// trim lets go of what the endpoint keeps for reuse while it is busy (its
// queues' rings, its scratch batches), once its stream has gone quiet and
// been parked: a process holds many idle connections, and a burst of
// traffic should not stay allocated in each for the rest of its life.
// Runs in the actor, at the end of a pass, when the scratch is unused.
func (e *endpoint) trim() {
	if len(e.ctrl) == 0 {
		e.ctrl = nil
	}
	e.batch, e.inBatch = nil, nil
	e.queue.trim()
	e.in.Trim()
	e.out.Trim()
	e.side.trimSide()
	if h := e.env.hooks; h != nil && h.trimmed != nil {
		h.trimmed(e.sid)
	}
}

// onTimer is the endpoint's timer firing, on the supervisor's goroutine.
func (e *endpoint) onTimer(time.Time) { e.wake() }

// wake makes the actor look at its deadlines and close request on its
// next pass, from any goroutine.
func (e *endpoint) wake() {
	e.setFlag(flagWoken)
	e.runner.Schedule()
}

func (e *endpoint) handleWake() {
	e.takeFlag(flagWoken)
	if r := e.closeReq.Load(); r != nil && e.reason == 0 {
		// Packets already accepted (a POST answered "ok") come before the
		// request: a client's close packet, and the messages POSTed with
		// it, must win over the abort of its long-poll that follows.
		e.handleInbound()
		if e.reason == 0 {
			e.close(r.reason, r.err)
		}
	}
	now := actor.Now()
	if e.reason == 0 && (due(e.upgradeDue, now) || due(e.side.deadline(), now)) ||
		e.heartbeatJudged() && due(e.pongDue, now) || due(e.closeDue, now) {
		// What arrived before the deadline passed counts before it is
		// judged: the upgrade packet before the upgrade timeout or the
		// settling of a GET held during the upgrade, the pong before the
		// ping timeout, a GET before a graceful close gives up waiting for
		// one. The deadline's wake-up and the request may have come in the
		// same pass, and this pass has not taken the mailboxes in yet.
		e.side.commands()
		if e.queue.empty() {
			e.handleInbound()
		}
		if e.ended {
			return
		}
	}
	if due(e.upgradeDue, now) {
		e.abandonUpgrade(e.env.errUpgradeTimeout)
		if e.ended {
			return
		}
	}
	if due(e.side.deadline(), now) {
		e.side.onDeadline(now)
	}
	if due(e.closeDue, now) && e.side.closeExpired() {
		if !e.lingering {
			e.closeErr = errors.Join(e.closeErr, errCloseWaitExpired)
		}
		e.endTransport()
		return
	}
	if due(e.nextPing, now) && e.reason == 0 {
		e.nextPing = 0
		e.mark = now
		e.pongDue = now.Add(e.env.wait)
		e.queueCtrl(codec.Packet{Type: codec.Ping})
	}
	if due(e.pongDue, now) && e.heartbeatJudged() {
		if e.env.noTimeout {
			e.pongDue, e.nextPing = 0, now.Add(e.env.interval)
		} else if e.queue.stalled(e.mark) {
			// We stopped reading because the application is slow; the
			// heartbeat may be waiting behind its messages. Give it time,
			// from now: the next judgment counts only stalls after this
			// one, or a peer gone during a stall would be waited for
			// forever.
			e.mark = now
			e.pongDue = now.Add(e.env.wait)
		} else {
			e.side.info("eio: ping timeout")
			if e.reason != 0 {
				// A client whose close is stuck: the heartbeat ends it.
				e.reason = ReasonPingTimeout
				e.endTransport()
				return
			}
			e.close(ReasonPingTimeout, nil)
		}
	}
	e.arm()
}

// heartbeatJudged reports whether a missing ping or pong ends the
// connection now: while it is open, and on the client while its close
// has not gone out yet (see endpointEnv.probes).
func (e *endpoint) heartbeatJudged() bool {
	return !e.ended && (e.reason == 0 || e.env.probes && !e.lingering)
}

func due(t, now actor.Instant) bool { return t != 0 && now >= t }

// arm sets the endpoint's one timer to its nearest deadline.
func (e *endpoint) arm() {
	var next actor.Instant
	for _, t := range [...]actor.Instant{e.nextPing, e.pongDue, e.upgradeDue, e.closeDue, e.side.deadline()} {
		if t != 0 && (next == 0 || t < next) {
			next = t
		}
	}
	if next == e.armed {
		return
	}
	e.armed = next
	if next == 0 {
		e.timer.Stop()
	} else {
		e.timer.ResetAt(next)
	}
}

// requestClose asks the actor, from any goroutine, to end the connection;
// the first request wins, and first says whether this was it. With abort
// the stream in use is cut at once, for a peer that is not reading.
func (e *endpoint) requestClose(r Reason, err error, abort bool) (first bool) {
	first = e.closeReq.CompareAndSwap(nil, &closeRequest{r, err})
	if first {
		e.wake()
	}
	if abort {
		e.cut()
	}
	return first
}

// cut closes the stream in use at once, from any goroutine: it unblocks
// an actor caught in a write to a peer that does not read.
func (e *endpoint) cut() {
	if l := e.live.Load(); l != nil {
		_ = l.c.CloseAs(transport.CloseAbort)
	}
}

// close starts ending the connection. An end the side owes a close
// packet for waits for what is queued, then the close packet; a side may
// linger a little for the peer; any other end stops at once.
func (e *endpoint) close(r Reason, err error) {
	if e.reason != 0 {
		return
	}
	if req := e.asked(r); req != nil {
		r, err = req.reason, req.err // report what was asked for
	}
	e.reason, e.closeErr = r, err
	e.setClosed()
	e.out.Close() // Send fails from now on; what is queued still drains
	owed := e.side.owesClose(r)
	switch {
	case e.probe != nil && e.probed && owed && !e.env.probes:
		// The probe is answered: the peer has stopped polling and its
		// upgrade packet will move the connection to the probe, where
		// the queued messages and the close packet then go. Closing the
		// probe now would leave them no transport: no GET would come.
		// The upgrade timeout still bounds the wait for that packet.
	case e.probe != nil && e.env.probes:
		// The client gives its upgrade up as it does any failed one: the
		// probe closes normally, the side hears why.
		e.abandonUpgrade(errClosing)
	case e.probe != nil:
		_ = e.probe.CloseAs(transport.CloseGoingAway)
		e.probe, e.probed = nil, false
		e.upgradeDue = 0
	}
	if !e.env.probes {
		e.nextPing, e.pongDue = 0, 0
	}
	if err != nil && e.side.debugging() {
		e.side.debug("eio: connection closing", "reason", r.String(), "err", err)
	}
	switch {
	case owed:
		e.sendClose = true
		e.closeDue = e.side.closeWait()
		e.arm()
		e.flush()
	case e.side.lingers(r):
	default:
		e.endTransport()
	}
}

// endTransport lets go of every transport and reports the end: the
// connection is over.
func (e *endpoint) endTransport() {
	if e.ended {
		return
	}
	e.ended = true
	e.lingering = false
	e.side.beforeEnd()
	e.setClosed()
	e.out.Close()
	e.in.Close()
	how := e.side.closeHow(e.reason)
	if e.cur != nil {
		_ = e.cur.CloseAs(how)
	}
	if e.probe != nil {
		_ = e.probe.CloseAs(transport.CloseGoingAway)
	}
	e.closeDue, e.pongDue, e.nextPing, e.upgradeDue = 0, 0, 0, 0
	e.timer.Stop()
	e.side.afterEnd()
}

// The endpoint is its transports' Receiver.

// Receive queues p from c for the actor, waiting while the inbound queue
// is full (the application is behind).
func (e *endpoint) Receive(c transport.Conn, p codec.Packet) error {
	return e.in.Send(context.Background(), inbound{from: c, pkt: p})
}

// TryReceive queues p from c if the inbound queue has room now; it is how
// a parked connection's messages, read on the poller's goroutine, reach
// the actor without a reading goroutine.
func (e *endpoint) TryReceive(c transport.Conn, p codec.Packet) (bool, error) {
	err := e.in.TrySend(inbound{from: c, pkt: p})
	if errors.Is(err, actor.ErrFull) {
		return false, nil
	}
	return err == nil, err
}

// End queues the end of c for the actor.
func (e *endpoint) End(c transport.Conn, err error) {
	if errors.Is(err, actor.ErrStopped) {
		// On the poller's goroutine, while everything stops: no wait.
		_ = e.in.TrySend(inbound{from: c, err: err})
	} else {
		_ = e.in.Send(context.Background(), inbound{from: c, err: err})
	}
}

// Ready queues word that a request of c is over.
func (e *endpoint) Ready(c transport.Conn, reading bool) {
	r := writeDone
	if reading {
		r = readDone
	}
	_ = e.in.Send(context.Background(), inbound{from: c, ready: r})
}

// Idle notes that a stream went quiet: the next pass trims.
func (e *endpoint) Idle(transport.Conn) {
	if h := e.env.hooks; h != nil && h.parked != nil {
		h.parked(e.sid)
	}
	e.setFlag(flagQuiet)
	if e.in.Len() == 0 {
		// Otherwise the pass that takes what is queued (a parked
		// stream's last packets, read on the poller's goroutine) sees
		// the flag at its end, after its write: no pass of its own.
		e.runner.Schedule()
	}
}
