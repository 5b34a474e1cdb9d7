package sio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chanio/chanio/cluster"
	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/sio/wire"
)

// Server is a Socket.IO (protocol 5) server on an [eio.Server]. It is an
// [http.Handler]: mount it at its path ("/socket.io/" by default).
//
// A Server has namespaces, "/" first. Each delivers what its sockets do on
// its own channel, [Namespace.Events], and the application talks to them
// with Emit calls on sockets, rooms and namespaces that never wait on a
// client. One goroutine of the server reads the Engine.IO connections and
// hands each namespace its events: read every namespace's channel, or the
// server stops reading its clients.
type Server struct {
	opts   options
	log    *slog.Logger
	engine *eio.Server
	node   *cluster.Node // nil when alone
	remote adapter       // the other nodes; nil when alone

	mu      sync.RWMutex // guards nsps and parents
	nsps    map[string]*Namespace
	parents []*Namespace
	main    *Namespace

	// Work other goroutines hand to the loop: never blocks them.
	postMu sync.Mutex
	posted []func()
	wake   chan struct{} // capacity 1

	// Owned by the loop.
	conns   map[string]*conn
	waiting connList // connections that have neither joined a namespace nor ended, oldest first
	timer   *time.Timer

	ctx      context.Context // ends when the server closes; middleware runs under it
	cancel   context.CancelFunc
	jobs     sync.WaitGroup // connect jobs (middleware, remote restores)
	closing  atomic.Bool
	dropping chan struct{} // closed by Close: events nobody reads are dropped
	dropOnce sync.Once
	done     chan struct{} // closed when the loop has ended
	tag      string        // this server's mark in recovery offsets
	dropped  atomic.Uint64

	// testAcksAwaited, set by tests before any emit, runs in
	// Broadcast.EmitWithAck once the sockets have their waiters, before
	// the event is written to them.
	testAcksAwaited func()
	// testBroadcastEncoded, set by tests before any emit, runs in every
	// broadcast once its event is encoded, before it is sent.
	testBroadcastEncoded func()
}

// adapter reaches the other nodes of a cluster: what a Broadcast does
// there, the acknowledgements of their sockets, and what they know.
type adapter interface {
	// peers returns the ids of the other live nodes.
	peers() []string
	broadcast(n *Namespace, b bcast, pk packet, offset string) error
	// broadcastWithAck has the nodes emit and send their sockets' answers
	// to coll; each node tells coll how many sockets it reached. The
	// returned function stops listening for them.
	broadcastWithAck(n *Namespace, b bcast, event string, args []any, coll *collector, nodes []string) (func(), error)
	// ackWindow is how long after broadcastWithAck the other nodes may
	// still forward answers: they stop waiting for their sockets then.
	ackWindow() time.Duration
	// watch returns the other live nodes, and a channel closed when they
	// change.
	watch() (<-chan struct{}, []string)
	apply(n *Namespace, b bcast, op int, rooms []string, close bool) error
	fetch(ctx context.Context, n *Namespace, b bcast) ([]RemoteSocket, error)
	// restore asks the other nodes for the state of a socket that left
	// one of them, with the packets it missed there.
	restore(ctx context.Context, n *Namespace, pid, offset string) *session
	// serverSideEmit sends an event to the namespace on the other nodes;
	// with wait, it returns one answer per node.
	serverSideEmit(ctx context.Context, n *Namespace, event string, args []any, wait bool) ([]Args, error)
	close()
}

// NewServer returns a running Socket.IO server, with its own Engine.IO
// server, configured by opts (nil means all defaults). Stop it with
// [Server.Shutdown] or [Server.Close].
func NewServer(opts *Options) *Server {
	o := opts.withDefaults()
	s := newServer(o, eio.NewServer(o.engineOptions()), nil)
	go s.run()
	return s
}

// newServer makes a server on engine; its loop is not running yet.
func newServer(o options, engine *eio.Server, node *cluster.Node) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:     o,
		log:      o.Logger,
		engine:   engine,
		node:     node,
		nsps:     make(map[string]*Namespace),
		wake:     make(chan struct{}, 1),
		conns:    make(map[string]*conn),
		ctx:      ctx,
		cancel:   cancel,
		dropping: make(chan struct{}),
		done:     make(chan struct{}),
		tag:      randomID(6),
	}
	s.timer = time.NewTimer(time.Hour)
	s.timer.Stop()
	s.main = s.Of("/")
	return s
}

// randomID returns n random bytes as URL-safe base64.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ServeHTTP answers Socket.IO's Engine.IO requests: handshakes, long-polling
// and WebSocket upgrades, at the server's path.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.node != nil {
		s.node.ServeHTTP(w, r)
		return
	}
	s.engine.ServeHTTP(w, r)
}

// Handler returns an http.Handler for a whole site around the server, as
// [eio.Server.Handler] does: the server at its path, static files, and
// next for everything else.
func (s *Server) Handler(static eio.StaticFiles, next http.Handler) http.Handler {
	h := s.engine.Handler(static, next)
	if s.node != nil {
		return s.node.Handler(h)
	}
	return h
}

// Engine returns the Engine.IO server under Socket.IO, for its Stats,
// Transport and options. Its Events belong to the Socket.IO server: do not
// read them.
func (s *Server) Engine() *eio.Server { return s.engine }

// Of returns the namespace called name, creating it if needed ("chat" and
// "/chat" are the same). A name that a parent namespace of
// [Server.OfRegexp] matches becomes that parent's child.
func (s *Server) Of(name string) *Namespace {
	if name == "" || name[0] != '/' {
		name = "/" + name
	}
	s.mu.RLock()
	n := s.nsps[name]
	s.mu.RUnlock()
	if n != nil {
		return n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.nsps[name]; n != nil {
		return n
	}
	for _, p := range s.parents {
		if p.re != nil && p.re.MatchString(name) {
			return s.childLocked(p, name)
		}
	}
	n = newNamespace(s, name, nil)
	s.nsps[name] = n
	return n
}

// OfFunc returns a new parent namespace: a client that asks for a namespace
// that does not exist gets it, as a child of the parent, when match
// accepts its name and handshake. Parents are asked in the order they were
// made. match runs on the server's loop: keep it quick.
//
// Every child shares the parent's middleware and its Events channel; each
// event's Socket tells which child it is about. Emits on the parent reach
// every child.
func (s *Server) OfFunc(match func(name string, h *Handshake) bool) *Namespace {
	return s.newParent(match, nil)
}

// OfRegexp returns a new parent namespace, as [Server.OfFunc] does, for the
// names re matches.
func (s *Server) OfRegexp(re *regexp.Regexp) *Namespace {
	return s.newParent(func(name string, _ *Handshake) bool { return re.MatchString(name) }, re)
}

func (s *Server) newParent(match func(string, *Handshake) bool, re *regexp.Regexp) *Namespace {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := newNamespace(s, "/_"+strconv.Itoa(len(s.parents)), nil)
	p.match, p.re = match, re
	p.children = make(map[string]*Namespace)
	s.parents = append(s.parents, p)
	return p
}

func (s *Server) childLocked(p *Namespace, name string) *Namespace {
	n := newNamespace(s, name, p)
	p.children[name] = n
	s.nsps[name] = n
	return n
}

// lookup finds the namespace a client asks for, making a child of the
// first parent that accepts it. It runs on the loop.
func (s *Server) lookup(name string, h *Handshake) *Namespace {
	s.mu.RLock()
	n := s.nsps[name]
	parents := s.parents
	s.mu.RUnlock()
	if n != nil {
		return n
	}
	for _, p := range parents {
		if !p.match(name, h) {
			continue
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if n := s.nsps[name]; n != nil {
			return n // made in the meantime
		}
		return s.childLocked(p, name)
	}
	return nil
}

// removeChild forgets an empty child namespace (CleanupEmptyChildNamespaces).
func (s *Server) removeChild(n *Namespace) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n.mu.RLock()
	empty := len(n.sockets) == 0
	n.mu.RUnlock()
	if empty && s.nsps[n.name] == n {
		delete(s.nsps, n.name)
		delete(n.parent.children, n.name)
	}
}

// Use adds middleware to the main namespace "/".
func (s *Server) Use(m Middleware) { s.main.Use(m) }

// Emit sends an event to every socket of the main namespace "/", as the
// reference's io.emit.
func (s *Server) Emit(event string, args ...any) error { return s.main.Emit(event, args...) }

// To returns a Broadcast to the sockets of the main namespace in the rooms.
func (s *Server) To(rooms ...string) Broadcast { return s.main.To(rooms...) }

// Events returns the main namespace's channel: [Namespace.Events] of "/".
func (s *Server) Events() <-chan Event { return s.main.Events() }

// post hands f to the loop. It never blocks.
func (s *Server) post(f func()) {
	s.postMu.Lock()
	s.posted = append(s.posted, f)
	s.postMu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run is the loop: the one goroutine that reads the Engine.IO events,
// owns the connections and hands the namespaces their events.
func (s *Server) run() {
	defer close(s.done)
	events := s.engine.Events()
	var work []func()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				s.finish()
				return
			}
			s.handle(ev)
		case <-s.wake:
			s.postMu.Lock()
			work, s.posted = s.posted, work[:0]
			s.postMu.Unlock()
			for i, f := range work {
				f()
				work[i] = nil
			}
		case <-s.timer.C:
			s.expireConnects()
		}
	}
}

// finish runs when the Engine.IO server has closed its events: every
// connection has ended. It runs what was still posted, waits for the
// connect jobs and closes the namespaces' channels.
func (s *Server) finish() {
	s.timer.Stop()
	s.cancel()
	s.jobs.Wait()
	s.postMu.Lock()
	work := s.posted
	s.posted = nil
	s.postMu.Unlock()
	for _, f := range work {
		f()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	closed := make(map[chan Event]bool)
	for _, n := range append(s.parents, s.allLocked()...) {
		if !closed[n.events] {
			closed[n.events] = true
			close(n.events)
		}
	}
}

func (s *Server) allLocked() []*Namespace {
	all := make([]*Namespace, 0, len(s.nsps))
	for _, n := range s.nsps {
		all = append(all, n)
	}
	return all
}

func (s *Server) handle(ev eio.Event) {
	switch ev.Type {
	case eio.EventConnect:
		c := newConn(s, ev)
		s.conns[ev.SID] = c
		if s.waiting.push(c) {
			s.timer.Reset(s.opts.ConnectTimeout)
		}
		if c.v3 {
			// A Socket.IO 2 client waits for "/" without asking for it:
			// the reference connects it (index.ts onconnection).
			s.connectNamespace(c, &wire.Packet{Type: wire.Connect, Namespace: "/"})
		}
	case eio.EventMessage:
		c := s.conns[ev.SID]
		if c == nil || c.broken {
			return
		}
		p, ok, err := c.dec.Add(ev.Data, ev.Binary)
		if err != nil {
			s.breakConn(c, err)
			return
		}
		if ok {
			s.dispatch(c, &p)
		}
	case eio.EventDisconnect:
		c := s.conns[ev.SID]
		if c == nil {
			return
		}
		delete(s.conns, ev.SID)
		reason, err := reasonFromEngine(ev.Reason, ev.Err), ev.Err
		if s.closing.Load() {
			reason = ReasonServerShuttingDown
		}
		if c.forced != 0 {
			reason = c.forced
		}
		c.end(reason, err)
	}
}

// expireConnects closes the connections that have joined no namespace
// within ConnectTimeout: a CONNECT refused, or whose middleware still
// runs, does not count, as the reference clears its timer only once a
// socket has connected.
func (s *Server) expireConnects() {
	now := time.Now()
	for c := s.waiting.head; c != nil && !c.deadline().After(now); c = s.waiting.head {
		s.waiting.remove(c)
		c.forced = ReasonForcedServerClose
		_ = s.engine.Disconnect(c.sid)
	}
	if c := s.waiting.head; c != nil {
		s.timer.Reset(time.Until(c.deadline()))
	}
}

// breakConn ends a connection whose client broke the protocol: its sockets
// leave with ReasonParseError and the Engine.IO session is closed.
func (s *Server) breakConn(c *conn, err error) {
	s.log.Debug("sio: closing a connection that broke the protocol", "sid", c.sid, "err", err)
	c.broken = true
	c.forced = ReasonParseError
	c.end(ReasonParseError, err)
	_ = s.engine.Disconnect(c.sid)
}

// dispatch acts on one packet from a client.
func (s *Server) dispatch(c *conn, p *wire.Packet) {
	if p.Type == wire.Connect {
		s.connectNamespace(c, p)
		return
	}
	sock := c.socket(p.Namespace)
	if sock == nil || p.Type == wire.ConnectError || sock.state.Load() == statePending {
		s.breakConn(c, errNotConnected)
		return
	}
	if sock.state.Load() != stateConnected {
		return // the server has just disconnected it
	}
	switch p.Type {
	case wire.Event:
		name, args, err := wire.EventArgs(p)
		if err != nil {
			s.breakConn(c, err)
			return
		}
		ev := Event{Type: EventMessage, Socket: sock, Name: name, Args: args}
		if p.HasID {
			ev.ack = &ackTarget{socket: sock, id: p.ID}
		}
		sock.nsp.deliver(ev)
	case wire.Ack:
		sock.resolveAck(p.ID, wire.AckArgs(p))
	case wire.Disconnect:
		if sock.state.CompareAndSwap(stateConnected, stateClosed) {
			s.removeSocket(sock, ReasonClientNamespaceDisconnect, nil)
		}
	}
}

// Shutdown stops the server gracefully: it refuses new connections, every
// socket leaves with [ReasonServerShuttingDown], the Engine.IO server
// flushes what was queued and closes every connection, and once the loop
// has handed out the last event the namespaces' channels are closed. It
// waits for all that, or returns ctx.Err() if ctx ends first (then call
// [Server.Close]). Shutdown is idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	var err error
	if s.remote != nil {
		s.remote.close()
	}
	if s.node != nil {
		err = s.node.Shutdown(ctx)
	} else {
		err = s.engine.Shutdown(ctx)
	}
	if err != nil {
		return err
	}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the server now: connections are cut, events that nobody
// reads are dropped, and Close returns once the loop has ended and the
// namespaces' channels are closed. Close is idempotent.
func (s *Server) Close() error {
	s.closing.Store(true)
	s.dropOnce.Do(func() { close(s.dropping) })
	if s.remote != nil {
		s.remote.close()
	}
	if s.node != nil {
		_ = s.node.Close()
	} else {
		_ = s.engine.Close()
	}
	<-s.done
	return nil
}
