package eio

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/chanio/chanio/actor"
	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/internal/loglimit"
	"github.com/chanio/chanio/transport"
	"github.com/gobwas/ws"
)

// mode is a session's transport state, published by its actor for HTTP
// handlers and Transport(sid). The actor alone decides it.
type mode uint32

const (
	modePolling   mode = iota // polling, possibly probing a WebSocket
	modeWebSocket             // on WebSocket (from the start or upgraded)
	modeClosed                // ending or ended
)

// command is what other goroutines ask of a session: HTTP handlers send a
// long-poll GET waiting for packets or a WebSocket that wants to take over;
// the application reads or changes the session's data.
type command struct {
	kind   cmdKind
	poll   *pollRequest
	ws     *transport.WebSocket
	value  any            // cmdSave
	update func(any) any  // cmdUpdate
	reply  chan dataReply // capacity 1, for the data commands
}

type cmdKind uint8

const (
	cmdPoll cmdKind = iota
	cmdUpgrade
	cmdGet
	cmdSave
	cmdUpdate
	cmdAwaitEnd // a POST that carried a close packet waits for the end
)

// dataReply answers a data command: the data after it, or an error.
type dataReply struct {
	value any
	err   error
}

// pollRequest is a held GET. The actor answers it exactly once on reply.
type pollRequest struct {
	reply chan pollReply // capacity 1
	text  bool           // the answer must be a text payload (JSONP)
}

// pollReply is the answer to a GET: a payload in a pooled buffer, or an
// error code.
type pollReply struct {
	body     *[]byte // from transport.AcquireBuffer; the handler releases it
	messages int     // message packets in body
	code     ErrorCode
	err      bool
	binary   bool // body is a protocol 3 binary payload (application/octet-stream)
}

// inbound is what readers deliver: one decoded packet, or the end of the
// transport it came from (err set). from is the WebSocket it came on, nil
// for a polling POST.
type inbound struct {
	from *transport.WebSocket
	pkt  codec.Packet
	err  error
}

const inboundOverhead = 64 // bytes counted per queued item beyond its data

func inboundSize(m inbound) int        { return len(m.pkt.Data) + inboundOverhead }
func outSize(o transport.Outgoing) int { return len(o.Packet.Data) + inboundOverhead }

// Errors behind ReasonTransportError, carried in Event.Err.
var (
	errPollOverlap      = errors.New("eio: overlapping long-poll GET requests")
	errPostOverlap      = errors.New("eio: overlapping POST requests")
	errClientPing       = errors.New("eio: ping from a protocol 4 client (invalid heartbeat direction)")
	errUnexpectedOpen   = errors.New("eio: open packet from client")
	errUpgradeTimeout   = errors.New("eio: upgrade timed out")
	errUpgradeSequence  = errors.New("eio: unexpected packet during upgrade")
	errInternal         = errors.New("eio: session failed internally")
	errBodyTooLarge     = errors.New("eio: POST body over MaxPayload")
	errBinaryPost       = errors.New("eio: binary POST body from a protocol 4 client")
	errEncodedPost      = errors.New("eio: POST body with a Content-Encoding")
	errCloseWaitExpired = errors.New("eio: no poll came to take the close packet")
	errPollAborted      = errors.New("eio: poll connection closed prematurely")
	errPostTimeout      = errors.New("eio: POST body not read within BodyTimeout")
)

// session is one Engine.IO session: an actor, run by an actor.Runner one
// pass at a time, that owns every field below the mailboxes. Other
// goroutines reach it only through the mailboxes and the few atomics.
type session struct {
	sid  string
	bind string // the secret of Options.BindCookie; "" when not bound
	srv  *Server

	cmds *actor.Mailbox[command]            // HTTP handlers
	in   *actor.Mailbox[inbound]            // readers and POSTs; waits give backpressure
	out  *actor.Mailbox[transport.Outgoing] // Send and Broadcast; bounded by MaxQueueBytes

	closeReq atomic.Pointer[closeRequest]        // an end asked for by another goroutine
	live     atomic.Pointer[transport.WebSocket] // the connection to abort on Close
	mode     atomic.Uint32                       // a mode
	woken    atomic.Bool                         // a deadline passed or a close was asked for: see handleWake
	quiet    atomic.Bool                         // the WebSocket was parked: see trim
	posting  atomic.Bool                         // a POST body is being delivered
	started  atomic.Bool                         // the handshake handed the session to its actor
	// announced counts WebSocket handshakes for this session under way in
	// HTTP handlers, which have not reached the actor yet: a GET the
	// client sent after one of them was answered (101) must find the
	// session upgrading. See onPoll.
	announced atomic.Int32

	runner *actor.Runner // runs work whenever a mailbox gains something

	// Owned by the actor (whichever goroutine runs its pass).
	data  any           // the application's session data
	req   *http.Request // handshake request, until the connect event
	timer *actor.Timer
	ws    *transport.WebSocket // the WebSocket in use, nil while polling
	probe *transport.WebSocket // a WebSocket being upgraded to
	poll  *pollRequest         // the held GET

	endWaiter chan dataReply // a POST that carried the close packet, answered at the end

	ctrl    []codec.Packet       // actor's own packets (ping, pong, noop) to send next
	batch   []transport.Outgoing // scratch for a write
	inBatch []inbound            // scratch for a drain of in

	events eventQueue // events waiting for room in Server.events

	armed      actor.Instant // what timer is set to; zero when stopped
	nextPing   actor.Instant
	pingSent   actor.Instant // the ping went out, or the pong wait was last extended
	pongDue    actor.Instant
	upgradeDue actor.Instant
	closeDue   actor.Instant // a graceful close waits this long for a GET
	pollDue    actor.Instant // a GET held during an upgrade is settled then: see onPoll
	heard      actor.Instant // a polling session's client last polled, posted or shook hands

	closeErr error

	// Small fields together, so that padding does not grow every one of
	// many thousands of sessions.
	version   codec.Version
	reason    Reason // non-zero once closing
	begun     bool   // begin has run
	probed    bool   // the probe ping was answered: polls get noop
	pollLate  bool   // the held GET came during an upgrade and is not settled yet
	lingering bool   // the client closed with no GET held: see lingerForPoll
	sendClose bool   // the close packet is owed to the peer
	ended     bool   // transports gone, disconnect event queued
	textPolls bool   // protocol 3: the polling client reads no binary payloads (b64, JSONP)
}

// settleTime is how long the session waits, before it answers a request
// whose answer depends on the order in which requests on different
// connections were sent, for requests already sent to arrive. The
// reference server handles requests in the order their bytes arrive; here
// each connection has a goroutine of its own, and one sent later may be
// handled first. Two cases need it:
//
//   - A GET that arrives while the session is upgrading may have been sent
//     before the probe or after the upgrade packet. It is held for
//     settleTime: if the upgrade completes meanwhile, it came after the
//     upgrade packet and gets 400, as the reference answers it; if not, it
//     gets a noop (the reference's 100 ms check does the same).
//   - A client that closes over POST with no GET held may have sent a GET
//     just before. The session waits settleTime for it, answers it with a
//     noop as the reference answers a held GET, and only then ends and
//     answers the POST, so that a GET sent after the POST's answer finds
//     the session gone.
//
// It bounds how far apart, after they arrive, two such requests may be
// handled: far more than the goroutine scheduling of a loaded machine or
// a hop through the cluster adds, and what the reference itself waits
// before it releases a GET during an upgrade.
const settleTime = 100 * time.Millisecond

// newSession makes and registers a session for a handshake; its actor runs
// once the server calls start, or ends unstarted on discard. It fails only
// when the server is shutting down.
func (srv *Server) newSession(v codec.Version, r *http.Request) (*session, error) {
	o := &srv.opts
	s := &session{
		srv:     srv,
		version: v,
		req:     r,
		cmds:    actor.NewMailbox[command](16),
		in:      actor.NewSizedMailbox(256, int(o.MaxPayload), inboundSize),
		out:     actor.NewSizedMailbox(o.MaxQueueBytes/inboundOverhead+1, o.MaxQueueBytes, outSize),
	}
	runner, err := srv.group.NewRunner("session", s.work)
	if err != nil {
		return nil, ErrServerClosed
	}
	s.runner = runner
	schedule := runner.Schedule // one method value for the three
	for _, mb := range []interface{ SetNotify(func()) }{s.cmds, s.in, s.out} {
		mb.SetNotify(schedule)
	}
	// A flag and a Schedule rather than a mailbox of ticks: an idle
	// session is mostly its own memory, and it has thousands of siblings.
	s.timer = srv.sup.NewTimerFunc(s.onTimer)
	if o.BindCookie != nil {
		s.bind = randomSID() // 120 bits, as unguessable as the id
	}
	srv.register(s)
	if srv.closing.Load() {
		// A shutdown began after the runner was made and may have walked
		// the registry before this session was in it.
		s.requestClose(ReasonServerDisconnect, nil, false)
	}
	return s, nil
}

// discard ends a session whose handshake failed before it started.
func (s *session) discard() {
	s.begun, s.ended = true, true
	s.mode.Store(uint32(modeClosed))
	s.srv.sessions.Delete(s.sid)
	for _, mb := range []interface{ Close() }{s.cmds, s.in, s.out} {
		mb.Close()
	}
	s.started.Store(true) // publishes the fields above to the actor
	s.runner.Schedule()
}

// attach makes c the transport of a WebSocket-only session, before its
// actor starts.
func (s *session) attach(c *transport.WebSocket) {
	s.ws = c
	s.mode.Store(uint32(modeWebSocket))
	s.live.Store(c)
}

// begin is the session's first work: announce it, set its heartbeat, and
// on a WebSocket-only session send the open packet and start reading.
func (s *session) begin() {
	now := actor.Now()
	s.countTransport(1)
	s.emit(Event{Type: EventConnect, SID: s.sid, Request: s.req, Transport: s.transportName(), Session: s.data})
	s.req = nil
	s.heard = now // the handshake, for a polling session
	if s.version == codec.V4 {
		s.nextPing = now.Add(s.srv.opts.PingInterval)
	} else {
		// Protocol 3: the client pings; silence for interval+timeout ends it.
		s.pongDue = now.Add(s.srv.opts.PingInterval + s.srv.opts.PingTimeout + s.srv.opts.PingGrace)
	}
	if s.ws != nil {
		s.ctrl = append(s.ctrl, s.srv.openPackets(s.sid, false, s.version)...)
		s.startReader(s.ws)
		s.flush()
	}
	s.arm()
}

// work is one pass of the session actor, run by its actor.Runner whenever a
// mailbox gains something: it handles everything there is and returns, so
// that an idle session holds no goroutine. It waits only for room in the
// Events channel, and then still hears of new work through the runner's
// Kick. It returns true once the session is over and its last event is
// out.
func (s *session) work(ctx context.Context) (ended bool) {
	if !s.started.Load() {
		// Registered but still in its handshake, which owns the session's
		// fields until it calls Server.start or discard; those schedule a
		// pass. What woke us (a close request, a Send) waits in the
		// mailboxes until then.
		return false
	}
	passed := false
	defer func() {
		if !passed {
			s.abort() // a panic: let go of everything; the runner reports it
		}
	}()
	if !s.begun {
		s.begun = true
		s.begin()
	}
	for {
		if ctx.Err() != nil && !s.ended {
			// Server.Close: end now, without waiting for anything.
			s.close(ReasonServerDisconnect, nil)
			s.endTransport()
		}
		if s.woken.Load() {
			s.handleWake()
		}
		s.handleCommands()
		if s.events.empty() && s.handleInbound() > 0 && s.writable() {
			// The application has just been handed messages and is likely
			// to answer them: let it run first, so that the answers leave
			// in this pass's one write instead of one write each.
			runtime.Gosched()
		}
		if s.writable() {
			s.flush()
		}
		if !s.events.empty() {
			if s.deliver(ctx) {
				continue
			}
			// Close while the application is not reading.
			s.srv.stats.eventsDropped.Add(uint64(s.events.drop()))
		}
		if s.ended {
			s.timer.Stop()
			s.events.drop()
		}
		if s.quiet.Load() && s.quiet.Swap(false) { // a load first: no write on a busy pass
			s.trim()
		}
		passed = true
		return s.ended
	}
}

// deliver hands the oldest pending event to the application, waiting for
// room while no other work comes in. It returns false only when the server
// is being closed and there is no room.
func (s *session) deliver(ctx context.Context) bool {
	events := s.srv.events
	next := s.events.front()
	select {
	case events <- next:
		s.events.pop()
		return true
	default:
	}
	select {
	case events <- next:
		s.events.pop()
	case <-s.runner.Kick():
	case <-ctx.Done():
		select {
		case events <- next:
			s.events.pop()
		default:
			return false
		}
	}
	return true
}

// abort releases everything after a panic in work, and tells the
// application the session ended, if the Events channel has room.
func (s *session) abort() {
	s.mode.Store(uint32(modeClosed))
	s.timer.Stop()
	if !s.ended {
		s.reason, s.closeErr = ReasonTransportError, errInternal
		s.endTransport()
	}
	for ; !s.events.empty(); s.events.pop() {
		select {
		case s.srv.events <- s.events.front():
		default:
			s.srv.stats.eventsDropped.Add(1)
		}
	}
}

// emit queues an event for the application, in order.
func (s *session) emit(ev Event) { s.events.push(s.srv.events, ev) }

// transportName names the transport the session is on.
func (s *session) transportName() string {
	if s.ws != nil {
		return TransportWebSocket
	}
	return TransportPolling
}

// countTransport moves the server's count of sessions on the session's
// transport by delta.
func (s *session) countTransport(delta int64) {
	if s.ws != nil {
		s.srv.stats.websocket.Add(delta)
	} else {
		s.srv.stats.polling.Add(delta)
	}
}

// writable reports whether queued packets have somewhere to go now.
func (s *session) writable() bool {
	if s.ws != nil {
		return true
	}
	return s.poll != nil && !s.probed && !s.pollLate
}

// upgrading reports whether a WebSocket is probing for the session, or is
// on its way to (a handshake announced it).
func (s *session) upgrading() bool {
	return s.probe != nil || s.announced.Load() > 0
}

func (s *session) handleCommands() {
	for {
		c, ok := s.cmds.TryRecv()
		if !ok {
			return
		}
		switch c.kind {
		case cmdPoll:
			s.onPoll(c.poll)
		case cmdUpgrade:
			s.onUpgrade(c.ws)
		case cmdGet:
			c.reply <- dataReply{value: s.data}
		case cmdSave:
			s.data = c.value
			c.reply <- dataReply{value: s.data}
		case cmdUpdate:
			s.data = c.update(s.data)
			c.reply <- dataReply{value: s.data}
		case cmdAwaitEnd:
			if s.endWaiter != nil {
				s.endWaiter <- dataReply{} // cannot happen: POSTs do not overlap
			}
			s.endWaiter = c.reply
		}
	}
}

func (s *session) onPoll(p *pollRequest) {
	switch {
	case s.ws != nil:
		p.reply <- pollReply{err: true, code: CodeBadRequest}
	case s.lingering:
		// Sent before the client's close: the reference would have held
		// it, and released it with a noop at the close.
		s.replyPollPacket(p, codec.Packet{Type: codec.Noop})
		s.endTransport()
	case s.reason != 0 && !s.sendClose:
		p.reply <- pollReply{err: true, code: CodeBadRequest}
	case s.poll != nil:
		// Two GETs at once: the reference answers the second with 400 and
		// ends the session; the held one gets the close packet.
		p.reply <- pollReply{err: true, code: CodeBadRequest}
		s.close(ReasonTransportError, errPollOverlap)
	case s.upgrading():
		// Sent before the probe, or after the upgrade packet that the
		// probe's reader has not delivered yet: settle it later.
		s.poll, s.pollLate = p, true
		s.pollDue = actor.Now().Add(settleTime)
		s.arm()
		s.notePollHeld()
	default:
		s.poll = p
		s.notePollHeld()
		if len(s.ctrl) > 0 || s.out.Len() > 0 || s.reason != 0 {
			s.flush()
		}
	}
}

// notePollHeld tells a test hook that a GET is held.
func (s *session) notePollHeld() {
	if f := s.srv.opts.pollHeld; f != nil {
		f(s.sid)
	}
}

// settlePoll decides the GET held during an upgrade once settleTime has
// passed without the upgrade completing: it was sent before the upgrade
// packet. While the probe has been answered it gets a noop, so that the
// client can finish the upgrade; otherwise it is an ordinary held GET.
func (s *session) settlePoll() {
	s.pollLate, s.pollDue = false, 0
	if s.poll == nil {
		return
	}
	if s.probed {
		s.replyPollPacket(s.poll, codec.Packet{Type: codec.Noop})
		s.poll = nil
		return
	}
	if len(s.ctrl) > 0 || s.out.Len() > 0 || s.reason != 0 {
		s.flush()
	}
}

// replyPoll answers the GET p with b, a batch from collect. As the
// reference server, a protocol 3 client that reads binary payloads (XHR2:
// no b64 at the handshake, not JSONP) gets one whenever a packet is
// binary, instead of base64 text.
func (s *session) replyPoll(p *pollRequest, b []transport.Outgoing) {
	s.heardFrom()
	buf := transport.AcquireBuffer()
	binary := s.version == codec.V3 && !s.textPolls && !p.text && hasBinary(b)
	if binary {
		*buf = transport.AppendBinaryPayload(*buf, b)
	} else {
		*buf = transport.AppendPayload(*buf, b, s.version)
	}
	p.reply <- pollReply{body: buf, messages: countOutgoing(b), binary: binary}
}

// replyPollPacket answers the GET p with the one packet pkt.
func (s *session) replyPollPacket(p *pollRequest, pkt codec.Packet) {
	one := [1]transport.Outgoing{{Packet: pkt}}
	s.replyPoll(p, one[:])
}

// hasBinary reports whether any packet of b is binary.
func hasBinary(b []transport.Outgoing) bool {
	for i := range b {
		if b[i].Packet.Binary {
			return true
		}
	}
	return false
}

func (s *session) onUpgrade(c *transport.WebSocket) {
	s.announced.Add(-1)
	if s.ws != nil || s.probe != nil || s.reason != 0 || s.srv.opts.DisableUpgrades {
		// The reference accepts a second WebSocket for a session and then
		// closes it, with a close frame without a status code.
		_ = c.CloseWith(ws.StatusNoStatusRcvd)
		if s.pollLate && !s.upgrading() {
			s.settlePoll()
		}
		return
	}
	s.probe = c
	s.upgradeDue = actor.Now().Add(s.srv.opts.UpgradeTimeout)
	s.arm()
	s.startReader(c)
}

// startReader spawns the goroutine that reads c into the in mailbox.
func (s *session) startReader(c *transport.WebSocket) {
	srv := s.srv
	srv.conns.Store(c, struct{}{})
	if !s.spawnReader(c) {
		srv.conns.Delete(c)
		_ = c.CloseWith(ws.StatusGoingAway)
		if c == s.probe {
			s.probe = nil
		}
	}
}

// parkAfter is how long a WebSocket must be quiet before its reader parks
// it on the server's poller and lets its goroutine go. Busy connections
// never park; a quiet one costs no goroutine until its next message. It is
// short because a waiting reader's stack is most of what a session costs
// while it waits: at one second, a burst of 10,000 handshakes kept about
// 4,000 readers (and their stacks) alive at once, and the runtime kept that
// memory long after. A park and its wake-up cost a few microseconds, so a
// connection with a message every 100 ms or more pays little for it.
const parkAfter = 100 * time.Millisecond

func (s *session) spawnReader(c *transport.WebSocket) bool {
	return s.srv.readers.Go("websocket reader", func(context.Context) error {
		s.readLoop(c)
		return nil
	}) == nil
}

// readLoop reads c into the in mailbox until c ends, or until c goes quiet
// and is parked, when the poller will start a new reader on its next data.
func (s *session) readLoop(c *transport.WebSocket) {
	srv := s.srv
	parking := srv.poller != nil
	for {
		if parking {
			err := c.WaitReadable(parkAfter)
			if errors.Is(err, transport.ErrIdle) {
				perr := c.Park(srv.poller, func() { s.resumeReader(c) })
				if perr == nil {
					s.quiet.Store(true)
					s.runner.Schedule()
					return
				}
				if errors.Is(perr, transport.ErrNotPollable) {
					// No descriptor to park (TLS), or the poller is
					// gone: this reader stays, blocked in its reads,
					// rather than waking every parkAfter to try again.
					parking = false
					c.StopIdleWait()
				}
				continue
			}
			if err != nil {
				s.readerEnd(c, err)
				return
			}
		}
		data, binary, err := c.ReadMessage()
		if err != nil {
			s.readerEnd(c, err)
			return
		}
		pkt, err := codec.DecodeFrame(data, binary, s.version)
		if err != nil {
			_ = c.CloseWith(ws.StatusUnsupportedData)
			s.readerEnd(c, err)
			return
		}
		if s.in.Send(context.Background(), inbound{from: c, pkt: pkt}) != nil {
			// The session has ended; it closed (or closes) c.
			srv.conns.Delete(c)
			return
		}
	}
}

// readerEnd reports the end of c to the session and forgets c.
func (s *session) readerEnd(c *transport.WebSocket, err error) {
	_ = s.in.Send(context.Background(), inbound{from: c, err: err})
	s.srv.conns.Delete(c)
}

// resumeReader runs on the poller when a parked connection has data, has
// hung up or was closed: it starts the connection's next reader. Only once
// every session has ended do readers stop starting; then it ends the
// connection instead.
func (s *session) resumeReader(c *transport.WebSocket) {
	if s.spawnReader(c) {
		return
	}
	s.srv.conns.Delete(c)
	_ = c.Close()
	_ = s.in.TrySend(inbound{from: c, err: ErrServerClosed})
}

// handleInbound takes in what the readers delivered and returns how many
// items that was.
func (s *session) handleInbound() int {
	batch, _ := s.in.Drain(s.inBatch[:0])
	for i := range batch {
		// A closing session still finishes an upgrade it has answered
		// the probe of (see close).
		if s.reason == 0 || s.probe != nil && batch[i].from == s.probe {
			s.receive(batch[i])
		} else if batch[i].from == nil {
			s.heardFrom() // a POST while the session ends
		}
		batch[i] = inbound{}
	}
	s.inBatch = batch[:0]
	return len(batch)
}

func (s *session) receive(m inbound) {
	if m.from != nil && m.from == s.probe {
		s.receiveProbe(m)
		return
	}
	if m.from != s.ws && m.from != nil {
		return // a WebSocket this session already let go of
	}
	if m.err != nil {
		if m.from == nil || m.from == s.ws {
			s.close(reasonFor(m.err), m.err)
		}
		return
	}
	st := &s.srv.stats
	switch m.pkt.Type {
	case codec.Message:
		st.messagesIn.Add(1)
		st.bytesIn.Add(uint64(len(m.pkt.Data)))
		s.emit(Event{Type: EventMessage, SID: s.sid, Data: m.pkt.Data, Binary: m.pkt.Binary})
	case codec.Pong:
		if s.version != codec.V4 {
			return // protocol 3: a stray pong, which the Node 3.x server ignores
		}
		s.pongDue = 0
		s.nextPing = actor.Now().Add(s.srv.opts.PingInterval)
		s.arm()
	case codec.Ping:
		if s.version == codec.V4 {
			s.close(ReasonTransportError, errClientPing)
			return
		}
		o := &s.srv.opts
		s.pongDue = actor.Now().Add(o.PingInterval + o.PingTimeout + o.PingGrace)
		s.arm()
		s.queueCtrl(codec.Packet{Type: codec.Pong, Data: m.pkt.Data})
	case codec.Close:
		s.close(ReasonClientDisconnect, nil)
	case codec.Open:
		s.close(ReasonTransportError, errUnexpectedOpen)
	case codec.Noop, codec.Upgrade:
		// Nothing to do: a stray upgrade outside a probe changes nothing.
	}
}

// reasonFor classifies how a transport ended.
func reasonFor(err error) Reason {
	var ce *transport.CloseError
	switch {
	case errors.As(err, &ce), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed), isConnReset(err):
		return ReasonTransportClose
	}
	return ReasonTransportError
}

func isConnReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

func (s *session) receiveProbe(m inbound) {
	switch {
	case m.err != nil:
		s.abandonUpgrade(m.err)
	case m.pkt.Type == codec.Ping && string(m.pkt.Data) == "probe" && !s.probed:
		pong := [1]codec.Packet{{Type: codec.Pong, Data: []byte("probe")}}
		if err := s.probe.WritePackets(pong[:], s.version); err != nil {
			s.abandonUpgrade(err)
			return
		}
		s.probed = true
		if s.poll != nil && !s.pollLate {
			// Release the held GET so that the client can pause polling.
			// One that came during the upgrade waits to be settled.
			s.replyPollPacket(s.poll, codec.Packet{Type: codec.Noop})
			s.poll = nil
		}
	case m.pkt.Type == codec.Upgrade && s.probed:
		s.countTransport(-1)
		s.ws, s.probe, s.probed = s.probe, nil, false
		s.countTransport(1)
		s.upgradeDue = 0
		s.live.Store(s.ws)
		s.mode.Store(uint32(modeWebSocket))
		s.srv.stats.upgrades.Add(1)
		s.srv.log.Debug("eio: upgraded to websocket", "sid", s.sid)
		s.emit(Event{Type: EventUpgrade, SID: s.sid, Transport: TransportWebSocket})
		if s.poll != nil {
			// Held during the upgrade and not settled: it may have been
			// sent after the upgrade packet, and is answered as the
			// reference answers a GET that reaches an upgraded session.
			s.poll.reply <- pollReply{err: true, code: CodeBadRequest}
			s.poll, s.pollLate, s.pollDue = nil, false, 0
		}
		s.arm()
		s.flush()
	default:
		s.abandonUpgrade(errUpgradeSequence)
	}
}

// abandonUpgrade drops the probe WebSocket; the session goes on polling.
func (s *session) abandonUpgrade(err error) {
	s.srv.stats.upgradesFailed.Add(1)
	s.srv.log.Info("eio: upgrade abandoned", "session", sidTag(s.sid), "err", loglimit.Error{Err: err})
	_ = s.probe.CloseWith(ws.StatusNormalClosure)
	s.probe, s.probed = nil, false
	s.upgradeDue = 0
	if s.pollLate && !s.upgrading() {
		s.settlePoll()
	}
	s.arm()
	if s.poll != nil && (len(s.ctrl) > 0 || s.out.Len() > 0) {
		s.flush()
	}
}

// queueCtrl queues one of the actor's own packets and sends it if it can.
func (s *session) queueCtrl(p codec.Packet) {
	s.ctrl = append(s.ctrl, p)
	if s.writable() {
		s.flush()
	}
}

// collect takes what is due to the peer, at most limit packets (limit < 0:
// none): the actor's own packets, the application's, and the close packet
// when it is owed and nothing is left before it. closing reports that the
// close packet is in.
func (s *session) collect(limit int) (b []transport.Outgoing, closing bool) {
	if s.version == codec.V4 && s.reason == 0 {
		for _, p := range s.ctrl {
			if p.Type == codec.Ping {
				s.pingLeaves()
			}
		}
	}
	b = s.batch[:0]
	for _, p := range s.ctrl {
		b = append(b, transport.Outgoing{Packet: p})
	}
	clear(s.ctrl)
	s.ctrl = s.ctrl[:0]
	before := len(b)
	room := -1
	if limit >= 0 {
		room = max(0, limit-before)
	}
	b, _ = s.out.DrainMax(b, room)
	if n := len(b) - before; n > 0 {
		size := 0
		for i := range b[before:] {
			size += len(b[before+i].Packet.Data)
		}
		s.srv.stats.messagesOut.Add(uint64(n))
		s.srv.stats.bytesOut.Add(uint64(size))
		s.srv.stats.noteQueue(int64(size))
	}
	if s.sendClose && s.out.Len() == 0 {
		b = append(b, transport.Outgoing{Packet: codec.Packet{Type: codec.Close}})
		closing = true
	}
	return b, closing
}

// pingLeaves restarts the pong wait now that the ping is written: the
// client cannot answer a ping before it has it, and the session may have
// held it back (no GET to take it, or one held during an upgrade). The
// wait never gets shorter, so a client that never polls again still times
// out from when the ping was queued.
func (s *session) pingLeaves() {
	now := actor.Now()
	o := &s.srv.opts
	s.pingSent = now
	s.pongDue = max(s.pongDue, now.Add(o.PingTimeout+o.PingGrace))
	s.arm()
}

// countOutgoing counts the message packets in a batch from collect.
func countOutgoing(b []transport.Outgoing) int {
	n := 0
	for i := range b {
		if b[i].Packet.Type == codec.Message {
			n++
		}
	}
	return n
}

func (s *session) release(b []transport.Outgoing) {
	clear(b)
	s.batch = b[:0]
}

// flush sends what is queued on the transport in use, if it can.
func (s *session) flush() {
	switch {
	case s.ws != nil:
		b, closing := s.collect(-1)
		if len(b) == 0 {
			return
		}
		err := s.ws.WriteBatch(b, s.version)
		if err != nil {
			// Nothing says how much of the batch got through: count its
			// messages as undelivered rather than claim them.
			s.srv.stats.undelivered.Add(uint64(countOutgoing(b)))
		}
		s.release(b)
		switch {
		case closing:
			s.endTransport()
		case errors.Is(err, net.ErrClosed):
			// The reader has answered the peer's close frame (or the
			// connection was cut). It reports that after the packets that
			// came before it, which must still be received: let that end
			// the session, not this write.
		case err != nil:
			s.close(reasonFor(err), err)
		}
	case s.writable():
		b, closing := s.collect(s.srv.opts.MaxPollPackets)
		if len(b) == 0 {
			return
		}
		s.replyPoll(s.poll, b)
		s.poll = nil
		s.release(b)
		if closing {
			s.endTransport()
		}
	}
}

// trim lets go of what a session keeps for reuse while it is busy (its
// queues' rings, its scratch batches), once its WebSocket has gone quiet
// and been parked: a server holds many idle sessions, and a burst of
// traffic should not stay allocated in each for the rest of its life.
// Runs in the actor, at the end of a pass, when the scratch is unused.
func (s *session) trim() {
	if len(s.ctrl) == 0 {
		s.ctrl = nil
	}
	s.batch, s.inBatch = nil, nil
	s.events.trim()
	s.in.Trim()
	s.out.Trim()
	s.cmds.Trim()
}

// onTimer is the session's timer firing, on the supervisor's goroutine.
func (s *session) onTimer(time.Time) { s.wake() }

// wake makes the actor look at its deadlines and close request on its
// next pass, from any goroutine.
func (s *session) wake() {
	s.woken.Store(true)
	s.runner.Schedule()
}

func (s *session) handleWake() {
	s.woken.Store(false)
	if r := s.closeReq.Load(); r != nil && s.reason == 0 {
		// Packets already accepted (a POST answered "ok") come before the
		// request: a client's close packet, and the messages POSTed with
		// it, must win over the abort of its long-poll that follows.
		s.handleInbound()
		if s.reason == 0 {
			s.close(r.reason, r.err)
		}
	}
	now := actor.Now()
	o := &s.srv.opts
	if s.reason == 0 && (due(s.upgradeDue, now) || due(s.pollDue, now) || due(s.pongDue, now)) ||
		due(s.closeDue, now) {
		// What arrived before the deadline passed counts before it is
		// judged: the upgrade packet before the upgrade timeout or the
		// settling of a GET held during the upgrade, the pong before the
		// ping timeout, a GET before a graceful close gives up waiting for
		// one. The deadline's wake-up and the request may have come in the
		// same pass, and this pass has not taken the mailboxes in yet.
		s.handleCommands()
		if s.events.empty() {
			s.handleInbound()
		}
		if s.ended {
			return
		}
	}
	if due(s.upgradeDue, now) {
		s.abandonUpgrade(errUpgradeTimeout)
	}
	if due(s.pollDue, now) {
		s.settlePoll()
	}
	if due(s.closeDue, now) && s.sendClose && s.srv.closing.Load() && s.posting.Load() {
		s.heardFrom() // a POST is on its way in: the client is still there
	}
	if due(s.closeDue, now) {
		if !s.lingering {
			s.closeErr = errors.Join(s.closeErr, errCloseWaitExpired)
		}
		s.endTransport()
		return
	}
	if due(s.nextPing, now) && s.reason == 0 {
		s.nextPing = 0
		s.pingSent = now
		s.pongDue = now.Add(o.PingTimeout + o.PingGrace)
		s.queueCtrl(codec.Packet{Type: codec.Ping})
	}
	if due(s.pongDue, now) && s.reason == 0 {
		if o.DisablePingTimeout {
			s.pongDue, s.nextPing = 0, now.Add(o.PingInterval)
		} else if s.events.stalled(s.pingSent) {
			// We stopped reading because the application is slow; the
			// pong may be waiting behind its messages. Give it time, from
			// now: the next judgment counts only stalls after this one,
			// or a peer gone during a stall would be waited for forever.
			s.pingSent = now
			s.pongDue = now.Add(o.PingTimeout + o.PingGrace)
		} else {
			s.srv.log.Info("eio: ping timeout", "session", sidTag(s.sid))
			s.close(ReasonPingTimeout, nil)
		}
	}
	s.arm()
}

func due(t, now actor.Instant) bool { return t != 0 && now >= t }

// arm sets the session's one timer to its nearest deadline.
func (s *session) arm() {
	var next actor.Instant
	for _, t := range [...]actor.Instant{s.nextPing, s.pongDue, s.upgradeDue, s.closeDue, s.pollDue} {
		if t != 0 && (next == 0 || t < next) {
			next = t
		}
	}
	if next == s.armed {
		return
	}
	s.armed = next
	if next == 0 {
		s.timer.Stop()
	} else {
		s.timer.ResetAt(next)
	}
}

// closeRequest is an end of the session asked for from outside the actor.
type closeRequest struct {
	reason Reason
	err    error
}

// requestClose asks the actor, from any goroutine, to end the session; the
// first request wins, and first says whether this was it. With abort the
// connection is cut at once, for a peer that is not reading.
func (s *session) requestClose(r Reason, err error, abort bool) (first bool) {
	first = s.closeReq.CompareAndSwap(nil, &closeRequest{r, err})
	if first {
		s.wake()
	}
	if abort {
		if c := s.live.Load(); c != nil {
			_ = c.Close()
		}
	}
	return first
}

// close starts ending the session. A server-side end owes the peer a close
// packet after what is queued; any other end stops at once.
func (s *session) close(r Reason, err error) {
	if s.reason != 0 {
		return
	}
	if req := s.closeReq.Load(); req != nil && (r == ReasonTransportClose || r == ReasonTransportError) {
		// The connection failed because someone asked for the end and cut
		// it (a slow consumer): report what was asked for.
		r, err = req.reason, req.err
	}
	s.reason, s.closeErr = r, err
	s.mode.Store(uint32(modeClosed))
	s.out.Close() // Send fails from now on; what is queued still drains
	owed := r == ReasonServerDisconnect || r == ReasonPingTimeout && s.writable()
	switch {
	case s.probe != nil && s.probed && owed:
		// The probe is answered: the client has stopped polling and its
		// upgrade packet will move the session to the WebSocket, where
		// the queued messages and the close packet then go. Closing the
		// probe now would leave them no transport: no GET would come.
		// The upgrade timeout still bounds the wait for that packet.
	case s.probe != nil:
		_ = s.probe.CloseWith(ws.StatusGoingAway)
		s.probe, s.probed = nil, false
		s.upgradeDue = 0
	}
	s.nextPing, s.pongDue = 0, 0
	if err != nil {
		s.srv.log.Debug("eio: session closing", "sid", s.sid, "reason", r.String(), "err", err)
	}
	// A server-side end owes the peer a close packet, after what is
	// queued. On polling that takes GETs: none may be held, and one carries
	// at most MaxPollPackets. The session waits up to PingTimeout for them,
	// then gives up and counts the rest undelivered. A peer that missed
	// its pong is presumed gone: it gets the close packet only if it can
	// take it now.
	switch {
	case owed:
		s.sendClose = true
		s.closeDue = actor.Now().Add(s.srv.opts.PingTimeout)
		if s.srv.closing.Load() && s.ws == nil {
			s.closeDue = s.heard.Add(s.shutdownGrace())
		}
		s.arm()
		if s.writable() {
			s.flush()
		}
	case r == ReasonClientDisconnect && s.ws == nil && s.poll == nil:
		s.lingerForPoll()
	default:
		s.endTransport()
	}
}

// awaitEnd waits until the session has ended, or ctx has.
func (s *session) awaitEnd(ctx context.Context) {
	reply := make(chan dataReply, 1)
	if s.cmds.Send(ctx, command{kind: cmdAwaitEnd, reply: reply}) != nil {
		return // ended already
	}
	select {
	case <-reply:
	case <-ctx.Done():
	}
}

// heardFrom notes that a polling client has just made itself heard. During
// Shutdown, its session then waits shutdownGrace more for the GET that
// takes the rest of its queue and the close packet.
func (s *session) heardFrom() {
	s.heard = actor.Now()
	if s.sendClose && s.srv.closing.Load() && s.ws == nil {
		s.closeDue = s.heard.Add(s.shutdownGrace())
		s.arm()
	}
}

// shutdownGrace is the package's shutdownGrace, or PingTimeout if that is
// shorter: a shutdown never waits longer than a Disconnect.
func (s *session) shutdownGrace() time.Duration {
	return min(s.srv.opts.shutdownGrace, s.srv.opts.PingTimeout)
}

// shutdownGrace is how long after its client was last heard from (a GET,
// a POST, the handshake), during [Server.Shutdown], a polling session with
// no GET held waits for one to take the rest of its queue and its close
// packet: a client that is still there polls again right after each
// answer, and one that went away after its handshake, or between two
// polls, must not hold Shutdown up.
// (Disconnect waits up to PingTimeout instead: there a client that missed
// the close packet would take the end for a transport failure and
// reconnect.)
const shutdownGrace = time.Second

// lingerForPoll keeps a polling session that its client closed, with no
// GET held, for settleTime: a GET the client sent before its close may
// still arrive, and gets the noop the reference gives a GET held at a
// client's close (see settleTime). The POST that carried the close is
// answered at the end.
func (s *session) lingerForPoll() {
	s.lingering = true
	s.closeDue = actor.Now().Add(settleTime)
	s.arm()
}

// endTransport lets go of every connection, answers a held GET with the
// close packet, and queues the disconnect event: the session is over.
func (s *session) endTransport() {
	if s.ended {
		return
	}
	s.ended = true
	s.lingering = false
	s.countTransport(-1)
	s.mode.Store(uint32(modeClosed))
	s.out.Close()
	s.cmds.Close()
	s.in.Close()
	if s.ws != nil {
		_ = s.ws.CloseWith(ws.StatusNormalClosure)
	}
	if s.probe != nil {
		_ = s.probe.CloseWith(ws.StatusGoingAway)
	}
	if s.poll != nil {
		// The reference releases a GET held when the client itself closed
		// with a noop, and any other with the close packet.
		last := codec.Packet{Type: codec.Close}
		if s.reason == ReasonClientDisconnect {
			last.Type = codec.Noop
		}
		s.replyPollPacket(s.poll, last)
		s.poll = nil
	}
	s.pollLate, s.pollDue = false, 0
	if s.endWaiter != nil {
		s.endWaiter <- dataReply{}
		s.endWaiter = nil
	}
	// Answer GETs that queued up behind the end.
	for {
		c, ok := s.cmds.TryRecv()
		if !ok {
			break
		}
		switch c.kind {
		case cmdPoll:
			c.poll.reply <- pollReply{err: true, code: CodeUnknownSID}
		case cmdUpgrade:
			s.announced.Add(-1)
			_ = c.ws.CloseWith(ws.StatusGoingAway)
		default:
			c.reply <- dataReply{err: ErrSessionClosed}
		}
	}
	if n := s.out.Len(); n > 0 {
		s.srv.log.Info("eio: session ended with undelivered messages", "session", sidTag(s.sid), "count", n)
		s.srv.stats.undelivered.Add(uint64(n))
	}
	s.closeDue = 0
	s.timer.Stop()
	s.srv.stats.disconnects[s.reason].Add(1)
	// Forget the session before the application hears of its end, so that
	// a Send after the disconnect event says ErrUnknownSession.
	s.srv.sessions.Delete(s.sid)
	s.emit(Event{Type: EventDisconnect, SID: s.sid, Reason: s.reason, Err: s.closeErr, Session: s.data})
}
