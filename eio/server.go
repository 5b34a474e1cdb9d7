package eio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"expvar"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/chanio/chanio/actor"
	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/transport"
	"github.com/puzpuzpuz/xsync/v3"
)

// Server is an Engine.IO server. It is an [http.Handler]: mount it at its
// path (Options.Path, "/engine.io/" by default) on any router.
//
// Every session is an actor of its own. The application reads what
// sessions report from [Server.Events] and talks to them with
// [Server.Send], [Server.SendBinary], [Server.SendJSON], [Server.Broadcast]
// and [Server.Disconnect], all safe from any goroutine and none of which
// waits on a slow peer.
type Server struct {
	opts serverOptions
	log  *slog.Logger

	group   *actor.Group      // session actors
	readers transport.Readers // stream readers: they must still start while sessions wind down
	core    *actor.Group      // the supervisor and the poller, stopped after the sessions
	sup     *actor.Supervisor

	// sessions holds every session by id. http.Server.Shutdown does not
	// see hijacked connections (WebSocket): Close cuts each session's
	// stream through it (endpoint.cut), and a session's end closes its
	// streams, probes included.
	sessions *xsync.MapOf[string, *session]

	events chan Event
	env    endpointEnv // what every session shares
	// poller parks quiet streams so that they hold no goroutine; nil
	// where the platform has none (readers then wait on their goroutine).
	poller *transport.Poller

	// budget bounds the bytes of messages and bodies still arriving
	// (Options.MaxBytesInFlight); nil when unbounded.
	budget *transport.ReadBudget

	closing atomic.Bool
	// httpServers are the http.Servers whose Shutdown begins this one's;
	// lastHTTPServer is the one the last request came from, checked first.
	httpServers    sync.Map // *http.Server -> struct{}
	lastHTTPServer atomic.Pointer[http.Server]
	closeOnce      sync.Once
	stats          serverStats

	pathWarned atomic.Bool // a request outside Options.Path was logged

	// webTransport serves WebTransport over HTTP/3 once
	// ListenWebTransport has made it; wtMu orders its making with Close.
	webTransport atomic.Pointer[transport.WebTransportServer]
	wtMu         sync.Mutex
	wtClosed     bool
}

// NewServer returns a running server configured by opts (nil means all
// defaults). Stop it with [Server.Shutdown] or [Server.Close].
func NewServer(opts *Options) *Server { return newServer(opts, time.Now) }

// newServer is NewServer with the clock the log rate limit reads (tests
// give a fake one).
func newServer(opts *Options, logClock func() time.Time) *Server {
	o := opts.withDefaults()
	s := &Server{
		opts:     o,
		log:      limitLogger(o.Logger, logClock),
		budget:   transport.NewReadBudget(o.MaxBytesInFlight),
		sessions: xsync.NewMapOf[string, *session](),
		events:   make(chan Event, o.EventBuffer),
	}
	s.core = actor.NewGroup(func(name string, err error) {
		s.log.Error("eio: internal goroutine failed", "name", name, "err", err)
	})
	s.group = actor.NewGroup(func(name string, err error) {
		s.log.Error("eio: session goroutine failed", "name", name, "err", err)
	})
	s.readers = transport.Readers{
		Group: actor.NewGroup(func(name string, err error) {
			s.log.Error("eio: reader goroutine failed", "name", name, "err", err)
		}),
		Quiet: parkAfter,
	}
	s.env = endpointEnv{
		events:            s.events,
		readers:           &s.readers,
		interval:          o.PingInterval,
		wait:              o.PingTimeout + o.PingGrace,
		noTimeout:         o.DisablePingTimeout,
		cutReason:         ReasonServerDisconnect,
		cutErr:            ErrServerClosed,
		peerClose:         ReasonClientDisconnect,
		otherFailure:      ReasonTransportError,
		errOpen:           errUnexpectedOpen,
		errUpgradeTimeout: errUpgradeTimeout,
		errInternal:       errInternal,
	}
	sup, err := actor.NewSupervisor(s.core)
	if err != nil {
		panic("eio: new group refused a spawn: " + err.Error()) // cannot happen
	}
	s.sup = sup
	if p, err := transport.NewPoller(); err == nil {
		s.poller = p
		s.readers.Poller = p
		_ = s.core.Go("poller", func(context.Context) error { return p.Run() })
	}
	return s
}

// Events returns the channel on which the server reports every session's
// connect, messages (with one upgrade among them for a session that moves
// from polling to WebSocket) and disconnect, in that order per session. Read it
// without pause: while it is full, sessions stop reading from their
// clients. It is closed once Shutdown or Close has ended every session.
func (s *Server) Events() <-chan Event { return s.events }

// Send queues data as a text message to the session sid. data must be valid
// UTF-8 (use [Server.SendBinary] for bytes): otherwise Send returns
// [ErrInvalidUTF8], queues nothing, and the session goes on. The server
// keeps data until it is written: do not change it after the call.
//
// Send never waits on the peer. It returns [ErrUnknownSession],
// [ErrSessionClosed], [ErrServerClosed] once Shutdown or Close has begun,
// or [ErrSlowConsumer] when the session's queue is full (the session is
// then closed with [ReasonSlowConsumer]).
func (s *Server) Send(sid string, data []byte) error {
	return s.SendPacket(sid, codec.Packet{Type: codec.Message, Data: data})
}

// SendBinary queues data as a binary message to the session sid, as
// [Server.Send] does text.
func (s *Server) SendBinary(sid string, data []byte) error {
	return s.SendPacket(sid, codec.Packet{Type: codec.Message, Data: data, Binary: true})
}

// SendJSON encodes v with Options.JSON (encoding/json by default) and
// queues it as a text message to the session sid, as [Server.Send] does.
func (s *Server) SendJSON(sid string, v any) error {
	data, err := s.opts.JSON.Marshal(v)
	if err != nil {
		return err
	}
	return s.Send(sid, data)
}

// SendPacket queues a raw packet to the session sid, for protocol-level
// work (a noop, a message with unusual framing). Most applications want
// [Server.Send]. Errors are those of Send: a packet that travels as text
// must be valid UTF-8.
func (s *Server) SendPacket(sid string, p codec.Packet) error {
	sess, err := s.open(sid)
	if err != nil {
		return err
	}
	if !codec.FrameIsBinary(p, sess.version) && !utf8.Valid(p.Data) {
		// A WebSocket peer would end the session over it (close 1007),
		// and a polling one would get the bytes as they are.
		return ErrInvalidUTF8
	}
	return s.enqueue(sess, transport.Outgoing{Packet: p})
}

// open returns the session sid for a caller that acts on it:
// [ErrServerClosed] once Shutdown or Close has begun, [ErrUnknownSession]
// when no session has that id.
func (s *Server) open(sid string) (*session, error) {
	if s.closing.Load() {
		return nil, ErrServerClosed
	}
	sess, ok := s.sessions.Load(sid)
	if !ok {
		return nil, ErrUnknownSession
	}
	return sess, nil
}

// enqueue queues item to sess without waiting; a full queue closes the
// session as a slow consumer.
func (s *Server) enqueue(sess *session, item transport.Outgoing) error {
	switch sess.out.TrySend(item) {
	case nil:
		return nil
	case actor.ErrFull:
		if sess.requestClose(ReasonSlowConsumer, nil, true) {
			// Once per session: the Sends that follow until the session
			// has closed its queue fail the same way without a word.
			s.log.Warn("eio: slow consumer, closing session", "session", sidTag(sess.sid), "queued_bytes", sess.out.Bytes())
		}
		return ErrSlowConsumer
	default:
		return ErrSessionClosed
	}
}

// Broadcast queues data as a text message to every session the server
// holds or, with a filter, to each session whose id filter accepts (return
// false to leave one out: the sender, say). filter runs on the calling
// goroutine, once per session, and may call any Server method.
//
// The message is encoded once, as the WebSocket frame and as the polling
// packet (for each protocol version the server accepts, and compressed
// too when WebSocketCompression applies), and every session's queue holds
// those same bytes: one allocation per broadcast, whatever the number of
// sessions, and no copy per session. data is copied by then: it may be
// reused once Broadcast returns.
//
// Broadcast never waits on a peer. For each session it does what
// [Server.Send] does: a session whose queue is full is closed with
// [ReasonSlowConsumer], one that is ending is skipped; neither fails the
// broadcast. It returns how many sessions it queued the message for, and
// [ErrInvalidUTF8] (nothing queued) when data is not valid UTF-8, or
// [ErrServerClosed] once Shutdown or Close has begun.
func (s *Server) Broadcast(data []byte, filter func(sid string) bool) (int, error) {
	if !utf8.Valid(data) {
		return 0, ErrInvalidUTF8
	}
	return s.broadcast(codec.Packet{Type: codec.Message, Data: data}, filter)
}

// BroadcastBinary queues data as a binary message to every session, or to
// those filter accepts, as [Server.Broadcast] does text.
func (s *Server) BroadcastBinary(data []byte, filter func(sid string) bool) (int, error) {
	return s.broadcast(codec.Packet{Type: codec.Message, Data: data, Binary: true}, filter)
}

func (s *Server) broadcast(p codec.Packet, filter func(sid string) bool) (int, error) {
	if s.closing.Load() {
		return 0, ErrServerClosed
	}
	item := s.prepare(p)
	n := 0
	s.sessions.Range(func(sid string, sess *session) bool {
		if (filter == nil || filter(sid)) && s.enqueue(sess, item) == nil {
			n++
		}
		return true
	})
	return n, nil
}

// prepare encodes p in every form this server's sessions may send it in.
func (s *Server) prepare(p codec.Packet) transport.Outgoing {
	return transport.Prepare(p, transport.PrepareOptions{
		V3:               s.opts.AllowEIO3,
		Deflate:          s.opts.WebSocketCompression,
		DeflateThreshold: s.opts.CompressionThreshold,
	})
}

// A Prepared is a message encoded once, by [Server.Prepare] or
// [Server.PrepareBinary], to be queued to any number of the server's
// sessions with [Server.SendPrepared]: every session's queue holds the
// same bytes, as with [Server.Broadcast], for a caller that picks the
// sessions itself (the members of a room, say). It is immutable and safe
// to share between goroutines.
type Prepared struct {
	item transport.Outgoing
	srv  *Server
}

// Prepare encodes data as a text message for [Server.SendPrepared], as
// the WebSocket frame and the polling packet of each protocol version the
// server accepts (compressed too when WebSocketCompression applies), in
// one allocation. data is copied: it may be reused once Prepare returns.
// It fails with [ErrInvalidUTF8] when data is not valid UTF-8.
func (s *Server) Prepare(data []byte) (*Prepared, error) {
	if !utf8.Valid(data) {
		return nil, ErrInvalidUTF8
	}
	return &Prepared{item: s.prepare(codec.Packet{Type: codec.Message, Data: data}), srv: s}, nil
}

// PrepareBinary encodes data as a binary message for
// [Server.SendPrepared], as [Server.Prepare] does text.
func (s *Server) PrepareBinary(data []byte) *Prepared {
	return &Prepared{item: s.prepare(codec.Packet{Type: codec.Message, Data: data, Binary: true}), srv: s}
}

// SendPrepared queues m to the session sid, as [Server.Send] queues a
// message, with the same errors; m must come from this server's Prepare
// or PrepareBinary ([ErrForeignPrepared] otherwise, since the forms it
// holds follow the server's options).
func (s *Server) SendPrepared(sid string, m *Prepared) error {
	if m == nil || m.srv != s {
		return ErrForeignPrepared
	}
	sess, err := s.open(sid)
	if err != nil {
		return err
	}
	return s.enqueue(sess, m.item)
}

// Queued returns how many messages accepted by Send (and the other Send
// methods) for the session sid are still waiting for its transport: zero
// when a message sent now goes out at once, rather than behind others.
// On long-polling, messages wait from one GET to the next. A sender of
// messages that are worth sending only now (Socket.IO's volatile emits)
// drops a message instead of queuing it when Queued is not zero.
func (s *Server) Queued(sid string) (int, error) {
	sess, ok := s.sessions.Load(sid)
	if !ok {
		return 0, ErrUnknownSession
	}
	return sess.out.Len(), nil
}

// Disconnect ends the session sid from the server side: queued messages are
// sent, then a close packet, and the application gets its disconnect event
// with [ReasonServerDisconnect]. It does not wait for any of that.
func (s *Server) Disconnect(sid string) error {
	sess, err := s.open(sid) // once closing, every session is being ended already
	if err != nil {
		return err
	}
	sess.requestClose(ReasonServerDisconnect, nil, false)
	return nil
}

// DisconnectAll ends every session as [Server.Disconnect] does.
func (s *Server) DisconnectAll() {
	s.sessions.Range(func(_ string, sess *session) bool {
		sess.requestClose(ReasonServerDisconnect, nil, false)
		return true
	})
}

// Transport returns the name of the transport the session sid is on:
// [TransportPolling] (also while it is upgrading), [TransportWebSocket] or
// [TransportWebTransport].
func (s *Server) Transport(sid string) (string, error) {
	sess, ok := s.sessions.Load(sid)
	if !ok {
		return "", ErrUnknownSession
	}
	name, closed := sess.transportName()
	if closed {
		return "", ErrSessionClosed
	}
	return name, nil
}

// Range calls fn with the id of every session the server holds, until fn
// returns false: the way to find sessions by their data. To send one
// message to many sessions, [Server.Broadcast] encodes it once for all.
// Sessions may start and end during the walk; fn may call any Server
// method.
func (s *Server) Range(fn func(sid string) bool) {
	s.sessions.Range(func(sid string, _ *session) bool { return fn(sid) })
}

// Len returns the number of sessions the server holds, including sessions
// that are ending.
func (s *Server) Len() int { return s.sessions.Size() }

// Options returns the options the server runs with: those given to
// [NewServer] with every default applied (Path with its trailing slash,
// PingInterval, JSON, ...). It is for code that serves next to the server
// and must agree with it, as the cluster package does; it shares the
// slices and pointers of the options given.
func (s *Server) Options() Options { return s.opts.Options }

// Shutdown stops the server gracefully: it refuses new handshakes, ends
// every session as Disconnect does (queued messages are flushed, then a
// close packet), waits until every session's goroutines have exited and
// their events have been read, and closes the Events channel. A polling
// session with no GET held waits for one only until a second after its
// client was last heard from (a GET, a POST or the handshake; not
// PingTimeout, as after Disconnect): a client still there polls again at
// once and gets the rest of its queue and the close packet, and a client
// that vanished after its handshake does not hold Shutdown up.
//
// The [http.Server] that serves the Server's requests begins Shutdown too
// when its own Shutdown is called: held long-polls are answered with the
// close packet rather than keeping http.Server.Shutdown waiting, so the
// two may be shut down in either order. The Server learns of the
// http.Server from the first request it serves (through
// [http.ServerContextKey]) and registers with its RegisterOnShutdown.
//
// If ctx ends first, Shutdown returns ctx.Err() and the sessions go on
// closing; call [Server.Close] to cut them. Shutdown is idempotent. Once it
// has begun, Send and Disconnect return [ErrServerClosed].
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.group.Seal()
	s.sessions.Range(func(_ string, sess *session) bool {
		sess.requestClose(ReasonServerDisconnect, ErrServerClosed, false)
		return true
	})
	if err := s.group.WaitContext(ctx); err != nil {
		return err
	}
	if wt := s.webTransport.Load(); wt != nil {
		// The close packets the sessions wrote are read before their
		// WebTransport sessions close.
		if err := wt.Drain(ctx); err != nil {
			return err
		}
	}
	s.finishClose()
	return nil
}

// Close stops the server now: it refuses new handshakes, cuts every
// connection (a close packet is attempted but not waited for), and returns
// once every goroutine has exited, with the Events channel closed. Events
// that do not fit in the channel's buffer by then are dropped. Close is
// idempotent.
func (s *Server) Close() error {
	s.closing.Store(true)
	s.closeWebTransport() // its sessions' streams end at once
	s.group.Stop()
	// An idle session has no goroutine to see the group stop: wake each.
	// Its stream is cut, so that a pass caught in a write to a peer that
	// does not read returns; the pass then closes its other streams.
	s.sessions.Range(func(_ string, sess *session) bool {
		sess.cut()
		sess.runner.Schedule()
		return true
	})
	s.group.Wait()
	s.finishClose()
	return nil
}

// followShutdown registers s to begin its Shutdown when hs's Shutdown is
// called, once per http.Server. Without it, an http.Server shut down first
// would wait for the held long-polls that only the sessions' end releases.
func (s *Server) followShutdown(hs *http.Server) {
	if s.lastHTTPServer.Load() == hs {
		return
	}
	if _, known := s.httpServers.LoadOrStore(hs, struct{}{}); !known {
		hs.RegisterOnShutdown(func() { _ = s.Shutdown(context.Background()) })
	}
	s.lastHTTPServer.Store(hs)
}

// finishClose runs once every session has ended: it stops the readers
// (whose connections the sessions have closed), the poller and the
// supervisor, and closes the Events channel.
func (s *Server) finishClose() {
	s.closeOnce.Do(func() {
		s.closeWebTransport()
		s.readers.Group.Stop() // every stream is closed: the sessions closed them as they ended
		s.readers.Group.Wait()
		if s.poller != nil {
			_ = s.poller.Close()
		}
		s.core.Stop()
		s.core.Wait()
		close(s.events)
	})
}

// Session returns the data the application keeps with the session sid:
// what Options.AuthorizeSession returned for it, or what was saved since
// (nil when neither). It waits for the session's actor, within ctx.
func (s *Server) Session(ctx context.Context, sid string) (any, error) {
	return s.dataCommand(ctx, sid, command{kind: cmdGet})
}

// SaveSession replaces the data the application keeps with the session
// sid. The data lives as long as the session and comes back in its
// EventDisconnect.
func (s *Server) SaveSession(ctx context.Context, sid string, v any) error {
	_, err := s.dataCommand(ctx, sid, command{kind: cmdSave, value: v})
	return err
}

// UpdateSession replaces the session's data with fn(data), atomically with
// respect to every other data call, and returns the new data. fn runs on
// the session's actor: keep it short, and do not call the server's
// session-data methods for the same sid from it (that would wait for
// itself until ctx ends).
func (s *Server) UpdateSession(ctx context.Context, sid string, fn func(any) any) (any, error) {
	return s.dataCommand(ctx, sid, command{kind: cmdUpdate, update: fn})
}

func (s *Server) dataCommand(ctx context.Context, sid string, c command) (any, error) {
	sess, ok := s.sessions.Load(sid)
	if !ok {
		return nil, ErrUnknownSession
	}
	c.reply = make(chan dataReply, 1)
	if err := sess.cmds.Send(ctx, c); err != nil {
		if errors.Is(err, actor.ErrClosed) {
			return nil, ErrSessionClosed
		}
		return nil, err
	}
	select {
	case r := <-c.reply:
		return r.value, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// register stores sess under a new session id, which it sets.
func (s *Server) register(sess *session) {
	for {
		sid := s.newSID()
		if _, taken := s.sessions.LoadOrStore(sid, sess); !taken {
			sess.sid = sid
			return
		}
		s.log.Warn("eio: session id generated twice; generating another", "session", sidTag(sid))
	}
}

// start runs a new session's actor for the first time. Until then its
// actor does nothing, however often it is scheduled.
func (s *Server) start(sess *session) {
	s.stats.handshakes.Add(1)
	sess.setFlag(flagStarted) // publishes the handshake's writes (attach) to the actor
	sess.runner.Schedule()
}

// startHere is start with the first pass on the calling goroutine, which
// returns when the pass is done: a stream's handshake has nothing left
// to do, and a goroutine of its own for the pass would cost its start and
// the growth of its stack.
func (s *Server) startHere(sess *session) {
	s.stats.handshakes.Add(1)
	sess.setFlag(flagStarted)
	sess.runner.Run()
}

func (s *Server) newSID() string {
	if s.opts.GenerateID != nil {
		return s.opts.GenerateID()
	}
	return randomSID()
}

// randomSID returns a session id: 15 bytes (120 bits) from crypto/rand,
// URL-safe base64, 20 characters. The bytes come from sidPool, which
// reads crypto/rand for 64 ids at a time: a handshake's share of one read
// rather than a read of its own (5% of a WebSocket handshake's CPU in its
// profile). Every byte read is handed out once, and cleared from the pool
// as it is.
func randomSID() string {
	var b [sidBytes]byte
	p := &sidPool
	p.mu.Lock()
	if p.left < sidBytes {
		_, _ = rand.Read(p.buf[:])
		p.left = len(p.buf)
	}
	p.left -= sidBytes
	copy(b[:], p.buf[p.left:])
	clear(p.buf[p.left : p.left+sidBytes])
	p.mu.Unlock()
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// sidBytes is the random bytes of a session id.
const sidBytes = 15

// sidPool holds random bytes from crypto/rand for the next session ids:
// the last left bytes of buf.
var sidPool struct {
	mu   sync.Mutex
	buf  [64 * sidBytes]byte
	left int
}

// debugging reports whether the server's debug logs go anywhere, so that
// the handshake skips building their arguments when they do not.
func (s *Server) debugging() bool { return s.log.Enabled(context.Background(), slog.LevelDebug) }

// openPackets builds what a session of protocol v starts with: the open
// packet, and the initial message if one is configured.
func (s *Server) openPackets(sid string, upgradable bool, v codec.Version) []codec.Packet {
	open := s.openPacket(sid, upgradable, v)
	if s.opts.InitialMessage == nil {
		return []codec.Packet{open}
	}
	return []codec.Packet{open, {Type: codec.Message, Data: s.opts.InitialMessage}}
}

// openPacket builds the open packet for a session of protocol v. A
// protocol 3 one has no maxPayload, as the Node 3.x server's.
func (s *Server) openPacket(sid string, upgradable bool, v codec.Version) codec.Packet {
	h := codec.Handshake{
		SID:          sid,
		Upgrades:     []string{},
		PingInterval: s.opts.pingIntervalMS,
		PingTimeout:  s.opts.pingTimeoutMS,
		MaxPayload:   s.opts.MaxPayload,
	}
	if upgradable && !s.opts.DisableUpgrades {
		if s.webTransport.Load() != nil {
			h.Upgrades = s.opts.allowStreams
		} else {
			h.Upgrades = s.opts.allowStreamsNoWT
		}
	}
	// Sized once for what it usually holds (about 100 bytes and the
	// upgrades' names): appended to nil, it was five allocations.
	buf := make([]byte, 0, 128+len(sid)+16*len(h.Upgrades))
	if v == codec.V3 {
		return codec.Packet{Type: codec.Open, Data: codec.AppendHandshakeV3(buf, h)}
	}
	return codec.Packet{Type: codec.Open, Data: codec.AppendHandshake(buf, h)}
}

// serverStats are the server's counters: atomics, so that the hot path
// takes no lock to count.
type serverStats struct {
	polling        atomic.Int64 // sessions on polling (upgrading included)
	websocket      atomic.Int64 // sessions on WebSocket
	webtransport   atomic.Int64 // sessions on WebTransport
	queueHighWater atomic.Int64 // largest outbound queue drained at once, bytes
	handshakes     atomic.Uint64
	upgrades       atomic.Uint64
	upgradesFailed atomic.Uint64
	messagesIn     atomic.Uint64
	messagesOut    atomic.Uint64
	bytesIn        atomic.Uint64
	bytesOut       atomic.Uint64
	undelivered    atomic.Uint64
	eventsDropped  atomic.Uint64
	disconnects    [ReasonSlowConsumer + 1]atomic.Uint64
	rejected       [CodeUnsupportedProtocolVersion + 1]atomic.Uint64
}

func (st *serverStats) noteQueue(bytes int64) {
	for {
		cur := st.queueHighWater.Load()
		if bytes <= cur || st.queueHighWater.CompareAndSwap(cur, bytes) {
			return
		}
	}
}

// Stats is a snapshot of a server's counters since it started.
type Stats struct {
	Sessions             int64 // sessions now, every transport, ending ones included
	PollingSessions      int64 // of which on long-polling (upgrading included)
	WebSocketSessions    int64 // of which on WebSocket
	WebTransportSessions int64 // of which on WebTransport
	Handshakes           uint64
	Upgrades             uint64
	UpgradesFailed       uint64
	MessagesIn           uint64
	MessagesOut          uint64
	BytesIn              uint64 // message bytes, not counting framing
	BytesOut             uint64
	// QueueHighWater is the largest outbound queue, in message bytes, a
	// session has had to drain at once.
	QueueHighWater int64
	// Undelivered counts messages accepted by Send that never reached
	// their peer because the session ended first.
	Undelivered uint64
	// EventsDropped counts events lost to a Close while the application
	// was not reading Events.
	EventsDropped uint64
	// Disconnects counts ended sessions by reason ("ping timeout", ...).
	Disconnects map[string]uint64
	// Rejected counts refused requests by protocol error code.
	Rejected map[ErrorCode]uint64
}

// Stats returns a snapshot of the server's counters. It takes no lock
// that the sessions take: it is cheap enough to call often.
func (s *Server) Stats() Stats {
	st := &s.stats
	out := Stats{
		PollingSessions:      st.polling.Load(),
		WebSocketSessions:    st.websocket.Load(),
		WebTransportSessions: st.webtransport.Load(),
		Handshakes:           st.handshakes.Load(),
		Upgrades:             st.upgrades.Load(),
		UpgradesFailed:       st.upgradesFailed.Load(),
		MessagesIn:           st.messagesIn.Load(),
		MessagesOut:          st.messagesOut.Load(),
		BytesIn:              st.bytesIn.Load(),
		BytesOut:             st.bytesOut.Load(),
		QueueHighWater:       st.queueHighWater.Load(),
		Undelivered:          st.undelivered.Load(),
		EventsDropped:        st.eventsDropped.Load(),
		Disconnects:          make(map[string]uint64),
		Rejected:             make(map[ErrorCode]uint64),
	}
	out.Sessions = out.PollingSessions + out.WebSocketSessions + out.WebTransportSessions
	for r := range st.disconnects {
		if n := st.disconnects[r].Load(); n > 0 {
			out.Disconnects[Reason(r).String()] = n
		}
	}
	for c := range st.rejected {
		if n := st.rejected[c].Load(); n > 0 {
			out.Rejected[ErrorCode(c)] = n
		}
	}
	return out
}

// PublishExpvar publishes [Server.Stats] under name in the expvar registry
// (served as JSON at /debug/vars by expvar's handler). Like
// [expvar.Publish], it panics if name is already taken.
func (s *Server) PublishExpvar(name string) {
	expvar.Publish(name, expvar.Func(func() any { return s.Stats() }))
}
