package eio

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/chanio/chanio/actor"
	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/transport"
	"github.com/gobwas/ws"
)

// Client is one Engine.IO connection to a server, opened by [Dial]. It
// speaks protocol 4 over long-polling, WebSocket, or polling upgraded to
// WebSocket, to any compliant server: chanio's own, Node's engine.io,
// python-engineio.
//
// A Client is an actor, like a server session: one goroutine owns its
// state, readers push what arrives into its mailbox, and the application
// talks to it through [Client.Events], [Client.Send] and [Client.Close],
// all safe from any goroutine and none of which waits on the network.
type Client struct {
	opts clientOptions
	log  *slog.Logger
	sid  string

	// From the open packet.
	pingInterval time.Duration
	pingTimeout  time.Duration
	maxPayload   int64 // the server's bound on what we send; 0 if unknown
	offersWS     bool  // the server offered the upgrade to websocket

	pollURL  string // polling GETs and POSTs, with the sid
	probeURL string // the WebSocket of an upgrade, with the sid

	group *actor.Group // the actor
	io    *actor.Group // HTTP requests, WebSocket readers, the probe

	out  *actor.Mailbox[codec.Packet]  // Send; bounded by MaxQueueBytes
	in   *actor.Mailbox[clientInbound] // readers: polls, frames, probes
	ctl  *actor.Mailbox[postDone]      // the writer: POST results
	wake chan struct{}                 // capacity 1: Close was called

	closeAsked atomic.Bool
	mode       atomic.Uint32 // 0 polling, 1 websocket: what Transport says

	events chan Event
	done   chan struct{}

	// Written by the actor before done is closed.
	reason Reason
	err    error

	// Everything below is owned by the actor goroutine.
	initial []codec.Packet // packets that came with the open packet

	ws       *transport.WebSocket // the WebSocket in use; nil while polling
	reader   *actor.Actor         // the goroutine reading ws
	probe    *transport.WebSocket // an answered probe, waiting for the switch
	probeAct *actor.Actor         // the goroutine that probes and then reads

	upgrading bool // pausing polling to switch to probe
	getting   bool // a long-poll GET is in flight
	posting   bool // a POST is in flight

	ctrl     []codec.Packet // the actor's own packets (pong) to send next
	batch    []codec.Packet // scratch for a write
	inBatch  []clientInbound
	carry    codec.Packet // a packet taken from out that did not fit a POST
	hasCarry bool

	queue      eventQueue // events waiting for room in events
	timer      *time.Timer
	armed      time.Time // what timer is set to; zero when stopped
	lastPing   time.Time // the open packet or the last ping
	pingDue    time.Time // no ping by then: ping timeout
	upgradeDue time.Time // the switch must be done by then

	closing   bool                 // Close was called: flush, then close packet
	outClosed bool                 // out no longer takes sends
	closeSent bool                 // the close packet has been handed to a transport
	linger    *transport.WebSocket // a WebSocket waiting for the server's close frame
	ended     bool
}

// inKind says what a reader delivered.
type inKind uint8

const (
	inPoll  inKind = iota // a long-poll GET's packets, or its failure
	inFrame               // one packet from conn, or conn's end
	inProbe               // conn answered the probe, or the probe failed
)

// clientInbound is what readers push into the actor's in mailbox.
type clientInbound struct {
	kind inKind
	conn *transport.WebSocket
	pkt  codec.Packet
	pkts []codec.Packet
	err  error
}

// postDone is the result of a POST.
type postDone struct{ err error }

const (
	clientItemOverhead = 64 // bytes counted per queued item beyond its data
	// maxPacketsPerClientPost bounds the packets of one POST: python-engineio
	// refuses a payload of more than 16 (Payload.max_decode_packets).
	maxPacketsPerClientPost = 16
	// defaultServerPayload is the maxPayload assumed for batching when the
	// server does not send one: the reference default.
	defaultServerPayload = 1_000_000
	// maxPacketsPerPoll bounds the packets of one polling response: each
	// decoded packet costs far more memory than its two bytes on the wire.
	maxPacketsPerPoll = 1 << 20
	// maxTimerMS bounds the server's pingInterval and pingTimeout.
	maxTimerMS = 1<<31 - 1
)

func clientInboundSize(m clientInbound) int {
	n := len(m.pkt.Data) + clientItemOverhead
	for _, p := range m.pkts {
		n += len(p.Data)
	}
	return n
}

func clientOutSize(p codec.Packet) int { return len(p.Data) + clientItemOverhead }

// Errors behind a client's [ReasonTransportError], carried in Event.Err.
var (
	errClientInternal    = errors.New("eio: client failed internally")
	errServerOpen        = errors.New("eio: open packet from the server on an open connection")
	errProbeAnswer       = errors.New("eio: websocket probe not answered with 3probe")
	errClientUpgradeSlow = errors.New("eio: upgrade timed out waiting for in-flight requests")
	errUnexpectedOnProbe = errors.New("eio: packet on the websocket before the upgrade")
	errResponseOverLimit = fmt.Errorf("eio: server response over ClientOptions.MaxPayload: %w", codec.ErrTooLarge)
	errUnsupportedEncode = errors.New("eio: unsupported Content-Encoding in a polling response")
	errUnknownTransport  = errors.New("eio: unknown transport in ClientOptions.Transports")
	errBadURL            = errors.New("eio: URL must be http, https, ws or wss with a host")
	errNotMessage        = errors.New("eio: not a message packet")
)

// Dial opens an Engine.IO connection and returns once the server's open
// packet has arrived (the EventConnect is then first on [Client.Events]).
//
// rawURL is the server's address: http://, https://, ws:// or wss://, a
// host and optional port. If it has a path other than "/", that path is the
// Engine.IO endpoint; otherwise [ClientOptions.Path] ("/engine.io/" by
// default) is. Its query parameters are sent on every request. opts may be
// nil for all defaults.
//
// ctx bounds the handshake only: once Dial has returned, its expiry does
// not affect the connection; end it with [Client.Close]. The handshake is
// also bounded by RequestTimeout.
//
// Dial's errors: a [*HTTPError] when the server refuses the handshake (with
// its status, the URL without its query, and the JSON code and message of
// the body: code 5 for an unsupported protocol version from the reference
// servers, the message alone from an Authorize rejection); an error
// wrapping [ErrNotEngineIO] when the URL answers but not as an Engine.IO
// server (a web page); an error wrapping [codec.ErrBadHandshake] when the
// open packet is invalid; an error wrapping [codec.ErrTooLarge] when the
// answer is over MaxPayload; ctx's error, wrapped, when ctx ends first
// (test with errors.Is); a wrapped context.DeadlineExceeded when
// RequestTimeout passes; otherwise the network error. When the server had
// opened a session before the failure, Dial closes it on the way out.
func Dial(ctx context.Context, rawURL string, opts *ClientOptions) (*Client, error) {
	o := opts.withDefaults()
	c, err := dial(ctx, rawURL, o)
	if err != nil {
		if o.own != nil {
			o.own.CloseIdleConnections()
		}
		return nil, err
	}
	return c, nil
}

func dial(ctx context.Context, rawURL string, o clientOptions) (*Client, error) {
	if o.open != TransportPolling && o.open != TransportWebSocket {
		return nil, fmt.Errorf("%w: %q", errUnknownTransport, o.Transports)
	}
	ep, err := parseClientEndpoint(rawURL, o.Path, o.Query)
	if err != nil {
		return nil, err
	}
	c := &Client{opts: o, log: o.Logger}
	hctx, cancel := context.WithTimeout(ctx, o.RequestTimeout)
	defer cancel()
	var hs codec.Handshake
	var conn *transport.WebSocket
	if o.open == TransportPolling {
		hs, c.initial, err = c.handshakePolling(hctx, ep)
	} else {
		hs, conn, err = c.handshakeWebSocket(hctx, ep.url(TransportWebSocket, ""))
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("eio: dial %s: %w", ep.redacted(), ctx.Err())
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("eio: dial %s: handshake took over RequestTimeout (%v): %w",
				ep.redacted(), o.RequestTimeout, err)
		}
		var he *HTTPError
		if errors.As(err, &he) {
			return nil, he
		}
		return nil, fmt.Errorf("eio: dial %s: %w", ep.redacted(), err)
	}

	c.sid = hs.SID
	c.log = o.Logger.With("sid", hs.SID)
	// Clamped as JavaScript timers are (2^31-1 ms, about 24.8 days), so
	// that no sum of them overflows a Duration.
	c.pingInterval = time.Duration(min(hs.PingInterval, maxTimerMS)) * time.Millisecond
	c.pingTimeout = time.Duration(min(hs.PingTimeout, maxTimerMS)) * time.Millisecond
	c.maxPayload = hs.MaxPayload
	c.offersWS = slices.Contains(hs.Upgrades, TransportWebSocket)
	c.pollURL = ep.url(TransportPolling, hs.SID)
	c.probeURL = ep.url(TransportWebSocket, hs.SID)
	c.start(conn)
	return c, nil
}

// start creates the actor's mailboxes and goroutines for an open
// connection; conn is the WebSocket it opened on, nil for polling.
func (c *Client) start(conn *transport.WebSocket) {
	o := &c.opts
	c.out = actor.NewSizedMailbox(o.MaxQueueBytes/clientItemOverhead+1, o.MaxQueueBytes, clientOutSize)
	c.in = actor.NewSizedMailbox(256, int(min(o.MaxPayload, 1<<30)), clientInboundSize)
	c.ctl = actor.NewMailbox[postDone](1)
	c.wake = make(chan struct{}, 1)
	c.events = make(chan Event, o.EventBuffer)
	c.done = make(chan struct{})
	c.timer = time.NewTimer(time.Hour)
	c.timer.Stop()
	c.group = actor.NewGroup(func(name string, err error) {
		c.log.Error("eio: client goroutine failed", "name", name, "err", err)
	})
	c.io = actor.NewGroup(func(name string, err error) {
		c.log.Error("eio: client goroutine failed", "name", name, "err", err)
	})
	opened := TransportPolling
	if conn != nil {
		opened = TransportWebSocket
	}
	c.events <- Event{Type: EventConnect, SID: c.sid, Transport: opened}
	if conn != nil {
		c.ws = conn
		c.mode.Store(1)
		c.reader, _ = c.io.Spawn("websocket reader", func(ctx context.Context) error {
			c.readFrames(ctx, conn)
			return nil
		})
	}
	// A fresh group cannot refuse. The actor is its only goroutine: seal
	// it so that Wait returns once the actor has.
	_ = c.group.Go("client", c.run)
	c.group.Seal()
}

// Events returns the channel on which the client reports, in order: one
// EventConnect (already queued when Dial returns), the server's messages
// (with one EventUpgrade among them when the client moves from polling to
// WebSocket), and exactly one EventDisconnect, after which the channel is
// closed. Every event carries the client's SID.
//
// Read it without pause: while it is full the client stops reading from
// the server (and a ping left unread can end the connection). If Close
// gives up because its ctx ended, message events that do not fit in the
// channel's buffer by then are dropped, and if the buffer is full the
// oldest buffered events make room for the disconnect, which is always
// delivered.
func (c *Client) Events() <-chan Event { return c.events }

// SID returns the session id the server assigned in its open packet.
func (c *Client) SID() string { return c.sid }

// Transport returns the transport in use: [TransportPolling] (also while
// an upgrade is under way) or [TransportWebSocket]. After the end it names
// the last one used.
func (c *Client) Transport() string {
	if c.mode.Load() == 1 {
		return TransportWebSocket
	}
	return TransportPolling
}

// Done is closed once the connection has ended: the EventDisconnect has
// been queued (or dropped, see Events), the Events channel closed, and the
// client's connections and request goroutines are gone.
func (c *Client) Done() <-chan struct{} { return c.done }

// Reason returns why the connection ended: [ReasonServerDisconnect] for a
// close packet from the server (or a normal WebSocket close frame, which
// is how Node's engine.io ends a WebSocket session); [ReasonClientDisconnect]
// after Close; [ReasonPingTimeout] when no ping came for pingInterval +
// pingTimeout; [ReasonTransportClose] when the connection dropped (EOF,
// reset, refused); [ReasonTransportError] for a protocol violation, a
// response over a limit, or an HTTP error answer to a poll or POST (for
// example 400 "Session ID unknown" from a server that forgot the session;
// the reference client also calls a failed poll a transport error). It is
// zero until Done is closed.
func (c *Client) Reason() Reason {
	select {
	case <-c.done:
		return c.reason
	default:
		return 0
	}
}

// Err returns the error behind the end, when there is one (a
// [*HTTPError], a *codec.SyntaxError, a network error); nil until Done is
// closed.
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Send queues data as a text message. data must be valid UTF-8 (use
// [Client.SendBinary] for bytes): otherwise Send returns [ErrInvalidUTF8],
// queues nothing, and the connection goes on. The client keeps data until
// it is written: do not change it after the call.
//
// Send never waits on the network. It returns [ErrPayloadTooLarge] when
// the message alone is over the server's maxPayload (as encoded on the
// transport in use), [ErrSlowConsumer] when the outbound queue is at
// MaxQueueBytes (the message is refused, the connection stays up), and
// [ErrSessionClosed] once Close has been called or the connection ended.
func (c *Client) Send(data []byte) error {
	return c.send(codec.Packet{Type: codec.Message, Data: data})
}

// SendBinary queues data as a binary message, as [Client.Send] does text.
func (c *Client) SendBinary(data []byte) error {
	return c.send(codec.Packet{Type: codec.Message, Data: data, Binary: true})
}

// SendJSON encodes v with encoding/json and queues it as a text message.
func (c *Client) SendJSON(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.Send(data)
}

func (c *Client) send(p codec.Packet) error {
	if !p.Binary && !utf8.Valid(p.Data) {
		return ErrInvalidUTF8
	}
	if c.maxPayload > 0 && wireLen(p, c.mode.Load() == 0) > c.maxPayload {
		return ErrPayloadTooLarge
	}
	return sendErr(c.out.TrySend(p))
}

// sendErr maps what the outbound mailbox says to Send's errors.
func sendErr(err error) error {
	switch err {
	case nil:
		return nil
	case actor.ErrFull:
		return ErrSlowConsumer
	default:
		return ErrSessionClosed
	}
}

// SendPackets queues ps, which must be message packets (codec.Message,
// text or binary), as one unit: all of them, in order and with no message
// of another Send between them, or none. It is for a protocol that puts
// one message of its own in several Engine.IO messages, as Socket.IO does
// a packet and its binary attachments, and must not leave half of it on
// the connection. Its errors are Send's, for the unit as a whole:
// [ErrPayloadTooLarge] when one of ps is over the server's maxPayload,
// [ErrSlowConsumer] when the unit does not fit in the outbound queue (which
// takes a unit over MaxQueueBytes only when empty, as it does a message),
// [ErrSessionClosed] once Close has been called or the connection ended.
// The client keeps the packets' data until it is written.
func (c *Client) SendPackets(ps ...codec.Packet) error {
	polling := c.mode.Load() == 0
	for _, p := range ps {
		if p.Type != codec.Message {
			return fmt.Errorf("%w: SendPackets takes message packets, not %v", errNotMessage, p.Type)
		}
		if c.maxPayload > 0 && wireLen(p, polling) > c.maxPayload {
			return ErrPayloadTooLarge
		}
	}
	return sendErr(c.out.TrySendAll(ps))
}

// wireLen is the size of p on the wire: in a polling payload (binary
// as 'b' and base64) or as a WebSocket frame.
func wireLen(p codec.Packet, polling bool) int64 {
	if p.Binary && p.Type == codec.Message {
		if polling {
			return 1 + int64(base64.StdEncoding.EncodedLen(len(p.Data)))
		}
		return int64(len(p.Data))
	}
	return 1 + int64(len(p.Data))
}

// Close ends the connection from the client side: messages already
// accepted by Send are written, then a close packet, and on WebSocket the
// client waits (up to RequestTimeout) for the server's close frame. Close
// returns once the EventDisconnect ([ReasonClientDisconnect]) has been
// queued and every goroutine of the client has exited.
//
// If ctx ends first, the connection is cut at once (what is unsent is
// lost) and Close returns ctx.Err() after the goroutines have exited. Close
// is idempotent; on a connection that has already ended it returns nil.
// It may be called from the goroutine that reads Events: if the Events
// buffer is full, the end waits for room until ctx ends (see Events).
func (c *Client) Close(ctx context.Context) error {
	if c.closeAsked.CompareAndSwap(false, true) {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	select {
	case <-c.done:
		c.group.Wait()
		return nil
	default:
	}
	select {
	case <-c.done:
		c.group.Wait()
		return nil
	case <-ctx.Done():
	}
	// Cut: cancelling io aborts requests and closes every WebSocket, which
	// unblocks an actor caught in a write; cancelling group ends the actor.
	c.io.Stop()
	c.group.Stop()
	<-c.done
	c.group.Wait()
	return ctx.Err()
}

// run is the client actor's goroutine.
func (c *Client) run(ctx context.Context) error {
	defer c.finish(ctx)
	c.lastPing = time.Now()
	c.pingDue = c.lastPing.Add(c.pingInterval + c.pingTimeout)
	c.arm()
	if len(c.initial) > 0 {
		c.receivePackets(c.initial)
		c.initial = nil
	}
	if !c.ended && c.ws == nil {
		c.startPoll()
		if c.opts.upgrade && c.offersWS {
			c.startProbe()
		}
	}
	for !c.ended {
		var inReady, outReady <-chan struct{}
		if c.queue.empty() {
			inReady = c.in.Ready()
		}
		if c.canFlush() {
			outReady = c.out.Ready()
		}
		var events chan<- Event
		var next Event
		if !c.queue.empty() {
			events, next = c.events, c.queue.front()
		}
		select {
		case <-inReady:
			c.handleIn()
		case <-c.ctl.Ready():
			c.handlePostDone()
		case <-outReady:
			c.flush()
		case <-c.wake:
			c.startClose()
		case <-c.timer.C:
			c.handleTimer()
		case events <- next:
			c.queue.pop()
		case <-ctx.Done():
			c.end(ReasonClientDisconnect, nil)
		}
	}
	return nil
}

// finish runs when the actor returns or panics: it waits for the client's
// other goroutines, then delivers the remaining events, the disconnect
// last, and closes Events and Done.
func (c *Client) finish(ctx context.Context) {
	if !c.ended {
		// Only a panic gets here.
		c.end(ReasonTransportError, errClientInternal)
	}
	if c.linger != nil && c.reader != nil {
		// Let the reader see the server's close frame (or the linger
		// deadline) before the connection is cut.
		select {
		case <-c.reader.Done():
		case <-ctx.Done():
		}
	}
	c.io.Stop()
	c.io.Wait()
	if c.opts.own != nil {
		c.opts.own.CloseIdleConnections()
	}
	c.timer.Stop()
	dropped := 0
	for ; !c.queue.empty(); c.queue.pop() {
		select {
		case c.events <- c.queue.front():
		case <-ctx.Done():
			// Close gave up: what does not fit now is dropped.
			select {
			case c.events <- c.queue.front():
			default:
				dropped++
			}
		}
	}
	// The disconnect is always delivered: once Close has given up, older
	// events still buffered make room for it if they must. The actor is
	// the only sender, so the loop ends.
	last := Event{Type: EventDisconnect, SID: c.sid, Reason: c.reason, Err: c.err}
	for sent := false; !sent; {
		select {
		case c.events <- last:
			sent = true
		case <-ctx.Done():
			select {
			case c.events <- last:
				sent = true
			case <-c.events:
				dropped++
			}
		}
	}
	if dropped > 0 {
		c.log.Warn("eio: events dropped at close", "count", dropped)
	}
	c.queue.drop()
	close(c.events)
	close(c.done)
}

// emit queues an event for the application, in order.
func (c *Client) emit(ev Event) { c.queue.push(c.events, ev) }

func (c *Client) handleIn() {
	batch, _ := c.in.Drain(c.inBatch[:0])
	for i := range batch {
		if !c.ended {
			c.receive(batch[i])
		} else if batch[i].kind == inProbe && batch[i].conn != nil {
			_ = batch[i].conn.Close()
		}
		batch[i] = clientInbound{}
	}
	c.inBatch = batch[:0]
}

func (c *Client) receive(m clientInbound) {
	switch m.kind {
	case inPoll:
		c.getting = false
		if m.err != nil && c.closeSent {
			// The server ended the session on our close packet before
			// the POST that carried it returned.
			c.end(ReasonClientDisconnect, nil)
			return
		}
		if m.err != nil {
			c.endOnError(m.err)
			return
		}
		c.receivePackets(m.pkts)
		c.afterPoll()
	case inFrame:
		switch {
		case m.conn == c.ws:
			if m.err != nil {
				c.endOnError(m.err)
				return
			}
			c.onPacket(m.pkt)
		case m.conn == c.probe && m.err != nil:
			c.abandonUpgrade(m.err)
		case m.conn == c.probe:
			c.abandonUpgrade(errUnexpectedOnProbe)
		}
		// Anything else comes from a WebSocket already let go of.
	case inProbe:
		if m.err != nil {
			c.log.Debug("eio: websocket probe failed; staying on polling", "err", m.err)
			return
		}
		if c.closing || c.ws != nil {
			_ = m.conn.CloseWith(ws.StatusGoingAway)
			return
		}
		c.log.Debug("eio: websocket probe answered; pausing polling")
		c.probe = m.conn
		c.upgrading = true
		c.upgradeDue = time.Now().Add(c.opts.RequestTimeout)
		c.arm()
		c.maybeSwitch()
	}
}

func (c *Client) receivePackets(pkts []codec.Packet) {
	for _, p := range pkts {
		if c.ended {
			return
		}
		c.onPacket(p)
	}
}

func (c *Client) onPacket(p codec.Packet) {
	switch p.Type {
	case codec.Message:
		c.emit(Event{Type: EventMessage, SID: c.sid, Data: p.Data, Binary: p.Binary})
	case codec.Ping:
		now := time.Now()
		c.lastPing = now
		c.pingDue = now.Add(c.pingInterval + c.pingTimeout)
		c.arm()
		c.queueCtrl(codec.Packet{Type: codec.Pong, Data: p.Data})
	case codec.Close:
		if c.closeSent {
			// The server's answer to our close packet.
			c.end(ReasonClientDisconnect, nil)
			return
		}
		c.end(ReasonServerDisconnect, nil)
	case codec.Open:
		c.end(ReasonTransportError, errServerOpen)
	case codec.Pong, codec.Noop, codec.Upgrade:
		// Nothing to do: a noop ends a poll, a stray pong or upgrade
		// changes nothing.
	}
}

// afterPoll starts the next long-poll unless polling is paused or over.
func (c *Client) afterPoll() {
	switch {
	case c.ended:
	case c.upgrading:
		c.maybeSwitch()
	case c.ws == nil && !c.closing:
		c.startPoll()
	}
}

// startPoll sends the one long-poll GET.
func (c *Client) startPoll() {
	if c.getting {
		return
	}
	ctx, cancel := context.WithTimeout(c.io.Context(), c.pingInterval+c.pingTimeout+c.opts.RequestTimeout)
	err := c.io.Go("poll", func(ioctx context.Context) error {
		defer cancel()
		pkts, err := c.poll(ctx)
		_ = c.in.Send(ioctx, clientInbound{kind: inPoll, pkts: pkts, err: err})
		return nil
	})
	if err != nil {
		cancel() // the client is ending
		return
	}
	c.getting = true
}

// startProbe opens the WebSocket of an upgrade and probes it.
func (c *Client) startProbe() {
	a, err := c.io.Spawn("websocket probe", func(ctx context.Context) error {
		c.probeWebSocket(ctx)
		return nil
	})
	if err == nil {
		c.probeAct = a
	}
}

// maybeSwitch finishes an upgrade once polling is paused: no GET and no
// POST in flight. It sends the upgrade packet on the probed WebSocket and
// moves everything queued there.
func (c *Client) maybeSwitch() {
	if !c.upgrading || c.getting || c.posting || c.ended {
		return
	}
	up := [1]codec.Packet{{Type: codec.Upgrade}}
	if err := c.probe.WritePackets(up[:], codec.V4); err != nil {
		c.abandonUpgrade(err)
		return
	}
	c.ws, c.reader = c.probe, c.probeAct
	c.probe, c.probeAct = nil, nil
	c.upgrading = false
	c.upgradeDue = time.Time{}
	c.mode.Store(1)
	c.arm()
	c.log.Debug("eio: upgraded to websocket")
	c.emit(Event{Type: EventUpgrade, SID: c.sid, Transport: TransportWebSocket})
	c.flush()
}

// abandonUpgrade drops the probed WebSocket; the client goes on polling.
func (c *Client) abandonUpgrade(err error) {
	c.log.Debug("eio: upgrade abandoned; staying on polling", "err", err)
	if c.probe != nil {
		_ = c.probe.CloseWith(ws.StatusNormalClosure)
		c.probe, c.probeAct = nil, nil
	}
	c.upgrading = false
	c.upgradeDue = time.Time{}
	c.arm()
	if c.ended || c.ws != nil {
		return
	}
	if !c.closing {
		c.startPoll()
	}
	c.flush()
}

// queueCtrl queues one of the actor's own packets and sends it if it can.
func (c *Client) queueCtrl(p codec.Packet) {
	c.ctrl = append(c.ctrl, p)
	c.flush()
}

// canFlush reports whether a wake-up on out can lead to a write now.
func (c *Client) canFlush() bool {
	return !c.ended && !c.outClosed && (c.ws != nil || !c.posting && !c.upgrading)
}

// postLimit is what one POST body may hold.
func (c *Client) postLimit() int64 {
	if c.maxPayload > 0 {
		return c.maxPayload
	}
	return defaultServerPayload
}

// collect takes what is due to the server: the actor's own packets, then
// the application's, then the close packet once everything before it is
// taken. With limited (a POST) it stops at the server's maxPayload and
// maxPacketsPerClientPost; a packet that does not fit waits in carry.
func (c *Client) collect(limited bool) []codec.Packet {
	b := append(c.batch[:0], c.ctrl...)
	clear(c.ctrl)
	c.ctrl = c.ctrl[:0]
	limit := c.postLimit()
	var size int64
	for _, p := range b {
		size += wireLen(p, true) + 1
	}
	for {
		var p codec.Packet
		if c.hasCarry {
			p = c.carry
		} else {
			var ok bool
			if p, ok = c.out.TryRecv(); !ok {
				break
			}
		}
		n := wireLen(p, true) + 1 // with its separator
		if limited && len(b) > 0 && (len(b) >= maxPacketsPerClientPost || size+n > limit) {
			c.carry, c.hasCarry = p, true
			break
		}
		c.carry, c.hasCarry = codec.Packet{}, false
		b = append(b, p)
		size += n
	}
	if c.closing && !c.closeSent && !c.hasCarry && c.out.Len() == 0 &&
		(!limited || len(b) < maxPacketsPerClientPost) {
		b = append(b, codec.Packet{Type: codec.Close})
		c.closeSent = true
	}
	return b
}

func (c *Client) release(b []codec.Packet) {
	clear(b)
	c.batch = b[:0]
}

// flush writes what is queued on the transport in use, if it can now.
func (c *Client) flush() {
	switch {
	case c.ended:
	case c.ws != nil:
		b := c.collect(false)
		if len(b) == 0 {
			return
		}
		closing := c.closeSent
		err := c.ws.WritePackets(b, codec.V4)
		c.release(b)
		switch {
		case closing:
			c.end(ReasonClientDisconnect, err)
		case err != nil:
			c.endOnError(err)
		}
	case c.posting || c.upgrading:
		// The POST in flight, or the switch, flushes next.
	default:
		b := c.collect(true)
		if len(b) == 0 {
			return
		}
		c.startPost(b)
		c.release(b)
	}
}

// startPost encodes b and sends it on a writer goroutine.
func (c *Client) startPost(b []codec.Packet) {
	buf := transport.AcquireBuffer()
	*buf = codec.AppendPayload(*buf, b, codec.V4)
	ctx, cancel := context.WithTimeout(c.io.Context(), c.opts.RequestTimeout)
	err := c.io.Go("post", func(ioctx context.Context) error {
		defer cancel()
		err := c.post(ctx, c.pollURL, *buf)
		transport.ReleaseBuffer(buf)
		_ = c.ctl.Send(ioctx, postDone{err: err})
		return nil
	})
	if err != nil {
		cancel()
		transport.ReleaseBuffer(buf)
		return
	}
	c.posting = true
}

func (c *Client) handlePostDone() {
	m, ok := c.ctl.TryRecv()
	if !ok || c.ended {
		return
	}
	c.posting = false
	switch {
	case c.closing && (m.err != nil || c.closeSent):
		c.end(ReasonClientDisconnect, m.err)
	case m.err != nil:
		c.endOnError(m.err)
	case c.upgrading:
		c.maybeSwitch()
	default:
		c.flush()
	}
}

// startClose begins a client-side close: no more sends, flush what is
// queued, then the close packet.
func (c *Client) startClose() {
	if c.ended || c.closing {
		return
	}
	c.closing = true
	c.outClosed = true
	c.out.Close()
	if c.upgrading {
		c.abandonUpgrade(errors.New("eio: closing"))
		return // abandonUpgrade flushed
	}
	c.flush()
}

func (c *Client) handleTimer() {
	c.armed = time.Time{}
	if c.queue.empty() {
		// A ping may be waiting in the mailbox behind the wake-up.
		c.handleIn()
	}
	if c.ended {
		return
	}
	now := time.Now()
	if dueAt(c.upgradeDue, now) {
		c.abandonUpgrade(errClientUpgradeSlow)
		if c.ended {
			return
		}
	}
	if dueAt(c.pingDue, now) {
		if c.queue.stalled(actor.InstantOf(c.lastPing)) {
			// We stopped reading because the application is slow; the
			// ping may be waiting behind its messages. Give it time.
			c.pingDue = now.Add(c.pingTimeout)
		} else {
			c.log.Info("eio: ping timeout")
			c.end(ReasonPingTimeout, nil)
			return
		}
	}
	c.arm()
}

// arm sets the client's one timer to its nearest deadline.
func (c *Client) arm() {
	next := c.pingDue
	if !c.upgradeDue.IsZero() && (next.IsZero() || c.upgradeDue.Before(next)) {
		next = c.upgradeDue
	}
	if next.Equal(c.armed) {
		return
	}
	c.armed = next
	if next.IsZero() {
		c.timer.Stop()
	} else {
		c.timer.Reset(time.Until(next))
	}
}

// endOnError ends the connection for a transport's failure.
func (c *Client) endOnError(err error) {
	c.end(clientReasonFor(err), err)
}

// end ends the connection: the transports are let go (the WebSocket after
// a client close lingers for the server's close frame), requests are
// cancelled, and finish delivers the disconnect once the goroutines are
// gone.
func (c *Client) end(r Reason, err error) {
	if c.ended {
		return
	}
	if c.closeAsked.Load() && (r == ReasonTransportClose || r == ReasonTransportError) {
		// Close was called: what breaks while it cuts the transports (a
		// request it cancelled, a socket it closed) is its doing.
		r = ReasonClientDisconnect
	}
	c.ended = true
	c.reason, c.err = r, err
	if err != nil {
		c.log.Debug("eio: client connection ending", "reason", r.String(), "err", err)
	}
	c.outClosed = true
	c.out.Close()
	c.in.Close()
	c.ctl.Close()
	if c.ws != nil {
		if r == ReasonClientDisconnect && c.closeSent && err == nil {
			_ = c.ws.WriteClose(ws.StatusNormalClosure, "")
			_ = c.ws.Conn().SetReadDeadline(time.Now().Add(c.opts.RequestTimeout))
			c.linger = c.ws
		} else {
			_ = c.ws.CloseWith(clientCloseCode(r))
		}
	}
	if c.probe != nil {
		_ = c.probe.CloseWith(ws.StatusGoingAway)
		c.probe = nil
	}
	if n := c.out.Len() + len(c.ctrl); n > 0 || c.hasCarry {
		c.log.Info("eio: client connection ended with unsent packets", "count", n)
	}
	c.upgradeDue, c.pingDue = time.Time{}, time.Time{}
	c.timer.Stop()
	c.armed = time.Time{}
	if c.linger == nil {
		// Cancel requests and the probe now; with a linger, finish does
		// it once the reader is done.
		c.io.Stop()
	}
}

func clientCloseCode(r Reason) ws.StatusCode {
	switch r {
	case ReasonTransportError:
		return ws.StatusProtocolError
	case ReasonPingTimeout:
		return ws.StatusGoingAway
	}
	return ws.StatusNormalClosure
}

// clientEndpoint is the Engine.IO endpoint a client talks to.
type clientEndpoint struct {
	secure bool
	host   string
	path   string
	query  url.Values
}

func parseClientEndpoint(rawURL, path string, extra url.Values) (clientEndpoint, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return clientEndpoint{}, fmt.Errorf("eio: dial: %w", err)
	}
	var ep clientEndpoint
	switch u.Scheme {
	case "http", "ws":
	case "https", "wss":
		ep.secure = true
	default:
		return clientEndpoint{}, fmt.Errorf("%w: %q", errBadURL, rawURL)
	}
	if u.Host == "" {
		return clientEndpoint{}, fmt.Errorf("%w: %q", errBadURL, rawURL)
	}
	ep.host = u.Host
	ep.path = u.EscapedPath()
	if ep.path == "" || ep.path == "/" {
		ep.path = path
	}
	if ep.path[0] != '/' {
		ep.path = "/" + ep.path
	}
	if ep.path[len(ep.path)-1] != '/' {
		ep.path += "/"
	}
	ep.query = u.Query()
	for k, vs := range extra {
		for _, v := range vs {
			ep.query.Add(k, v)
		}
	}
	ep.query.Set("EIO", "4")
	return ep, nil
}

// url returns the endpoint's URL for a transport, with sid if not empty:
// http(s) for polling, ws(s) for WebSocket.
func (ep clientEndpoint) url(transportName, sid string) string {
	q := make(url.Values, len(ep.query)+2)
	for k, vs := range ep.query {
		q[k] = vs
	}
	q.Set("transport", transportName)
	if sid != "" {
		q.Set("sid", sid)
	} else {
		q.Del("sid")
	}
	scheme := "http"
	if transportName == TransportWebSocket {
		scheme = "ws"
	}
	if ep.secure {
		scheme += "s"
	}
	return scheme + "://" + ep.host + ep.path + "?" + q.Encode()
}

// redacted is the endpoint for error messages, without the query (it may
// carry credentials).
func (ep clientEndpoint) redacted() string {
	scheme := "http"
	if ep.secure {
		scheme = "https"
	}
	return scheme + "://" + ep.host + ep.path
}

// dueAt reports whether deadline t is set and has passed at now.
func dueAt(t, now time.Time) bool { return !t.IsZero() && !now.Before(t) }
