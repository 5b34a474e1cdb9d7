package sio

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/chanio/chanio/sio/wire"
)

// Broadcast is a set of sockets of one namespace to emit to: the
// reference's BroadcastOperator. Get one from [Namespace.To], [Socket.To]
// and their kin, narrow it with its methods (each returns a new Broadcast;
// a Broadcast never changes), then emit. In a cluster it reaches the
// sockets of every node, unless [Broadcast.Local].
type Broadcast struct {
	nsp *Namespace
	b   bcast
}

// bcast is what a Broadcast selects, as it travels between nodes.
type bcast struct {
	rooms    []string // none: every socket
	except   []string
	volatile bool
	local    bool
}

// To returns a Broadcast to the namespace's sockets in any of rooms (each
// socket once, however many of the rooms it is in). A socket's id is the
// name of its own room.
func (n *Namespace) To(rooms ...string) Broadcast {
	return Broadcast{nsp: n}.To(rooms...)
}

// In is To.
func (n *Namespace) In(rooms ...string) Broadcast { return n.To(rooms...) }

// Except returns a Broadcast to every socket of the namespace but those in
// rooms.
func (n *Namespace) Except(rooms ...string) Broadcast {
	return Broadcast{nsp: n}.Except(rooms...)
}

// Volatile returns a Broadcast to every socket whose emits are dropped,
// not queued, for sockets that cannot take them now (see
// [Socket.EmitVolatile]).
func (n *Namespace) Volatile() Broadcast { return Broadcast{nsp: n}.Volatile() }

// Local returns a Broadcast to the sockets of this server only, in a
// cluster.
func (n *Namespace) Local() Broadcast { return Broadcast{nsp: n}.Local() }

// Emit sends an event to every socket of the namespace.
func (n *Namespace) Emit(event string, args ...any) error {
	return Broadcast{nsp: n}.Emit(event, args...)
}

// EmitWithAck sends an event to every socket of the namespace and collects
// their acknowledgements (see [Broadcast.EmitWithAck]).
func (n *Namespace) EmitWithAck(ctx context.Context, event string, args ...any) ([]Reply, error) {
	return Broadcast{nsp: n}.EmitWithAck(ctx, event, args...)
}

// SocketsJoin puts every socket of the namespace in rooms.
func (n *Namespace) SocketsJoin(rooms ...string) error {
	return Broadcast{nsp: n}.SocketsJoin(rooms...)
}

// SocketsLeave takes every socket of the namespace out of rooms.
func (n *Namespace) SocketsLeave(rooms ...string) error {
	return Broadcast{nsp: n}.SocketsLeave(rooms...)
}

// DisconnectSockets disconnects every socket of the namespace, as
// [Socket.Disconnect] does.
func (n *Namespace) DisconnectSockets(close bool) error {
	return Broadcast{nsp: n}.DisconnectSockets(close)
}

// FetchSockets returns every socket of the namespace (see
// [Broadcast.FetchSockets]).
func (n *Namespace) FetchSockets(ctx context.Context) ([]RemoteSocket, error) {
	return Broadcast{nsp: n}.FetchSockets(ctx)
}

// To adds rooms to those the Broadcast reaches.
func (b Broadcast) To(rooms ...string) Broadcast {
	b.b.rooms = append(slices.Clip(b.b.rooms), rooms...)
	return b
}

// In is To.
func (b Broadcast) In(rooms ...string) Broadcast { return b.To(rooms...) }

// Except leaves the sockets in rooms out.
func (b Broadcast) Except(rooms ...string) Broadcast {
	b.b.except = append(slices.Clip(b.b.except), rooms...)
	return b
}

// Volatile makes the emits volatile: dropped, not queued, for a socket
// whose connection cannot take them now.
func (b Broadcast) Volatile() Broadcast {
	b.b.volatile = true
	return b
}

// Local keeps the Broadcast to the sockets of this server, in a cluster.
func (b Broadcast) Local() Broadcast {
	b.b.local = true
	return b
}

// Emit sends an event to the Broadcast's sockets, encoded once. It never
// waits on a client; a socket whose connection's queue is full is closed
// (as by [Socket.Emit]) without failing the others. It fails only when the
// event cannot be encoded, or, in a cluster, when the other nodes cannot be
// told.
func (b Broadcast) Emit(event string, args ...any) error {
	return b.nsp.broadcast(b.b, event, args)
}

// Reply is one socket's acknowledgement of a broadcast.
type Reply struct {
	SocketID string
	Args     Args
}

// EmitWithAck sends an event to the Broadcast's sockets, asking each for an
// acknowledgement, and waits for them: it returns every reply once each
// socket has answered or left, or, when ctx ends first, the replies so
// far and ctx's error, as the reference's timeout(...).emitWithAck. In a
// cluster, the other nodes' sockets answer too: for 60 s, after which
// their nodes stop waiting for them and they are counted out, as are the
// sockets of a node that leaves the cluster. Do not call it from the
// goroutine that reads the namespace's events (see [Namespace.Events]).
func (b Broadcast) EmitWithAck(ctx context.Context, event string, args ...any) ([]Reply, error) {
	return b.nsp.broadcastWithAck(ctx, b.b, event, args)
}

// SocketsJoin puts the Broadcast's sockets in rooms.
func (b Broadcast) SocketsJoin(rooms ...string) error {
	return b.nsp.apply(b.b, opJoin, rooms, false)
}

// SocketsLeave takes the Broadcast's sockets out of rooms.
func (b Broadcast) SocketsLeave(rooms ...string) error {
	return b.nsp.apply(b.b, opLeave, rooms, false)
}

// DisconnectSockets disconnects the Broadcast's sockets, as
// [Socket.Disconnect] does.
func (b Broadcast) DisconnectSockets(close bool) error {
	return b.nsp.apply(b.b, opDisconnect, nil, close)
}

// RemoteSocket describes a socket that may live on another node of a
// cluster, as FetchSockets returns it: the reference's RemoteSocket.
type RemoteSocket struct {
	ID        string
	Namespace string
	Rooms     []string
	// Data is the socket's data: what SetData kept, for a socket of this
	// server; its JSON encoding (a json.RawMessage), for another node's.
	Data      any
	Handshake Handshake
	// Socket is the socket itself when it lives on this server, nil
	// otherwise.
	Socket *Socket
}

// Emit sends an event to the socket, wherever it lives.
func (r RemoteSocket) Emit(nsp *Namespace, event string, args ...any) error {
	if r.Socket != nil {
		return r.Socket.Emit(event, args...)
	}
	return nsp.To(r.ID).Emit(event, args...)
}

// FetchSockets returns the Broadcast's sockets, in a cluster those of every
// node (each within ctx).
func (b Broadcast) FetchSockets(ctx context.Context) ([]RemoteSocket, error) {
	if b.nsp.children != nil {
		return nil, ErrParentNamespace
	}
	out := b.nsp.fetchLocal(b.b)
	if b.b.local || b.nsp.srv.remote == nil {
		return out, nil
	}
	more, err := b.nsp.srv.remote.fetch(ctx, b.nsp, b.b)
	return append(out, more...), err
}

func (n *Namespace) fetchLocal(b bcast) []RemoteSocket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	var out []RemoteSocket
	n.eachLocked(b.rooms, b.except, func(s *Socket) {
		out = append(out, RemoteSocket{
			ID:        s.id,
			Namespace: n.name,
			Rooms:     append([]string{s.id}, s.rooms...),
			Data:      s.Data(),
			Handshake: s.Handshake(),
			Socket:    s,
		})
	})
	return out
}

// packet is an encoded event: its text message and attachments.
type packet struct {
	text []byte
	atts [][]byte
}

// offsetRoom is the capacity an encoded event keeps for the recovery
// offset appended to it (packet.withOffset): a tag of 8 characters, '-', a
// sequence number in base 36, the quotes and the comma.
const offsetRoom = 32

// offsetRoomIf returns offsetRoom when the event is to be kept for
// connection state recovery, and 0 otherwise.
func offsetRoomIf(keep bool) int {
	if keep {
		return offsetRoom
	}
	return 0
}

// encodeEvent encodes an EVENT, with room spare bytes of capacity after
// it.
func encodeEvent(nsp string, id uint64, hasID bool, event string, args []any, room int) (packet, error) {
	if wire.IsReserved(event) {
		return packet{}, ErrReservedEvent
	}
	buf := getBuf()
	defer putBuf(buf)
	data, atts, err := wire.AppendEvent((*buf)[:0], nil, event, args...)
	*buf = data
	if err != nil {
		return packet{}, err
	}
	p := wire.Packet{Type: wire.Event, Namespace: nsp, ID: id, HasID: hasID, Data: data, Attachments: atts}
	text, err := wire.Append(make([]byte, 0, wire.Len(&p)+room), &p)
	return packet{text: text, atts: atts}, err
}

// withOffset appends offset to an encoded event as its last argument
// (connection state recovery's packet offset): the text ends with the ']'
// of the event's arguments.
func (pk *packet) withOffset(offset string) {
	t := append(pk.text[:len(pk.text)-1], ',')
	t = appendJSONString(t, offset)
	pk.text = append(t, ']')
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= 64<<10 {
		*b = (*b)[:0]
		bufPool.Put(b)
	}
}

// broadcast emits to the sockets b selects: here, and on the other nodes.
func (n *Namespace) broadcast(b bcast, event string, args []any) error {
	if n.children != nil {
		for _, c := range n.kids() {
			if err := c.broadcast(b, event, args); err != nil {
				return err
			}
		}
		return nil
	}
	keep := n.rec != nil && !b.volatile
	pk, err := encodeEvent(n.name, 0, false, event, args, offsetRoomIf(keep))
	if err != nil {
		return err
	}
	if h := n.srv.testBroadcastEncoded; h != nil {
		h()
	}
	offset, _ := n.sendLocal(b, &pk, keep, nil)
	if b.local || n.srv.remote == nil {
		return nil
	}
	return n.srv.remote.broadcast(n, b, pk, offset)
}

// sendLocal writes an encoded packet to the sockets of this server that b
// selects, or to the socket to alone; with keep, it first gives the packet
// its offset and stores it for connection state recovery (see
// recovery.keep), and returns the offset. To one socket, it returns the
// write's error, and ErrDisconnected, with nothing kept, when the socket
// has left.
func (n *Namespace) sendLocal(b bcast, pk *packet, keep bool, to *Socket) (offset string, err error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if to != nil && !to.Connected() {
		return "", ErrDisconnected
	}
	if keep {
		n.rec.sending.Lock()
		defer n.rec.sending.Unlock()
		offset = n.rec.keep(b, pk, "")
	}
	if to != nil {
		return offset, to.conn.write(pk.text, pk.atts, b.volatile)
	}
	n.sendLocked(b, *pk)
	return offset, nil
}

// sendLocked writes an encoded packet to the sockets of this server that b
// selects. n.mu is held (read).
//
// The packet is encoded for Engine.IO once, when the first socket is
// found, and every socket's queue then holds the same bytes (see
// eio.Server.Prepare): a broadcast to a room of thousands costs one
// encoding, not one per socket.
func (n *Namespace) sendLocked(b bcast, pk packet) {
	var m *outgoing
	n.eachLocked(b.rooms, b.except, func(s *Socket) {
		if m == nil {
			m = outgoingFor(n.srv.engine, pk)
		}
		_ = s.conn.send(m, b.volatile)
	})
}

// collector gathers the acknowledgements of a broadcast: from the sockets
// of this server, and in a cluster from those of the other nodes.
type collector struct {
	mu      sync.Mutex
	replies []Reply
	counted bool                 // this server has counted its sockets in
	pending int                  // of which may still answer
	nodes   map[string]*nodeAcks // the other nodes that may still answer
	done    chan struct{}
	closed  bool
	// forward, when set, takes each reply instead: the broadcast is
	// another node's, which gets the replies over the cluster.
	forward func(socketID string, args Args)
}

// nodeAcks is what a collector waits for from another node.
type nodeAcks struct {
	counted bool // the node has said how many of its sockets it reached
	pending int  // of which may still answer; below zero while answers overtake the count
}

// newCollector returns a collector that waits for this server's sockets
// and for those of nodes.
func newCollector(nodes []string) *collector {
	c := &collector{done: make(chan struct{})}
	if len(nodes) > 0 {
		c.nodes = make(map[string]*nodeAcks, len(nodes))
		for _, id := range nodes {
			c.nodes[id] = &nodeAcks{}
		}
	}
	return c
}

// reply takes the answer of socket id, of node ("" for this server).
func (c *collector) reply(node, id string, args Args) {
	if c.forward != nil {
		c.forward(id, args)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.replies = append(c.replies, Reply{SocketID: id, Args: args})
	if node == "" {
		c.pending--
	} else if na := c.nodes[node]; na != nil {
		na.pending--
	}
	c.check()
}

// gone counts out a socket of this server that left before it answered.
func (c *collector) gone() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending--
	c.check()
}

// count takes the number of sockets node ("" for this server) reached.
func (c *collector) count(node string, sockets int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if node == "" {
		c.counted = true
		c.pending += sockets
	} else if na := c.nodes[node]; na != nil {
		na.counted = true
		na.pending += sockets
	}
	c.check()
}

// keepNodes counts out the other nodes not in alive (nil: all of them):
// their sockets' answers will not come.
func (c *collector) keepNodes(alive []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.nodes {
		if !slices.Contains(alive, id) {
			delete(c.nodes, id)
		}
	}
	c.check()
}

func (c *collector) check() {
	if c.closed || !c.counted || c.pending > 0 {
		return
	}
	for _, na := range c.nodes {
		if !na.counted || na.pending > 0 {
			return
		}
	}
	c.closed = true
	close(c.done)
}

// wait returns the replies once every socket has answered or been counted
// out, or, when ctx ends first, those so far and ctx's error. In a
// cluster, it counts out a node that leaves the cluster, and every node
// once they no longer forward answers (their window, see adapter).
func (c *collector) wait(ctx context.Context, remote adapter) ([]Reply, error) {
	var window <-chan time.Time
	if remote != nil {
		t := time.NewTimer(remote.ackWindow())
		defer t.Stop()
		window = t.C
	}
	for waiting := true; waiting; {
		var changed <-chan struct{}
		if remote != nil {
			var alive []string
			changed, alive = remote.watch()
			c.keepNodes(alive)
		}
		select {
		case <-c.done:
			waiting = false
		case <-ctx.Done():
			waiting = false
		case <-changed:
		case <-window:
			window = nil
			c.keepNodes(nil)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(c.replies)
	if !c.closed {
		return out, ctx.Err()
	}
	return out, nil
}

func (n *Namespace) broadcastWithAck(ctx context.Context, b bcast, event string, args []any) ([]Reply, error) {
	if n.children != nil {
		return nil, ErrParentNamespace
	}
	id := n.ackIDs.Add(1) - 1
	pk, err := encodeEvent(n.name, id, true, event, args, 0)
	if err != nil {
		return nil, err
	}
	var remote adapter
	var nodes []string
	if !b.local && n.srv.remote != nil {
		remote = n.srv.remote
		nodes = remote.peers()
	}
	// Until this server has counted its sockets in, the collector waits
	// for it too: a socket that leaves meanwhile is counted out
	// (Socket.failAcks) before it is counted in.
	coll := newCollector(nodes)
	targets := n.awaitAcks(b, id, coll)
	if h := n.srv.testAcksAwaited; h != nil {
		h()
	}
	coll.count("", len(targets))
	m := &outgoing{text: pk.text, atts: pk.atts}
	if len(targets) > 1 {
		m = outgoingFor(n.srv.engine, pk)
	}
	for _, s := range targets {
		if err := s.conn.send(m, b.volatile); err != nil && s.dropAck(id) {
			coll.gone() // unless failAcks has counted it out already
		}
	}
	var cancelRemote func()
	if remote != nil {
		cancelRemote, err = remote.broadcastWithAck(n, b, event, args, coll, nodes)
		if err != nil {
			coll.keepNodes(nil) // never mind the nodes
			remote = nil
		}
	}
	replies, err := coll.wait(ctx, remote)
	for _, s := range targets {
		s.dropAck(id)
	}
	if cancelRemote != nil {
		cancelRemote()
	}
	return replies, err
}

// awaitAcks registers coll for the acknowledgement id with the sockets b
// selects, and returns them.
func (n *Namespace) awaitAcks(b bcast, id uint64, coll *collector) []*Socket {
	var targets []*Socket
	n.mu.RLock()
	defer n.mu.RUnlock()
	n.eachLocked(b.rooms, b.except, func(s *Socket) {
		if s.addAck(id, ackWaiter{coll: coll}) {
			targets = append(targets, s)
		}
	})
	return targets
}

// apply operations.
const (
	opJoin = iota + 1
	opLeave
	opDisconnect
)

// apply runs a room or disconnect operation on the sockets b selects, here
// and on the other nodes.
func (n *Namespace) apply(b bcast, op int, rooms []string, close bool) error {
	if n.children != nil {
		for _, c := range n.kids() {
			if err := c.apply(b, op, rooms, close); err != nil {
				return err
			}
		}
		return nil
	}
	n.applyLocal(b, op, rooms, close)
	if b.local || n.srv.remote == nil {
		return nil
	}
	return n.srv.remote.apply(n, b, op, rooms, close)
}

func (n *Namespace) applyLocal(b bcast, op int, rooms []string, close bool) {
	var targets []*Socket
	n.mu.RLock()
	n.eachLocked(b.rooms, b.except, func(s *Socket) { targets = append(targets, s) })
	n.mu.RUnlock()
	for _, s := range targets {
		switch op {
		case opJoin:
			s.Join(rooms...)
		case opLeave:
			s.Leave(rooms...)
		case opDisconnect:
			_ = s.Disconnect(close)
		}
	}
}
