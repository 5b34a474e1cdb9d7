package eio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"expvar"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chanio/chanio/actor"
	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/transport"
	"github.com/gobwas/ws"
	"github.com/puzpuzpuz/xsync/v3"
)

// Server is an Engine.IO server. It is an [http.Handler]: mount it at its
// path (Options.Path, "/engine.io/" by default) on any router.
//
// Every session is an actor of its own. The application reads what
// sessions report from [Server.Events] and talks to them with
// [Server.Send], [Server.SendBinary], [Server.SendJSON] and
// [Server.Disconnect], all safe from any goroutine and none of which waits
// on a slow peer.
type Server struct {
	opts serverOptions
	log  *slog.Logger

	group   *actor.Group // session actors
	readers *actor.Group // WebSocket readers: they must still start while sessions wind down
	core    *actor.Group // the supervisor, stopped after the sessions
	sup     *actor.Supervisor

	sessions *xsync.MapOf[string, *session]
	// conns holds every hijacked WebSocket: http.Server.Shutdown does not
	// see them, so Close cuts them from here.
	conns *xsync.MapOf[*transport.WebSocket, struct{}]

	events   chan Event
	upgrader ws.HTTPUpgrader
	// poller parks quiet WebSockets so that they hold no goroutine; nil
	// where the platform has none (readers then wait on their goroutine).
	poller *transport.Poller

	epoch     time.Time // origin of the sessions' instants
	closing   atomic.Bool
	closeOnce sync.Once
	stats     serverStats
}

// NewServer returns a running server configured by opts (nil means all
// defaults). Stop it with [Server.Shutdown] or [Server.Close].
func NewServer(opts *Options) *Server {
	o := opts.withDefaults()
	s := &Server{
		opts:     o,
		log:      o.Logger,
		epoch:    time.Now(),
		sessions: xsync.NewMapOf[string, *session](),
		conns:    xsync.NewMapOf[*transport.WebSocket, struct{}](),
		events:   make(chan Event, o.EventBuffer),
	}
	s.core = actor.NewGroup(func(name string, err error) {
		s.log.Error("eio: internal goroutine failed", "name", name, "err", err)
	})
	s.group = actor.NewGroup(func(name string, err error) {
		s.log.Error("eio: session goroutine failed", "name", name, "err", err)
	})
	s.readers = actor.NewGroup(func(name string, err error) {
		s.log.Error("eio: reader goroutine failed", "name", name, "err", err)
	})
	sup, err := actor.NewSupervisor(s.core)
	if err != nil {
		panic("eio: new group refused a spawn: " + err.Error()) // cannot happen
	}
	s.sup = sup
	if p, err := transport.NewPoller(); err == nil {
		s.poller = p
		_ = s.core.Go("poller", func(context.Context) error { return p.Run() })
	}
	return s
}

// Events returns the channel on which the server reports every session's
// connect, messages and disconnect, in that order per session. Read it
// without pause: while it is full, sessions stop reading from their
// clients. It is closed once Shutdown or Close has ended every session.
func (s *Server) Events() <-chan Event { return s.events }

// Send queues data as a text message to the session sid. data must be valid
// UTF-8 (use [Server.SendBinary] for bytes). The server keeps data until it
// is written: do not change it after the call.
//
// Send never waits on the peer. It returns [ErrUnknownSession],
// [ErrSessionClosed], or [ErrSlowConsumer] when the session's queue is full
// (the session is then closed with [ReasonSlowConsumer]).
func (s *Server) Send(sid string, data []byte) error {
	return s.SendPacket(sid, codec.Packet{Type: codec.Message, Data: data})
}

// SendBinary queues data as a binary message to the session sid, as
// [Server.Send] does text.
func (s *Server) SendBinary(sid string, data []byte) error {
	return s.SendPacket(sid, codec.Packet{Type: codec.Message, Data: data, Binary: true})
}

// SendJSON encodes v with Options.JSON (encoding/json by default) and
// queues it as a text message to the session sid.
func (s *Server) SendJSON(sid string, v any) error {
	data, err := s.opts.JSON.Marshal(v)
	if err != nil {
		return err
	}
	return s.Send(sid, data)
}

// SendPacket queues a raw packet to the session sid, for protocol-level
// work (a noop, a message with unusual framing). Most applications want
// [Server.Send]. Errors are those of Send.
func (s *Server) SendPacket(sid string, p codec.Packet) error {
	sess, ok := s.sessions.Load(sid)
	if !ok {
		return ErrUnknownSession
	}
	switch sess.out.TrySend(p) {
	case nil:
		return nil
	case actor.ErrFull:
		s.log.Warn("eio: slow consumer, closing session", "sid", sid, "queued_bytes", sess.out.Bytes())
		sess.requestClose(ReasonSlowConsumer, nil, true)
		return ErrSlowConsumer
	default:
		return ErrSessionClosed
	}
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
	sess, ok := s.sessions.Load(sid)
	if !ok {
		return ErrUnknownSession
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
// [TransportPolling] (also while it is upgrading) or [TransportWebSocket].
func (s *Server) Transport(sid string) (string, error) {
	sess, ok := s.sessions.Load(sid)
	if !ok {
		return "", ErrUnknownSession
	}
	switch mode(sess.mode.Load()) {
	case modePolling:
		return TransportPolling, nil
	case modeWebSocket:
		return TransportWebSocket, nil
	}
	return "", ErrSessionClosed
}

// Range calls fn with the id of every session the server holds, until fn
// returns false: the way to broadcast, or to find sessions by their data.
// Sessions may start and end during the walk; fn may call any Server
// method.
func (s *Server) Range(fn func(sid string) bool) {
	s.sessions.Range(func(sid string, _ *session) bool { return fn(sid) })
}

// Len returns the number of sessions the server holds, including sessions
// that are ending.
func (s *Server) Len() int { return s.sessions.Size() }

// Shutdown stops the server gracefully: it refuses new handshakes, ends
// every session as Disconnect does (queued messages are flushed, then a
// close packet), waits until every session's goroutines have exited and
// their events have been read, and closes the Events channel.
//
// If ctx ends first, Shutdown returns ctx.Err() and the sessions go on
// closing; call [Server.Close] to cut them. Shutdown is idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.group.Seal()
	s.DisconnectAll()
	if err := s.group.WaitContext(ctx); err != nil {
		return err
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
	s.group.Stop()
	// An idle session has no goroutine to see the group stop: wake each.
	s.sessions.Range(func(_ string, sess *session) bool {
		sess.runner.Schedule()
		return true
	})
	s.conns.Range(func(c *transport.WebSocket, _ struct{}) bool {
		_ = c.Close()
		return true
	})
	s.group.Wait()
	s.finishClose()
	return nil
}

// finishClose runs once every session has ended: it stops the readers
// (whose connections the sessions have closed), the poller and the
// supervisor, and closes the Events channel.
func (s *Server) finishClose() {
	s.closeOnce.Do(func() {
		s.readers.Stop()
		s.conns.Range(func(c *transport.WebSocket, _ struct{}) bool {
			_ = c.Close()
			return true
		})
		s.readers.Wait()
		if s.poller != nil {
			_ = s.poller.Close()
		}
		s.core.Stop()
		s.core.Wait()
		close(s.events)
	})
}

// Session returns the data the application keeps with the session sid (nil
// until saved). It waits for the session's actor, within ctx.
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
		s.log.Warn("eio: session id generated twice; generating another", "sid", sid)
	}
}

// start runs a new session's actor for the first time. Until then its
// actor does nothing, however often it is scheduled.
func (s *Server) start(sess *session) {
	s.stats.handshakes.Add(1)
	sess.started.Store(true) // publishes the handshake's writes (attach) to the actor
	sess.runner.Schedule()
}

func (s *Server) newSID() string {
	if s.opts.GenerateID != nil {
		return s.opts.GenerateID()
	}
	return randomSID()
}

// randomSID returns a session id: 15 bytes (120 bits) from crypto/rand,
// URL-safe base64, 20 characters.
func randomSID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// openPackets builds what a session starts with: the open packet, and the
// initial message if one is configured.
func (s *Server) openPackets(sid string, upgradable bool) []codec.Packet {
	open := s.openPacket(sid, upgradable)
	if s.opts.InitialMessage == nil {
		return []codec.Packet{open}
	}
	return []codec.Packet{open, {Type: codec.Message, Data: s.opts.InitialMessage}}
}

// openPacket builds the open packet for a session.
func (s *Server) openPacket(sid string, upgradable bool) codec.Packet {
	h := codec.Handshake{
		SID:          sid,
		Upgrades:     []string{},
		PingInterval: s.opts.pingIntervalMS,
		PingTimeout:  s.opts.pingTimeoutMS,
		MaxPayload:   s.opts.MaxPayload,
	}
	if upgradable && !s.opts.DisableUpgrades && s.opts.allowWebSocket {
		h.Upgrades = websocketUpgrade
	}
	return codec.Packet{Type: codec.Open, Data: codec.AppendHandshake(nil, h)}
}

var websocketUpgrade = []string{TransportWebSocket}

// serverStats are the server's counters: atomics, so that the hot path
// takes no lock to count.
type serverStats struct {
	polling        atomic.Int64 // sessions on polling (upgrading included)
	websocket      atomic.Int64 // sessions on WebSocket
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
	Sessions          int64 // sessions now, both transports, ending ones included
	PollingSessions   int64 // of which on long-polling (upgrading included)
	WebSocketSessions int64 // of which on WebSocket
	Handshakes        uint64
	Upgrades          uint64
	UpgradesFailed    uint64
	MessagesIn        uint64
	MessagesOut       uint64
	BytesIn           uint64 // message bytes, not counting framing
	BytesOut          uint64
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
		PollingSessions:   st.polling.Load(),
		WebSocketSessions: st.websocket.Load(),
		Handshakes:        st.handshakes.Load(),
		Upgrades:          st.upgrades.Load(),
		UpgradesFailed:    st.upgradesFailed.Load(),
		MessagesIn:        st.messagesIn.Load(),
		MessagesOut:       st.messagesOut.Load(),
		BytesIn:           st.bytesIn.Load(),
		BytesOut:          st.bytesOut.Load(),
		QueueHighWater:    st.queueHighWater.Load(),
		Undelivered:       st.undelivered.Load(),
		EventsDropped:     st.eventsDropped.Load(),
		Disconnects:       make(map[string]uint64),
		Rejected:          make(map[ErrorCode]uint64),
	}
	out.Sessions = out.PollingSessions + out.WebSocketSessions
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
