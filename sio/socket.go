package sio

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/chanio/chanio/sio/wire"
)

// Socket states.
const (
	statePending   uint32 = iota // its middleware runs
	stateConnected               // in its namespace
	stateClosed                  // left, or refused
)

// Socket is one client's membership of one namespace: the reference's
// socket. Its methods are safe from any goroutine, and none waits on the
// client but EmitWithAck, which waits for the answer.
type Socket struct {
	id   string
	pid  string // private session id for recovery; "" without it
	nsp  *Namespace
	conn *conn
	auth []byte // the CONNECT payload

	state     atomic.Uint32
	recovered bool

	mu   sync.Mutex // guards acks and data
	acks map[uint64]ackWaiter
	data any

	rooms []string // guarded by nsp.mu: the named rooms it is in
	left  bool     // guarded by nsp.mu: it has left them all for good

	// Owned by the loop.
	cancel  context.CancelFunc // ends a running connect job
	removed bool
}

func newSocket(n *Namespace, c *conn, auth []byte) *Socket {
	return &Socket{id: randomID(15), nsp: n, conn: c, auth: auth}
}

// ID returns the socket's id: the Socket.IO sid the client got in its
// CONNECT answer, not the Engine.IO session id. Every socket is in the room
// of its own id.
func (s *Socket) ID() string { return s.id }

// Namespace returns the namespace the socket is in (a child, when it came
// through a parent namespace).
func (s *Socket) Namespace() *Namespace { return s.nsp }

// EngineID returns the id of the Engine.IO session under the socket, which
// all the sockets of one client connection share.
func (s *Socket) EngineID() string { return s.conn.sid }

// Handshake returns what the client sent when it connected.
func (s *Socket) Handshake() Handshake {
	h := s.conn.handshake()
	h.Auth = s.auth
	return h
}

// Connected reports whether the socket is in its namespace: false before its
// middleware has accepted it and after it has left.
func (s *Socket) Connected() bool { return s.state.Load() == stateConnected }

// Recovered reports whether the socket is one that had lost its connection
// and came back with its id, rooms and data (see Options.Recovery).
func (s *Socket) Recovered() bool { return s.recovered }

// Data returns the data the application keeps with the socket (nil until
// SetData), the reference's socket.data.
func (s *Socket) Data() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

// SetData replaces the data the application keeps with the socket. With
// connection state recovery it comes back with a recovered socket; in a
// cluster, FetchSockets on other nodes sees it encoded with encoding/json.
func (s *Socket) SetData(v any) {
	s.mu.Lock()
	s.data = v
	s.mu.Unlock()
}

// Emit sends an event to the client. Arguments are JSON values (as
// encoding/json encodes them) and []byte, which go as binary attachments
// (see [wire.AppendArgs]). Emit never waits on the client: it fails with
// [ErrDisconnected] when the socket has left, [ErrReservedEvent] for a
// reserved name, and [eio.ErrSlowConsumer] when the connection's queue is
// full (the connection is then closed).
func (s *Socket) Emit(event string, args ...any) error {
	return s.emit(event, args, false)
}

// EmitVolatile sends an event as Emit does, but drops it (and returns
// nil) when the connection cannot take it now: when earlier messages are
// still waiting for it, as on long-polling between two requests. For data
// that is worth sending only now, such as positions in a game.
func (s *Socket) EmitVolatile(event string, args ...any) error {
	return s.emit(event, args, true)
}

func (s *Socket) emit(event string, args []any, volatile bool) error {
	if !s.Connected() {
		return ErrDisconnected
	}
	keep := s.nsp.rec != nil && !volatile
	pk, err := encodeEvent(s.nsp.name, 0, false, event, args, offsetRoomIf(keep))
	if err != nil {
		return err
	}
	if !keep {
		return s.conn.write(pk.text, pk.atts, volatile)
	}
	// Kept for recovery, as the reference sends it: a broadcast to the
	// socket's own room, written to the socket under the same locks.
	_, err = s.nsp.sendLocal(bcast{rooms: []string{s.id}, local: true}, &pk, true, s)
	return err
}

// EmitWithAck sends an event that asks the client for an acknowledgement
// and waits for it: it returns the arguments the client answered with, or
// ctx's error when ctx ends first (the answer is then ignored), or
// [ErrDisconnected] when the socket leaves before answering. Do not call it
// from the goroutine that reads the namespace's events (see
// [Namespace.Events]).
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) (Args, error) {
	if !s.Connected() {
		return Args{}, ErrDisconnected
	}
	id := s.nsp.ackIDs.Add(1) - 1
	pk, err := encodeEvent(s.nsp.name, id, true, event, args, 0)
	if err != nil {
		return Args{}, err
	}
	ch := make(chan ackResult, 1)
	if !s.addAck(id, ackWaiter{ch: ch}) {
		return Args{}, ErrDisconnected
	}
	if err := s.conn.write(pk.text, pk.atts, false); err != nil {
		s.dropAck(id)
		return Args{}, err
	}
	select {
	case r := <-ch:
		return r.args, r.err
	case <-ctx.Done():
		s.dropAck(id)
		return Args{}, ctx.Err()
	}
}

// ackWaiter is what waits for the acknowledgement of one emit: one caller
// of EmitWithAck, or a broadcast's collector.
type ackWaiter struct {
	ch   chan ackResult // capacity 1
	coll *collector
}

type ackResult struct {
	args Args
	err  error
}

func (s *Socket) addAck(id uint64, w ackWaiter) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.Load() == stateClosed {
		return false
	}
	if s.acks == nil {
		s.acks = make(map[uint64]ackWaiter, 1)
	}
	s.acks[id] = w
	return true
}

// dropAck forgets the wait for the acknowledgement id, and reports
// whether it was still there (not answered, nor failed by failAcks).
func (s *Socket) dropAck(id uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.acks[id]
	delete(s.acks, id)
	if len(s.acks) == 0 {
		s.acks = nil
	}
	return ok
}

// resolveAck hands an ACK from the client to what waits for it; an ack
// nobody waits for (it timed out, or never was) is ignored, as the
// reference does.
func (s *Socket) resolveAck(id uint64, args Args) {
	s.mu.Lock()
	w, ok := s.acks[id]
	if ok {
		delete(s.acks, id)
		if len(s.acks) == 0 {
			s.acks = nil
		}
	}
	s.mu.Unlock()
	switch {
	case !ok:
	case w.ch != nil:
		w.ch <- ackResult{args: args}
	default:
		w.coll.reply("", s.id, args)
	}
}

// failAcks ends every wait for an acknowledgement from the socket, which
// has left.
func (s *Socket) failAcks() {
	s.mu.Lock()
	acks := s.acks
	s.acks = nil
	s.mu.Unlock()
	for _, w := range acks {
		if w.ch != nil {
			w.ch <- ackResult{err: ErrDisconnected}
		} else {
			w.coll.gone()
		}
	}
}

// Ack answers the acknowledgement the event's sender asked for, with args
// encoded as Emit encodes them. It fails with [ErrNoAck] when the sender
// asked for none, [ErrAcked] on a second call, and [ErrDisconnected] when
// the socket has left. It never waits on the client.
func (e *Event) Ack(args ...any) error {
	a := e.ack
	if a == nil {
		return ErrNoAck
	}
	if !atomic.CompareAndSwapUint32(&a.sent, 0, 1) {
		return ErrAcked
	}
	data, atts, err := wire.AppendArgs(make([]byte, 0, 32), nil, args...)
	if err != nil {
		atomic.StoreUint32(&a.sent, 0)
		return err
	}
	if a.remote != nil {
		return a.remote(data, atts)
	}
	s := a.socket
	if !s.Connected() {
		return ErrDisconnected
	}
	return s.conn.writePacket(&wire.Packet{Type: wire.Ack, Namespace: s.nsp.name, ID: a.id, HasID: true, Data: data, Attachments: atts})
}

// Join puts the socket in rooms. Joining a room it is in, or its own
// room, does nothing; so does joining after it has left.
func (s *Socket) Join(rooms ...string) {
	n := s.nsp
	n.mu.Lock()
	defer n.mu.Unlock()
	if s.left {
		return
	}
	for _, r := range rooms {
		n.joinLocked(s, r)
	}
}

// Leave takes the socket out of rooms. It cannot leave its own room.
func (s *Socket) Leave(rooms ...string) {
	n := s.nsp
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, r := range rooms {
		for i, have := range s.rooms {
			if have == r {
				s.rooms = append(s.rooms[:i], s.rooms[i+1:]...)
				n.leaveRoomLocked(s, r)
				break
			}
		}
	}
	if len(s.rooms) == 0 {
		s.rooms = nil
	}
}

// Rooms returns the rooms the socket is in, its own room (its id) first.
func (s *Socket) Rooms() []string {
	n := s.nsp
	n.mu.RLock()
	defer n.mu.RUnlock()
	if s.left {
		return nil
	}
	out := make([]string, 0, 1+len(s.rooms))
	return append(append(out, s.id), s.rooms...)
}

// In reports whether the socket is in room.
func (s *Socket) In(room string) bool {
	n := s.nsp
	n.mu.RLock()
	defer n.mu.RUnlock()
	if room == s.id {
		return !s.left // s.left is guarded by n.mu
	}
	_, in := n.rooms[room][s]
	return in
}

// To returns a Broadcast to the sockets in rooms, this one excepted, as the
// reference's socket.to(room).
func (s *Socket) To(rooms ...string) Broadcast {
	return s.Broadcast().To(rooms...)
}

// Broadcast returns a Broadcast to every socket of the namespace but this
// one, as the reference's socket.broadcast.
func (s *Socket) Broadcast() Broadcast {
	return Broadcast{nsp: s.nsp, b: bcast{except: []string{s.id}}}
}

// Disconnect makes the socket leave its namespace: the client gets a
// DISCONNECT packet and the application an EventDisconnect with
// [ReasonServerNamespaceDisconnect]. With close, every socket of the
// client's connection leaves that way, then the connection is closed, as
// the reference's disconnect(true) does: none of them may come back with
// connection state recovery. It never waits; a socket that has left is
// left alone.
func (s *Socket) Disconnect(close bool) error {
	srv := s.nsp.srv
	if close {
		if !s.Connected() {
			return nil
		}
		c := s.conn
		srv.post(func() {
			if c.ended || s.state.Load() != stateConnected {
				return
			}
			for _, sock := range slices.Clone(c.sockets) {
				if sock.state.CompareAndSwap(stateConnected, stateClosed) {
					_ = c.writePacket(&wire.Packet{Type: wire.Disconnect, Namespace: sock.nsp.name})
					srv.removeSocket(sock, ReasonServerNamespaceDisconnect, nil)
				}
			}
			c.end(ReasonForcedServerClose, nil) // sockets still in their middleware
			_ = srv.engine.Disconnect(c.sid)
		})
		return nil
	}
	if !s.state.CompareAndSwap(stateConnected, stateClosed) {
		return nil
	}
	_ = s.conn.writePacket(&wire.Packet{Type: wire.Disconnect, Namespace: s.nsp.name})
	srv.post(func() { srv.removeSocket(s, ReasonServerNamespaceDisconnect, nil) })
	return nil
}
