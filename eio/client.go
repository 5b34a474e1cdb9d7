package eio

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/chanio/chanio/actor"
	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/transport"
)

// This file is the client's side of the protocol core (endpoint.go). What
// only a client does is here: it answers the server's pings; on
// long-polling it keeps one GET in flight and POSTs what it sends (a
// transport.PollClient), and pauses both during an upgrade; it dials and
// probes the transport it upgrades to; after its close packet it waits
// for the server's close; and it shares one supervisor and one poller
// with every other client of the process (clientRuntime).

// Client is one Engine.IO connection to a server, opened by [Dial]. It
// speaks protocol 4 over long-polling, WebSocket, or polling upgraded to
// WebSocket, to any compliant server: chanio's own, Node's engine.io,
// python-engineio.
//
// A Client is an actor, like a server session, and runs the same protocol
// core: it holds a goroutine only while it has work, readers push what
// arrives into its mailbox, and the application talks to it through
// [Client.Events], [Client.Send] and [Client.Close], all safe from any
// goroutine and none of which waits on the network. A quiet WebSocket
// holds no goroutine at all: every Client of the process shares one
// poller, which wakes its reader when data comes, and one timer
// goroutine for their heartbeats.
type Client struct {
	e    endpoint    // the protocol core; c is its side
	env  endpointEnv // the core's constants, the heartbeat's from the open packet
	opts clientOptions
	log  *slog.Logger
	ep   clientEndpoint

	// From the open packet.
	maxPayload int64          // the server's bound on what we send; 0 if unknown
	upgradeTo  transport.Kind // the transport to upgrade to; zero Name: none

	rt      *clientRuntime    // the supervisor and poller shared with other clients
	group   *actor.Group      // the actor
	io      *actor.Group      // requests, stream readers, the probe's dial
	readers transport.Readers // on io and the shared poller

	// probeLive is the probe, for a Close that gives up and cuts.
	probeLive atomic.Pointer[liveConn]

	events chan Event
	done   chan struct{}

	// Owned by the actor.
	poll          *transport.PollClient // the long-polling; nil if the client opened on a stream
	initial       []codec.Packet        // packets that came with the open packet
	getting       bool                  // a long-poll GET is out, and the actor has not seen its end
	droppedEvents int                   // events dropped at a Close that gave up
}

const (
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

// Errors behind a client's [ReasonTransportError], carried in Event.Err.
var (
	errClientInternal    = errors.New("eio: client failed internally")
	errServerOpen        = errors.New("eio: open packet from the server on an open connection")
	errProbeAnswer       = errors.New("eio: websocket probe not answered with 3probe")
	errClientUpgradeSlow = errors.New("eio: upgrade timed out waiting for in-flight requests")
	errUnexpectedOnProbe = errors.New("eio: packet on the websocket before the upgrade")
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
	kind, stream := transport.LookupKind(o.open)
	if o.open != TransportPolling && !stream {
		return nil, fmt.Errorf("%w: %q", errUnknownTransport, o.Transports)
	}
	ep, err := parseClientEndpoint(rawURL, o.Path, o.Query)
	if err != nil {
		return nil, err
	}
	c := &Client{opts: o, log: o.Logger, ep: ep}
	hctx, cancel := context.WithTimeout(ctx, o.RequestTimeout)
	defer cancel()
	var hs codec.Handshake
	var conn transport.Stream
	if stream {
		hs, conn, err = c.handshakeStream(hctx, kind)
	} else {
		hs, c.initial, err = c.handshakePolling(hctx)
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

	c.e.sid = hs.SID
	c.log = o.Logger.With("sid", hs.SID)
	// Clamped as JavaScript timers are (2^31-1 ms, about 24.8 days), so
	// that no sum of them overflows a Duration.
	c.env.interval = time.Duration(min(hs.PingInterval, maxTimerMS)) * time.Millisecond
	c.env.wait = time.Duration(min(hs.PingTimeout, maxTimerMS)) * time.Millisecond
	c.maxPayload = hs.MaxPayload
	for _, name := range o.upgrades {
		if k, ok := transport.LookupKind(name); ok && slices.Contains(hs.Upgrades, name) && c.upgradeTo.Name == "" {
			c.upgradeTo = k
		}
	}
	c.start(conn)
	return c, nil
}

// start makes the actor for an open connection; conn is the stream it
// opened on, nil for polling.
func (c *Client) start(conn transport.Stream) {
	o := &c.opts
	c.events = make(chan Event, o.EventBuffer)
	c.done = make(chan struct{})
	c.env.events = c.events
	c.env.readers = &c.readers
	c.env.probes = true // and the server pings
	c.env.cutReason, c.env.peerClose = ReasonClientDisconnect, ReasonServerDisconnect
	c.env.closeFrameIsPeer, c.env.otherFailure = true, ReasonTransportClose
	c.env.errOpen, c.env.errUpgradeTimeout, c.env.errInternal = errServerOpen, errClientUpgradeSlow, errClientInternal
	c.e.init(c, &c.env, codec.V4, int(min(o.MaxPayload, 1<<30)), o.MaxQueueBytes)
	c.rt = acquireClientRuntime()
	onExit := func(name string, err error) {
		c.log.Error("eio: client goroutine failed", "name", name, "err", err)
	}
	c.group = actor.NewGroup(onExit)
	c.io = actor.NewGroup(onExit)
	c.readers = transport.Readers{Group: c.io, Poller: c.rt.poller, Quiet: parkAfter}
	// A fresh group cannot refuse. The actor is its only member: seal it
	// so that Wait returns once the actor has ended.
	c.e.runner, _ = c.group.NewRunner("client", c.e.work)
	c.group.Seal()
	c.e.in.SetNotify(c.e.runner.Schedule)
	c.e.out.SetNotify(c.e.runner.Schedule)
	c.e.timer = c.rt.sup.NewTimerFunc(c.e.onTimer)
	if conn != nil {
		c.e.attach(conn)
	} else {
		c.poll = transport.NewPollClient(transport.PollClientOptions{
			HTTP:        o.httpc,
			URL:         c.ep.url(TransportPolling, c.e.sid),
			Header:      o.Header,
			MaxResponse: o.MaxPayload,
			MaxPackets:  maxPacketsPerPoll,
			PollTimeout: c.env.interval + c.env.wait + o.RequestTimeout,
			PostTimeout: o.RequestTimeout,
			Post:        transport.Room{Packets: maxPacketsPerClientPost, Bytes: c.postLimit()},
			Group:       c.io,
			Receiver:    &c.e,
		})
		c.e.attach(c.poll)
	}
	c.events <- Event{Type: EventConnect, SID: c.e.sid, Transport: c.e.cur.Name()}
	c.e.setFlag(flagStarted)
	c.e.runner.Schedule()
}

// postLimit is what one POST body may hold.
func (c *Client) postLimit() int64 {
	if c.maxPayload > 0 {
		return c.maxPayload
	}
	return defaultServerPayload
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
func (c *Client) SID() string { return c.e.sid }

// Transport returns the transport in use: [TransportPolling] (also while
// an upgrade is under way) or [TransportWebSocket]. After the end it names
// the last one used.
func (c *Client) Transport() string {
	name, _ := c.e.transportName()
	return name
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
		return c.e.reason
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
		return c.e.closeErr
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
	if c.maxPayload > 0 && wireLen(p, c.Transport() == TransportPolling) > c.maxPayload {
		return ErrPayloadTooLarge
	}
	return sendErr(c.e.out.TrySend(transport.Outgoing{Packet: p}))
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
	polling := c.Transport() == TransportPolling
	for _, p := range ps {
		if p.Type != codec.Message {
			return fmt.Errorf("%w: SendPackets takes message packets, not %v", errNotMessage, p.Type)
		}
		if c.maxPayload > 0 && wireLen(p, polling) > c.maxPayload {
			return ErrPayloadTooLarge
		}
	}
	items := make([]transport.Outgoing, len(ps))
	for i, p := range ps {
		items[i].Packet = p
	}
	return sendErr(c.e.out.TrySendAll(items))
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
	c.e.requestClose(ReasonClientDisconnect, nil, false)
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
	// Cut: closing the streams unblocks an actor caught in a write;
	// stopping io aborts the requests; stopping the group ends the actor
	// at its next pass, without waiting for anything.
	c.e.cut()
	if l := c.probeLive.Load(); l != nil {
		_ = l.c.CloseAs(transport.CloseAbort)
	}
	c.io.Stop()
	c.group.Stop()
	c.e.runner.Schedule()
	<-c.done
	c.group.Wait()
	return ctx.Err()
}

// The client's side of the protocol core.

// onBegin takes the packets that came with the open packet and starts the
// transport: the first long-poll and the probe of an upgrade, or the
// stream's reader.
func (c *Client) onBegin() {
	for _, p := range c.initial {
		if c.e.ended {
			break
		}
		c.e.dispatch(p)
	}
	c.initial = nil
	if c.e.ended {
		return
	}
	if s, ok := c.e.cur.(transport.Stream); ok {
		if !c.e.read(s) {
			c.e.end(ReasonTransportClose, errClientInternal)
		}
		return
	}
	c.pollAgain()
	if c.upgradeTo.Name != "" {
		c.dialProbe()
	}
}

// pollAgain starts the next long-poll, unless one is out.
func (c *Client) pollAgain() {
	if !c.getting {
		c.getting = c.poll.Poll()
	}
}

func (c *Client) commands() {}

// dialProbe opens the stream of an upgrade on a goroutine, sends it the
// probe ping and hands it to the actor (ready), which then reads it for
// the pong.
func (c *Client) dialProbe() {
	kind := c.upgradeTo
	_ = c.io.Go("probe", func(ctx context.Context) error {
		dctx, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout)
		s, err := kind.Dial(dctx, c.ep.url(kind.Name, c.e.sid), c.dialOptions())
		cancel()
		if err != nil {
			c.log.Debug("eio: websocket probe failed; staying on polling", "err", err)
			return nil
		}
		c.logConnected(s)
		ping := [1]transport.Outgoing{{Packet: codec.Packet{Type: codec.Ping, Data: []byte("probe")}}}
		if err := s.Write(ping[:]); err != nil {
			_ = s.CloseAs(transport.CloseNormal)
			c.log.Debug("eio: websocket probe failed; staying on polling", "err", err)
			return nil
		}
		if c.e.in.Send(ctx, inbound{from: s, ready: streamOpen}) != nil {
			_ = s.CloseAs(transport.CloseGoingAway)
		}
		return nil
	})
}

// dialOptions are the options of every stream the client opens.
func (c *Client) dialOptions() transport.DialOptions {
	o := &c.opts
	return transport.DialOptions{
		Header:       o.Header,
		Jar:          o.httpc.Jar,
		NetDial:      o.wsDial,
		TLS:          o.wsTLS,
		Proxy:        o.wsProxy,
		Timeout:      o.RequestTimeout,
		MaxMessage:   o.MaxPayload,
		WriteTimeout: o.RequestTimeout,
		Compression:  o.WebSocketCompression,

		CertificateHashes: o.CertificateHashes,
	}
}

// ready: a polling request is back, or the probe has opened.
func (c *Client) ready(from transport.Conn, r readiness) {
	if r == writeDone && c.poll != nil && from == transport.Conn(c.poll) {
		// Only now, with the POST's end heard, is there room for the next
		// write or the upgrade's switch (see transport.PollClient).
		c.poll.PostHeard()
	}
	if from == c.e.cur {
		if r == readDone {
			c.getting = false
		}
		if c.e.closeSent && c.e.cur.Room().Packets != 0 {
			// The POST that carried the close packet is back.
			c.closeOut()
			return
		}
		c.resume()
		return
	}
	if s, ok := from.(transport.Stream); ok && r == streamOpen {
		c.offered(s)
	}
}

// offered takes the stream of an upgrade, probed already: it becomes the
// probe, read for the server's answer, unless the upgrade is no longer
// wanted.
func (c *Client) offered(s transport.Stream) {
	if c.e.reason != 0 || c.e.probe != nil || c.e.cur != c.poll {
		_ = s.CloseAs(transport.CloseGoingAway)
		return
	}
	c.probeLive.Store(&liveConn{s})
	if c.e.startProbe(s, c.opts.RequestTimeout) {
		c.log.Debug("eio: websocket probe sent")
	}
}

// receiveProbe takes the server's answer to the probe: polling pauses
// and, once its requests are back, the client switches.
func (c *Client) receiveProbe(p codec.Packet) {
	switch {
	case p.Type == codec.Pong && string(p.Data) == "probe" && !c.e.probed:
		c.log.Debug("eio: websocket probe answered; pausing polling")
		c.e.probeAnswered(c.opts.RequestTimeout)
		c.maybeSwitch()
	case c.e.probed:
		c.e.abandonUpgrade(errUnexpectedOnProbe)
	default:
		c.e.abandonUpgrade(errProbeAnswer)
	}
}

// maybeSwitch finishes an upgrade once polling is paused (no GET and no
// POST in flight): it sends the upgrade packet on the probe and moves
// everything queued there.
func (c *Client) maybeSwitch() {
	if !c.e.probed || c.getting || c.poll.Room().Packets == 0 || c.e.ended {
		return
	}
	up := [1]transport.Outgoing{{Packet: codec.Packet{Type: codec.Upgrade}}}
	if err := c.e.probe.Write(up[:]); err != nil {
		c.e.abandonUpgrade(err)
		return
	}
	c.e.switchToProbe()
}

// resume takes polling up again after a request came back or an upgrade
// failed: the switch if one waits, otherwise the next long-poll.
func (c *Client) resume() {
	switch {
	case c.e.ended || c.e.cur != c.poll:
	case c.e.probed:
		c.maybeSwitch()
	case c.e.reason == 0:
		c.pollAgain()
	}
}

// lost ends the connection for a transport's failure. What breaks while
// Close is under way (a request it cancelled, a socket it closed) is its
// doing; a long-poll that fails once the close packet is out is the end
// the close packet asked for.
func (c *Client) lost(err error) {
	var re *transport.RequestError
	if c.e.closeSent && errors.As(err, &re) && re.Method == http.MethodGet {
		c.e.end(ReasonClientDisconnect, nil)
		return
	}
	err = clientError(err)
	r := c.e.reasonFor(err)
	if req := c.e.asked(r); req != nil {
		r = req.reason // Close's; the error that its cut caused is kept
	}
	c.e.end(r, err)
}

func (c *Client) upgraded(old transport.Conn) {
	c.log.Debug("eio: upgraded", "transport", c.e.cur.Name())
	_ = old.CloseAs(transport.CloseNormal) // idle: nothing to cancel
	c.probeLive.Store(nil)
}

func (c *Client) upgradeFailed(err error) {
	c.log.Debug("eio: upgrade abandoned; staying on polling", "err", err)
	c.probeLive.Store(nil)
}

// owesClose: Close owes the server a close packet after what is queued,
// unless it gave up waiting and cut.
func (c *Client) owesClose(r Reason) bool {
	return r == ReasonClientDisconnect && c.group.Context().Err() == nil
}

// closeWait: the client waits for its close packet as long as Close's
// ctx lets it.
func (c *Client) closeWait() actor.Instant { return 0 }

func (c *Client) lingers(Reason) bool { return false }

// closeWritten: on a stream the close packet is out with the write; a
// POST carries it until it is back (ready).
func (c *Client) closeWritten(err error) {
	if err != nil {
		c.e.end(ReasonClientDisconnect, err)
		return
	}
	if c.e.cur.Room().Packets != 0 {
		c.closeOut()
	}
}

// closeOut runs once the close packet is out: on a stream the client
// waits, up to RequestTimeout, for the server's close frame, so that the
// server sees a clean close; otherwise it ends.
func (c *Client) closeOut() {
	if l, ok := c.e.cur.(transport.Lingerer); ok && l.Linger() == nil {
		c.e.linger(c.opts.RequestTimeout)
		return
	}
	c.e.endTransport()
}

func (c *Client) closeExpired() bool { return true }

// closeHow: the WebSocket close code that says why.
func (c *Client) closeHow(r Reason) transport.Closing {
	switch r {
	case ReasonTransportError:
		return transport.CloseProtocolError
	case ReasonPingTimeout:
		return transport.CloseGoingAway
	}
	return transport.CloseNormal
}

func (c *Client) deadline() actor.Instant        { return 0 }
func (c *Client) onDeadline(actor.Instant)       {}
func (c *Client) hearsWhileClosing() bool        { return true }
func (c *Client) unheard(inbound)                {}
func (c *Client) sentBefore(transport.Conn) bool { return false }
func (c *Client) received(codec.Packet)          {}
func (c *Client) sent(int, int)                  {}
func (c *Client) undelivered(int)                {}
func (c *Client) dropped(n int)                  { c.droppedEvents += n }
func (c *Client) trimSide()                      {}
func (c *Client) afterEnd()                      {}

func (c *Client) beforeEnd() {
	if n := c.e.out.Len() + len(c.e.ctrl); n > 0 || c.e.carry != nil {
		c.log.Info("eio: client connection ended with unsent packets", "count", n)
	}
}

// finish runs once the end's events are out: it waits for the client's
// other goroutines, delivers the disconnect (always: once Close has given
// up, older events still buffered make room for it if they must), and
// closes Events and Done.
func (c *Client) finish(ctx context.Context) {
	c.io.Stop()
	c.io.Wait()
	if c.opts.own != nil {
		c.opts.own.CloseIdleConnections()
	}
	c.rt.release()
	last := Event{Type: EventDisconnect, SID: c.e.sid, Reason: c.e.reason, Err: c.e.closeErr}
	for sent := false; !sent; {
		select {
		case c.events <- last:
			sent = true
		case <-ctx.Done():
			select {
			case c.events <- last:
				sent = true
			case <-c.events:
				c.droppedEvents++
			}
		}
	}
	if c.droppedEvents > 0 {
		c.log.Warn("eio: events dropped at close", "count", c.droppedEvents)
	}
	close(c.events)
	close(c.done)
}

func (c *Client) info(msg string, args ...any)  { c.log.Info(msg, args...) }
func (c *Client) debug(msg string, args ...any) { c.log.Debug(msg, args...) }
func (c *Client) debugging() bool               { return c.log.Enabled(context.Background(), slog.LevelDebug) }

// clientRuntime is what every Client of the process shares: one
// supervisor for their deadlines and one poller for their quiet streams,
// two goroutines however many clients there are, so that a process that
// holds 10,000 idle WebSocket clients holds no goroutine for any of them.
// The first client starts it; the last one to end stops it and waits for
// its goroutines, so that a process without clients runs none of them.
type clientRuntime struct {
	group  *actor.Group
	sup    *actor.Supervisor
	poller *transport.Poller // nil where the platform has none
	refs   int               // guarded by clients.mu
}

var clients struct {
	mu sync.Mutex
	rt *clientRuntime
}

// acquireClientRuntime returns the shared runtime, started if need be,
// counting one more client on it.
func acquireClientRuntime() *clientRuntime {
	clients.mu.Lock()
	defer clients.mu.Unlock()
	if clients.rt == nil {
		rt := &clientRuntime{group: actor.NewGroup(func(name string, err error) {
			slog.Error("eio: client runtime goroutine failed", "name", name, "err", err)
		})}
		rt.sup, _ = actor.NewSupervisor(rt.group) // a fresh group cannot refuse
		if p, err := transport.NewPoller(); err == nil {
			rt.poller = p
			_ = rt.group.Go("poller", func(context.Context) error { return p.Run() })
		}
		clients.rt = rt
	}
	clients.rt.refs++
	return clients.rt
}

// release counts a client out; the last one stops the runtime and waits
// for its goroutines.
func (rt *clientRuntime) release() {
	clients.mu.Lock()
	rt.refs--
	last := rt.refs == 0
	if last {
		clients.rt = nil
	}
	clients.mu.Unlock()
	if !last {
		return
	}
	if rt.poller != nil {
		_ = rt.poller.Close()
	}
	rt.group.Stop()
	rt.group.Wait()
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
// http(s) for polling, ws(s) for WebSocket, http(s) for any other (its
// transport.Kind's Dial takes it as it is).
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
	if ep.secure || transportName == TransportWebTransport {
		scheme += "s" // WebTransport is HTTP/3: always TLS
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
