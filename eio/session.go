package eio

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/chanio/chanio/actor"
	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/internal/loglimit"
	"github.com/chanio/chanio/transport"
)

// This file is the server's side of the protocol core (endpoint.go): a
// session. What only a server does is here: it pings (protocol 4); it
// holds its client's long-poll GET (a transport.Poll) and settles a GET
// that races an upgrade; it answers the probe of an upgrade; it lingers
// after a client's close over polling for a GET already sent; it bounds
// Shutdown's wait for a polling client; it counts WebSocket handshakes
// announced before their 101; and it keeps the application's session data.

// command is what other goroutines ask of a session: HTTP handlers send a
// long-poll GET waiting for packets or a stream that wants to take over;
// the application reads or changes the session's data.
type command struct {
	kind   cmdKind
	poll   *transport.PollRequest
	stream transport.Stream
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

// Errors behind ReasonTransportError, carried in Event.Err.
var (
	errPollOverlap     = errors.New("eio: overlapping long-poll GET requests")
	errPostOverlap     = errors.New("eio: overlapping POST requests")
	errClientPing      = errors.New("eio: ping from a protocol 4 client (invalid heartbeat direction)")
	errUnexpectedOpen  = errors.New("eio: open packet from client")
	errUpgradeTimeout  = errors.New("eio: upgrade timed out")
	errUpgradeSequence = errors.New("eio: unexpected packet during upgrade")
	errBodyTooLarge    = errors.New("eio: POST body over MaxPayload")
	errBinaryPost      = errors.New("eio: binary POST body from a protocol 4 client")
	errEncodedPost     = errors.New("eio: POST body with a Content-Encoding")
	errPollAborted     = errors.New("eio: poll connection closed prematurely")
	errPostTimeout     = errors.New("eio: POST body not read within BodyTimeout")
)

// session is one Engine.IO session on a server: the protocol core and
// what only a server keeps.
type session struct {
	endpoint
	bind string // the secret of Options.BindCookie; "" when not bound
	srv  *Server

	cmds *actor.Mailbox[command] // HTTP handlers and data calls
	// poll is the session's long-polling; nil if it opened on a stream.
	// Set before the session is shared and never changed: HTTP handlers
	// read it.
	poll *polling

	// Owned by the actor.
	data any           // the application's session data
	req  *http.Request // handshake request, until the connect event
}

// polling is a session's long-polling: the transport, and what the
// session keeps only while it may poll (kept out of the session, which a
// WebSocket session does not need it in).
type polling struct {
	transport.Poll

	posting atomic.Bool // a POST body is being delivered
	// announced counts WebSocket handshakes for this session under way in
	// HTTP handlers, which have not reached the actor yet: a GET the
	// client sent after one of them was answered (101) must find the
	// session upgrading. See onPoll.
	announced atomic.Int32

	// Owned by the actor.
	endWaiter chan dataReply // a POST that carried the close packet, answered at the end
	due       actor.Instant  // a GET held during an upgrade is settled then: see onPoll
	heard     actor.Instant  // the client last posted or shook hands
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

// parkAfter is how long a stream must be quiet before its reader parks it
// on the poller and lets its goroutine go. Busy connections never park; a
// quiet one costs no goroutine until its next message. It is short because
// a waiting reader's stack is most of what a session costs while it waits:
// at one second, a burst of 10,000 handshakes kept about 4,000 readers
// (and their stacks) alive at once, and the runtime kept that memory long
// after. A park and its wake-up cost a few microseconds, so a connection
// with a message every 100 ms or more pays little for it.
const parkAfter = 100 * time.Millisecond

// newSession makes and registers a session for a handshake, on long-polling
// p, or (p nil) on the stream the handshake attaches; its actor runs once
// the server calls start, or ends unstarted on discard. It fails only when
// the server is shutting down.
func (srv *Server) newSession(v codec.Version, r *http.Request, p *transport.Poll) (*session, error) {
	o := &srv.opts
	s := &session{srv: srv, req: r, cmds: actor.NewMailbox[command](16)}
	s.init(s, &srv.env, v, int(o.MaxPayload), o.MaxQueueBytes)
	s.pings = v == codec.V4 // protocol 3: the client pings
	if p != nil {
		s.poll = &polling{Poll: *p}
		s.attach(s.poll)
	}
	runner, err := srv.group.NewRunner("session", s.work)
	if err != nil {
		return nil, ErrServerClosed
	}
	s.runner = runner
	schedule := runner.Schedule // one method value for the three
	s.cmds.SetNotify(schedule)
	s.in.SetNotify(schedule)
	s.out.SetNotify(schedule)
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
		s.requestClose(ReasonServerDisconnect, ErrServerClosed, false)
	}
	return s, nil
}

// discard ends a session whose handshake failed before it started.
func (s *session) discard() {
	s.begun, s.ended = true, true
	s.setClosed()
	s.srv.sessions.Delete(s.sid)
	s.cmds.Close()
	s.in.Close()
	s.out.Close()
	s.setFlag(flagStarted) // publishes the fields above to the actor
	s.runner.Schedule()
}

// onPolling reports whether the session is on its long-polling. For the
// actor only; other goroutines ask polling or onStream.
func (s *session) onPolling() bool { return s.poll != nil && s.cur == transport.Conn(s.poll) }

// polling reports, from any goroutine, whether the session is open and on
// long-polling (upgrading included).
func (s *session) polling() bool {
	name, closed := s.transportName()
	return !closed && name == TransportPolling
}

// onStream reports, from any goroutine, whether the session is open and on
// a stream transport.
func (s *session) onStream() bool {
	name, closed := s.transportName()
	return !closed && name != TransportPolling
}

// onBegin announces the session and, on one that opened on a stream,
// starts reading: its handshake has written the open packet (with the
// 101 answer on a WebSocket) before it started the session.
func (s *session) onBegin() {
	s.countTransport(s.cur.Name(), 1)
	s.emit(Event{Type: EventConnect, SID: s.sid, Request: s.req, Transport: s.cur.Name(), Session: s.data})
	s.req = nil
	if s.poll != nil {
		s.poll.heard = actor.Now() // the handshake
	}
	if c, ok := s.cur.(transport.Stream); ok {
		s.read(c)
	}
}

// countTransport moves the server's count of sessions on transport name
// by delta.
func (s *session) countTransport(name string, delta int64) {
	switch name {
	case TransportPolling:
		s.srv.stats.polling.Add(delta)
	case TransportWebTransport:
		s.srv.stats.webtransport.Add(delta)
	default:
		s.srv.stats.websocket.Add(delta)
	}
}

// upgrading reports whether a stream is probing for the session, or is on
// its way to (a handshake announced it).
func (s *session) upgrading() bool {
	return s.probe != nil || s.poll != nil && s.poll.announced.Load() > 0
}

func (s *session) commands() {
	for {
		c, ok := s.cmds.TryRecv()
		if !ok {
			return
		}
		switch c.kind {
		case cmdPoll:
			s.onPoll(c.poll)
		case cmdUpgrade:
			s.onUpgrade(c.stream)
		case cmdGet:
			c.reply <- dataReply{value: s.data}
		case cmdSave:
			s.data = c.value
			c.reply <- dataReply{value: s.data}
		case cmdUpdate:
			s.data = c.update(s.data)
			c.reply <- dataReply{value: s.data}
		case cmdAwaitEnd:
			if s.poll.endWaiter != nil {
				s.poll.endWaiter <- dataReply{} // cannot happen: POSTs do not overlap
			}
			s.poll.endWaiter = c.reply
		}
	}
}

func (s *session) onPoll(p *transport.PollRequest) {
	switch {
	case !s.onPolling():
		p.Refuse(int(CodeBadRequest))
	case s.lingering:
		// Sent before the client's close: the reference would have held
		// it, and released it with a noop at the close.
		s.poll.AnswerWith(p, codec.Packet{Type: codec.Noop})
		s.endTransport()
	case s.reason != 0 && !s.sendClose:
		p.Refuse(int(CodeBadRequest))
	case s.poll.Held():
		// Two GETs at once: the reference answers the second with 400 and
		// ends the session; the held one gets the close packet.
		p.Refuse(int(CodeBadRequest))
		s.close(ReasonTransportError, errPollOverlap)
	case s.upgrading():
		// Sent before the probe, or after the upgrade packet that the
		// probe's reader has not delivered yet: settle it later.
		s.poll.Hold(p, true)
		s.poll.due = actor.Now().Add(settleTime)
		s.arm()
		s.notePollHeld()
	default:
		s.poll.Hold(p, false)
		s.notePollHeld()
		if len(s.ctrl) > 0 || s.out.Len() > 0 || s.reason != 0 {
			s.flush()
		}
	}
}

// notePollHeld tells a test hook that a GET is held.
func (s *session) notePollHeld() {
	if h := s.env.hooks; h != nil && h.pollHeld != nil {
		h.pollHeld(s.sid)
	}
}

// settlePoll decides the GET held during an upgrade once settleTime has
// passed without the upgrade completing: it was sent before the upgrade
// packet. While the probe has been answered it gets a noop, so that the
// client can finish the upgrade; otherwise it is an ordinary held GET.
func (s *session) settlePoll() {
	s.poll.due = 0
	if !s.poll.Held() {
		s.poll.Settle()
		return
	}
	if s.probed {
		s.poll.Release(codec.Packet{Type: codec.Noop})
		return
	}
	s.poll.Settle()
	if len(s.ctrl) > 0 || s.out.Len() > 0 || s.reason != 0 {
		s.flush()
	}
}

// onUpgrade takes a stream that wants to take the session over: it
// becomes the probe of an upgrade, unless the session takes none now.
func (s *session) onUpgrade(c transport.Stream) {
	s.poll.announced.Add(-1)
	if !s.onPolling() || s.probe != nil || s.reason != 0 || s.srv.opts.DisableUpgrades {
		// The reference accepts a second WebSocket for a session and then
		// closes it, with a close frame without a status code.
		_ = c.CloseAs(transport.CloseRefused)
		if s.poll != nil && s.poll.Late() && !s.upgrading() {
			s.settlePoll()
		}
		return
	}
	s.startProbe(c, s.srv.opts.UpgradeTimeout)
}

// receiveProbe answers the client's probe ping with a pong and releases
// the held GET, so that the client pauses polling; then the client's
// upgrade packet moves the session to the probe.
func (s *session) receiveProbe(p codec.Packet) {
	switch {
	case p.Type == codec.Ping && string(p.Data) == "probe" && !s.probed:
		pong := [1]transport.Outgoing{{Packet: codec.Packet{Type: codec.Pong, Data: []byte("probe")}}}
		if err := s.probe.Write(pong[:]); err != nil {
			s.abandonUpgrade(err)
			return
		}
		s.probed = true
		if !s.poll.Late() {
			// Release the held GET so that the client can pause polling.
			// One that came during the upgrade waits to be settled.
			s.poll.Release(codec.Packet{Type: codec.Noop})
		}
	case p.Type == codec.Upgrade && s.probed:
		s.switchToProbe()
	default:
		s.abandonUpgrade(errUpgradeSequence)
	}
}

// ready: a server's transports do not report room; a GET comes as a
// command.
func (s *session) ready(transport.Conn, readiness) {}

// lost closes the session for the failure of its transport.
func (s *session) lost(err error) { s.close(s.reasonFor(err), err) }

// upgraded counts the upgrade and answers a GET held during it.
func (s *session) upgraded(old transport.Conn) {
	s.countTransport(old.Name(), -1)
	s.countTransport(s.cur.Name(), 1)
	s.srv.stats.upgrades.Add(1)
	s.srv.log.Debug("eio: upgraded", "sid", s.sid, "transport", s.cur.Name())
	if s.poll.Held() {
		// Held during the upgrade and not settled: it may have been
		// sent after the upgrade packet, and is answered as the
		// reference answers a GET that reaches an upgraded session.
		s.poll.RefuseHeld(int(CodeBadRequest))
	}
	s.poll.due = 0
}

func (s *session) upgradeFailed(err error) {
	s.srv.stats.upgradesFailed.Add(1)
	s.srv.log.Info("eio: upgrade abandoned", "session", sidTag(s.sid), "err", loglimit.Error{Err: err})
}

// resume settles a GET that waited for the abandoned upgrade.
func (s *session) resume() {
	if s.poll.Late() && !s.upgrading() {
		s.settlePoll()
	}
}

// owesClose: a server-side end owes the peer a close packet after what is
// queued. A peer that missed its pong is presumed gone: it gets the close
// packet only if it can take it now.
func (s *session) owesClose(r Reason) bool {
	return r == ReasonServerDisconnect || r == ReasonPingTimeout && s.writable()
}

// closeWait: on polling the close packet takes GETs: none may be held, and
// one carries at most MaxPollPackets. The session waits up to PingTimeout
// for them, then gives up and counts the rest undelivered; during Shutdown
// only shutdownGrace from when its client was last heard from.
func (s *session) closeWait() actor.Instant {
	if s.srv.closing.Load() && s.onPolling() {
		return s.lastHeard().Add(s.shutdownGrace())
	}
	return actor.Now().Add(s.srv.opts.PingTimeout)
}

// lingers keeps a polling session that its client closed, with no GET
// held, for settleTime: a GET the client sent before its close may still
// arrive, and gets the noop the reference gives a GET held at a client's
// close (see settleTime). The POST that carried the close is answered at
// the end.
func (s *session) lingers(r Reason) bool {
	if r != ReasonClientDisconnect || !s.onPolling() || s.poll.Held() {
		return false
	}
	s.lingering = true
	s.closeDue = actor.Now().Add(settleTime)
	s.arm()
	return true
}

// closeWritten: the close packet is out, the session is over.
func (s *session) closeWritten(error) { s.endTransport() }

// closeExpired: during Shutdown a polling client that has made itself
// heard since (a GET answered, a POST on its way in) is still there, and
// gets shutdownGrace more.
func (s *session) closeExpired() bool {
	if !s.sendClose || !s.srv.closing.Load() || !s.onPolling() {
		return true
	}
	now := actor.Now()
	heard := s.lastHeard()
	if s.poll.posting.Load() {
		heard = now
	}
	if next := heard.Add(s.shutdownGrace()); next > now {
		s.closeDue = next
		return false
	}
	return true
}

// closeHow: the reference releases a GET held when the client itself
// closed with a noop, and any other with the close packet. A stream whose
// connection ended (EOF, reset) gets no close frame, as Node's ws sends
// none on a connection that ended without one: no one would read it, and
// writing it to a socket the peer has closed costs a system call and
// draws a reset. (A close frame the peer sent has been answered by the
// reader already.)
func (s *session) closeHow(r Reason) transport.Closing {
	switch {
	case r == ReasonClientDisconnect:
		return transport.ClosePeerEnded
	case r == ReasonTransportClose && !s.onPolling():
		return transport.CloseAbort
	}
	return transport.CloseNormal
}

func (s *session) deadline() actor.Instant {
	if s.poll == nil {
		return 0
	}
	return s.poll.due
}

func (s *session) onDeadline(actor.Instant) { s.settlePoll() }

// hearsWhileClosing: as the reference server, a closing session takes no
// more packets.
func (s *session) hearsWhileClosing() bool { return false }

// unheard: a POST while the session ends is its client making itself
// heard.
func (s *session) unheard(m inbound) {
	if s.poll != nil && m.from == transport.Conn(s.poll) {
		s.poll.heard = actor.Now()
	}
}

// sentBefore: packets POSTed before the upgrade packet may be handled after
// it; they still count.
func (s *session) sentBefore(c transport.Conn) bool {
	return s.poll != nil && c == transport.Conn(s.poll)
}

func (s *session) received(p codec.Packet) {
	s.srv.stats.messagesIn.Add(1)
	s.srv.stats.bytesIn.Add(uint64(len(p.Data)))
}

func (s *session) sent(n, bytes int) {
	st := &s.srv.stats
	st.messagesOut.Add(uint64(n))
	st.bytesOut.Add(uint64(bytes))
	st.noteQueue(int64(bytes))
}

func (s *session) undelivered(n int) { s.srv.stats.undelivered.Add(uint64(n)) }

func (s *session) dropped(n int) { s.srv.stats.eventsDropped.Add(uint64(n)) }

func (s *session) trimSide() { s.cmds.Trim() }

func (s *session) beforeEnd() {
	s.countTransport(s.cur.Name(), -1)
	s.cmds.Close()
}

// afterEnd answers what waits for the end and tells the application.
func (s *session) afterEnd() {
	if s.poll != nil {
		s.poll.due = 0
		if s.poll.endWaiter != nil {
			s.poll.endWaiter <- dataReply{}
			s.poll.endWaiter = nil
		}
	}
	// Answer what queued up behind the end.
	for {
		c, ok := s.cmds.TryRecv()
		if !ok {
			break
		}
		switch c.kind {
		case cmdPoll:
			c.poll.Refuse(int(CodeUnknownSID))
		case cmdUpgrade:
			s.poll.announced.Add(-1)
			_ = c.stream.CloseAs(transport.CloseGoingAway)
		default:
			c.reply <- dataReply{err: ErrSessionClosed}
		}
	}
	if n := s.out.Len(); n > 0 {
		s.srv.log.Info("eio: session ended with undelivered messages", "session", sidTag(s.sid), "count", n)
		s.srv.stats.undelivered.Add(uint64(n))
	}
	s.srv.stats.disconnects[s.reason].Add(1)
	// Forget the session before the application hears of its end, so that
	// a Send after the disconnect event says ErrUnknownSession.
	s.srv.sessions.Delete(s.sid)
	s.emit(Event{Type: EventDisconnect, SID: s.sid, Reason: s.reason, Err: s.closeErr, Session: s.data})
}

func (s *session) finish(context.Context) { s.queue.drop() }

func (s *session) info(msg string, args ...any) {
	s.srv.log.Info(msg, append([]any{"session", sidTag(s.sid)}, args...)...)
}

func (s *session) debug(msg string, args ...any) {
	s.srv.log.Debug(msg, append([]any{"sid", s.sid}, args...)...)
}

func (s *session) debugging() bool { return s.srv.debugging() }

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

// lastHeard is when the polling client was last heard from: a GET
// answered, a POST, the handshake.
func (s *session) lastHeard() actor.Instant {
	return max(s.poll.heard, s.poll.Answered())
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
