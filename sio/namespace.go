package sio

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"sync"
	"sync/atomic"

	"github.com/chanio/chanio/sio/wire"
)

// Middleware decides whether a socket may join a namespace. It runs for
// every socket that asks, before the socket is connected, in a goroutine of
// its own (so it may wait on a database), in the order [Namespace.Use] added
// it. It reads the socket's [Socket.Handshake] and may keep data with
// [Socket.SetData]. Returning nil accepts (the next middleware runs);
// returning an error refuses: the client gets a CONNECT_ERROR with the
// message and data of a [*ConnectError], or {"message": err.Error()}.
//
// ctx ends when the client goes away or the server closes.
type Middleware func(ctx context.Context, s *Socket) error

// Namespace is a Socket.IO namespace: a channel of events from its sockets,
// its rooms, and its middleware. Get one from [Server.Of], or a parent
// namespace, which stands for the children that clients make on demand, from
// [Server.OfFunc] and [Server.OfRegexp].
type Namespace struct {
	name   string
	srv    *Server
	events chan Event // a child shares its parent's

	parent   *Namespace                      // set on a child
	match    func(string, *Handshake) bool   // set on a parent
	re       *regexp.Regexp                  // a parent of OfRegexp
	children map[string]*Namespace           // a parent's; guarded by srv.mu
	mwMu     sync.RWMutex                    // guards mws
	mws      []Middleware                    // a child uses its parent's
	ackIDs   atomic.Uint64                   // the next ack id
	rec      *recovery                       // nil unless Options.Recovery
	mu       sync.RWMutex                    // guards sockets, rooms and each socket's rooms
	sockets  map[string]*Socket              // connected sockets by id
	rooms    map[string]map[*Socket]struct{} // named rooms (not the sockets' own)
}

func newNamespace(s *Server, name string, parent *Namespace) *Namespace {
	n := &Namespace{
		name:    name,
		srv:     s,
		parent:  parent,
		sockets: make(map[string]*Socket),
		rooms:   make(map[string]map[*Socket]struct{}),
	}
	if parent != nil {
		n.events = parent.events
	} else {
		n.events = make(chan Event, s.opts.EventBuffer)
	}
	if s.opts.recover {
		n.rec = newRecovery(n, &s.opts.recovery)
	}
	return n
}

// Name returns the namespace's name, "/" or "/chat"; a parent's name is
// "/_0", "/_1", ... as the reference server names them.
func (n *Namespace) Name() string { return n.name }

// Parent returns the parent namespace of a child, nil otherwise.
func (n *Namespace) Parent() *Namespace { return n.parent }

// Events returns the channel on which the namespace reports, for each of its
// sockets and in this order: EventConnect, its EventMessages (every event,
// whatever its name: the channel is the catch-all), and one
// EventDisconnect. A parent's channel carries the events of all its
// children. The channel is closed once the server has shut down.
//
// Read it without pause: while it is full, the server stops reading from
// every client. Do not wait on an acknowledgement ([Socket.EmitWithAck])
// in the goroutine that reads it: the acknowledgement comes through the
// same server loop, which may be waiting for room in this channel. Start
// a goroutine for the wait.
func (n *Namespace) Events() <-chan Event { return n.events }

// Use adds a middleware to the namespace (to all of a parent's children,
// present and future).
func (n *Namespace) Use(m Middleware) {
	n.mwMu.Lock()
	n.mws = append(n.mws, m)
	n.mwMu.Unlock()
}

func (n *Namespace) middleware() []Middleware {
	if n.parent != nil {
		return n.parent.middleware()
	}
	n.mwMu.RLock()
	defer n.mwMu.RUnlock()
	return n.mws
}

// Socket returns the connected socket id of this namespace, on this server.
func (n *Namespace) Socket(id string) (*Socket, bool) {
	n.mu.RLock()
	s, ok := n.sockets[id]
	n.mu.RUnlock()
	return s, ok
}

// Sockets returns the namespace's connected sockets on this server.
func (n *Namespace) Sockets() []*Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]*Socket, 0, len(n.sockets))
	for _, s := range n.sockets {
		out = append(out, s)
	}
	return out
}

// Len returns the number of sockets connected to the namespace on this
// server (a parent: in all its children).
func (n *Namespace) Len() int {
	if n.children != nil {
		total := 0
		for _, c := range n.kids() {
			total += c.Len()
		}
		return total
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.sockets)
}

// kids returns a parent's children.
func (n *Namespace) kids() []*Namespace {
	n.srv.mu.RLock()
	defer n.srv.mu.RUnlock()
	out := make([]*Namespace, 0, len(n.children))
	for _, c := range n.children {
		out = append(out, c)
	}
	return out
}

// deliver hands ev to the application, waiting for room unless the server
// is being closed.
func (n *Namespace) deliver(ev Event) {
	select {
	case n.events <- ev:
		return
	default:
	}
	select {
	case n.events <- ev:
	case <-n.srv.dropping:
		n.srv.dropped.Add(1)
	}
}

// connectNamespace handles a CONNECT packet, on the loop.
func (s *Server) connectNamespace(c *conn, p *wire.Packet) {
	name, auth := p.Namespace, json.RawMessage(p.Data)
	if c.v3 {
		name, auth = v3Namespace(name)
	}
	if old := c.socket(name); old != nil {
		switch old.state.Load() {
		case stateConnected:
			s.breakConn(c, errTwice)
			return
		case statePending:
			// The client asks again while the middleware still runs for
			// its first CONNECT (a socket.io-client that disconnects and
			// connects before its answer). The reference runs both and
			// answers both, its first socket then left connected with
			// nothing of the client's routed to it; the client ends with
			// the second's answer. Here the second replaces the first,
			// which is dropped as a client that leaves during its
			// middleware is.
			old.state.Store(stateClosed)
			old.nsp.cleanup(old)
			if old.cancel != nil {
				old.cancel()
			}
		}
		c.forget(old)
	}
	hs := c.handshake()
	hs.Auth = auth
	n := s.lookup(name, &hs)
	if n == nil {
		_ = c.writePacket(&wire.Packet{Type: wire.ConnectError, Namespace: name, Data: json.RawMessage(`{"message":"Invalid namespace"}`)})
		return
	}
	if s.closing.Load() {
		return
	}
	sock := newSocket(n, c, auth)
	c.sockets = append(c.sockets, sock)

	pid, offset := recoveryAuth(auth)
	var restored *session
	if n.rec != nil && pid != "" {
		restored = n.rec.restore(pid, offset)
	}
	remoteRestore := n.rec != nil && pid != "" && restored == nil && s.remote != nil
	mws := n.middleware()
	if restored != nil && !s.opts.recovery.RunMiddlewares {
		mws = nil
	}
	if len(mws) == 0 && !remoteRestore {
		s.finishConnect(sock, restored, nil)
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	sock.cancel = cancel
	s.jobs.Add(1)
	go func() {
		defer s.jobs.Done()
		defer cancel()
		if remoteRestore {
			restored = s.remote.restore(ctx, n, pid, offset)
			if restored != nil && !s.opts.recovery.RunMiddlewares {
				mws = nil
			}
		}
		err := runMiddleware(ctx, mws, sock)
		s.post(func() { s.finishConnect(sock, restored, err) })
	}()
}

func runMiddleware(ctx context.Context, mws []Middleware, sock *Socket) (err error) {
	for _, m := range mws {
		if err = m(ctx, sock); err != nil {
			return err
		}
	}
	return nil
}

// finishConnect connects a socket whose middleware has run, or answers
// its client with CONNECT_ERROR. It runs on the loop.
func (s *Server) finishConnect(sock *Socket, restored *session, err error) {
	c, n := sock.conn, sock.nsp
	if sock.cancel != nil {
		sock.cancel()
		sock.cancel = nil
	}
	if c.ended || sock.state.Load() != statePending {
		return
	}
	if err != nil {
		c.forget(sock)
		sock.state.Store(stateClosed)
		n.cleanup(sock)
		ce, ok := err.(*ConnectError)
		if !ok && !errors.As(err, &ce) {
			ce = &ConnectError{Message: err.Error()}
		}
		_ = c.writePacket(&wire.Packet{Type: wire.ConnectError, Namespace: n.name, Data: ce.payload(c.v3)})
		return
	}
	n.mu.Lock()
	if restored != nil && (n.sockets[restored.sid] != nil || !restored.remote && !n.rec.fillMissed(restored)) {
		// Its id is still held by a socket that has not left, or packets
		// it missed have been forgotten since: a fresh socket.
		restored = nil
	}
	if restored != nil {
		sock.id, sock.pid, sock.recovered = restored.sid, restored.pid, true
		sock.data = restored.data
	} else if n.rec != nil {
		sock.pid = randomID(15)
	}
	n.sockets[sock.id] = sock
	if restored != nil {
		for _, r := range restored.rooms {
			if r != sock.id {
				n.joinLocked(sock, r)
			}
		}
	}
	sock.state.Store(stateConnected)
	s.waiting.remove(c) // it has joined: the connect timeout is over
	// The CONNECT answer and the missed packets are queued under n.mu, so
	// that no broadcast comes between them.
	var data []byte // a protocol 3 client gets none, as from the reference
	if !c.v3 {
		data = make([]byte, 0, 64)
		data = append(data, `{"sid":`...)
		data = appendJSONString(data, sock.id)
		if sock.pid != "" {
			data = append(data, `,"pid":`...)
			data = appendJSONString(data, sock.pid)
		}
		data = append(data, '}')
	}
	_ = c.writePacket(&wire.Packet{Type: wire.Connect, Namespace: n.name, Data: data})
	if restored != nil {
		for _, m := range restored.missed {
			_ = c.write(m.text, m.atts, false)
		}
	}
	n.mu.Unlock()
	// The event waits for room in the channel with no lock held: the
	// application may be emitting or joining rooms before it reads on.
	// The loop delivers it, so it still comes before the socket's
	// messages and its EventDisconnect.
	n.deliver(Event{Type: EventConnect, Socket: sock})
}

func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s)
	return append(dst, b...)
}

// removeSocket finishes a socket that has left (its state is already
// closed): it leaves its rooms, its state is kept for recovery, its
// acknowledgements fail and the application gets EventDisconnect. It runs on
// the loop, once per socket.
func (s *Server) removeSocket(sock *Socket, reason Reason, err error) {
	if sock.removed {
		return
	}
	sock.removed = true
	n := sock.nsp
	sock.conn.forget(sock)
	rooms := n.cleanup(sock)
	if n.rec != nil && reason.recoverable() {
		n.rec.persist(sock, rooms)
	}
	sock.failAcks()
	n.deliver(Event{Type: EventDisconnect, Socket: sock, Reason: reason, Err: err})
	if n.parent != nil && s.opts.CleanupEmptyChildNamespaces {
		s.removeChild(n)
	}
}

// cleanup takes sock out of the namespace and of every room it is in, for
// good (a Join that follows does nothing), and returns the rooms: the
// reference's socket._cleanup(). It is for a socket that has left, and
// for one that never connected (its middleware may have joined rooms).
func (n *Namespace) cleanup(sock *Socket) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	rooms := sock.rooms
	sock.rooms = nil
	sock.left = true
	for _, r := range rooms {
		n.leaveRoomLocked(sock, r)
	}
	if n.sockets[sock.id] == sock {
		delete(n.sockets, sock.id)
	}
	return rooms
}

// joinLocked puts sock in room; n.mu is held.
func (n *Namespace) joinLocked(sock *Socket, room string) {
	if room == sock.id {
		return // every socket is in its own room already
	}
	members := n.rooms[room]
	if members == nil {
		members = make(map[*Socket]struct{}, 1)
		n.rooms[room] = members
	}
	if _, in := members[sock]; in {
		return
	}
	members[sock] = struct{}{}
	sock.rooms = append(sock.rooms, room)
}

// leaveRoomLocked takes sock out of room's members; n.mu is held. The
// caller fixes sock.rooms.
func (n *Namespace) leaveRoomLocked(sock *Socket, room string) {
	members := n.rooms[room]
	if members == nil {
		return
	}
	delete(members, sock)
	if len(members) == 0 {
		delete(n.rooms, room)
	}
}

// Rooms returns the names of the namespace's rooms that have sockets on
// this server, the sockets' own rooms left out.
func (n *Namespace) Rooms() []string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]string, 0, len(n.rooms))
	for r := range n.rooms {
		out = append(out, r)
	}
	return out
}

// eachLocked calls fn once for every connected socket in any of rooms (all
// sockets when rooms is empty) and in none of except. n.mu is held (read).
func (n *Namespace) eachLocked(rooms, except []string, fn func(*Socket)) {
	var skip map[*Socket]struct{}
	if len(except) > 0 {
		skip = make(map[*Socket]struct{})
		for _, r := range except {
			for s := range n.rooms[r] {
				skip[s] = struct{}{}
			}
			if s := n.sockets[r]; s != nil {
				skip[s] = struct{}{}
			}
		}
	}
	visit := func(s *Socket) {
		if _, no := skip[s]; !no && s.state.Load() == stateConnected {
			fn(s)
		}
	}
	switch len(rooms) {
	case 0:
		for _, s := range n.sockets {
			visit(s)
		}
	case 1:
		for s := range n.rooms[rooms[0]] {
			visit(s)
		}
		if s := n.sockets[rooms[0]]; s != nil {
			if _, in := n.rooms[rooms[0]][s]; !in {
				visit(s)
			}
		}
	default:
		seen := make(map[*Socket]struct{})
		once := func(s *Socket) {
			if _, dup := seen[s]; !dup {
				seen[s] = struct{}{}
				visit(s)
			}
		}
		for _, r := range rooms {
			for s := range n.rooms[r] {
				once(s)
			}
			if s := n.sockets[r]; s != nil {
				once(s)
			}
		}
	}
}
