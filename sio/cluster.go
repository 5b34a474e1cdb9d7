package sio

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chanio/chanio/cluster"
	"github.com/chanio/chanio/sio/wire"
	"github.com/nats-io/nats.go"
)

// JoinCluster returns a running Socket.IO server on a node of a chanio
// cluster: it reads the node's Engine.IO events and serves HTTP through the
// node, which forwards requests for sessions of other nodes to them, so that
// a load balancer in front needs no session affinity. Make the node with
// [cluster.Join] with the Socket.IO path (eio.Options{Path: "/socket.io/"}).
//
// Between the nodes, over nc (subjects under Options.ClusterSubject), room
// broadcasts, DisconnectSockets, SocketsJoin and SocketsLeave reach the
// sockets of every node; acknowledgements from many sockets
// ([Broadcast.EmitWithAck]) and FetchSockets gather every node's;
// [Namespace.ServerSideEmit] reaches the other nodes' namespaces; and a
// client that comes back to another node gets its state from the node it
// left (connection state recovery). Events stay on the node whose client
// sent them.
//
// The server owns the node: Shutdown and Close shut it down (nc stays the
// caller's). ctx bounds the joining. Every node must use the same
// Options.
func JoinCluster(ctx context.Context, nc *nats.Conn, node *cluster.Node, opts *Options) (*Server, error) {
	o := opts.withDefaults()
	subject := o.ClusterSubject
	if subject == "" {
		subject = "chanio-sio"
	}
	s := newServer(o, node.Server(), node)
	a := &clusterAdapter{
		s:       s,
		nc:      nc,
		node:    node,
		id:      node.ID(),
		all:     subject + ".all",
		me:      subject + ".n." + node.ID(),
		subject: subject,
		pending: make(map[uint64]*pending),
		timers:  make(map[*time.Timer]func()),
		ackWait: remoteAckWait, ackGrace: remoteAckGrace,
	}
	for _, subj := range []string{a.all, a.me} {
		sub, err := nc.Subscribe(subj, a.receive)
		if err != nil {
			a.close()
			_ = node.Close()
			return nil, fmt.Errorf("sio: join cluster: %w", err)
		}
		a.subs = append(a.subs, sub)
	}
	if err := nc.FlushWithContext(ctx); err != nil {
		a.close()
		_ = node.Close()
		return nil, fmt.Errorf("sio: join cluster: %w", err)
	}
	s.remote = a
	go s.run()
	return s, nil
}

// clusterAdapter is the adapter of a server on a cluster node: it talks to
// the other nodes' adapters over NATS, one JSON message at a time.
type clusterAdapter struct {
	s       *Server
	nc      *nats.Conn
	node    *cluster.Node
	id      string
	all     string // every node listens
	me      string // this node listens
	subject string
	subs    []*nats.Subscription
	reqs    atomic.Uint64
	// ackWait and ackGrace are remoteAckWait and remoteAckGrace; tests
	// shorten them.
	ackWait, ackGrace time.Duration

	mu      sync.Mutex
	pending map[uint64]*pending    // requests waiting for answers
	timers  map[*time.Timer]func() // acknowledgements other nodes wait for, by their deadline
	calls   sync.WaitGroup         // receive callbacks running
	closed  bool
}

// pending is a request of this node waiting for the other nodes' answers.
type pending struct {
	answers chan *cmsg // fetch, restore, server-side acks
	coll    *collector // a broadcast with acknowledgements
}

// cmsg is a message between nodes.
type cmsg struct {
	Kind    string          `json:"k"`
	From    string          `json:"f"`
	Req     uint64          `json:"r,omitempty"`
	Nsp     string          `json:"n,omitempty"`
	Rooms   []string        `json:"ro,omitempty"`
	Except  []string        `json:"ex,omitempty"`
	Vol     bool            `json:"v,omitempty"`
	Text    []byte          `json:"t,omitempty"` // an encoded packet
	Offset  string          `json:"o,omitempty"` // its recovery offset
	Data    json.RawMessage `json:"d,omitempty"` // event or ack arguments (a JSON array)
	Atts    [][]byte        `json:"a,omitempty"`
	Op      int             `json:"op,omitempty"`
	Args    []string        `json:"ar,omitempty"` // rooms of an operation
	Close   bool            `json:"c,omitempty"`
	Wait    int64           `json:"w,omitempty"` // ms to keep waiting for acks
	Count   int             `json:"cnt,omitempty"`
	Socket  string          `json:"s,omitempty"`
	Sockets []remoteWire    `json:"ss,omitempty"`
	PID     string          `json:"p,omitempty"`
	Session *sessionWire    `json:"se,omitempty"`
}

type remoteWire struct {
	ID      string              `json:"id"`
	Rooms   []string            `json:"rooms"`
	Data    json.RawMessage     `json:"data"`
	Header  map[string][]string `json:"header,omitempty"`
	URL     string              `json:"url,omitempty"`
	Address string              `json:"address,omitempty"`
	Time    time.Time           `json:"time"`
	Secure  bool                `json:"secure,omitempty"`
	XDomain bool                `json:"xdomain,omitempty"`
	Auth    json.RawMessage     `json:"auth,omitempty"`
}

type sessionWire struct {
	SID    string          `json:"sid"`
	PID    string          `json:"pid"`
	Rooms  []string        `json:"rooms"`
	Data   json.RawMessage `json:"data"`
	Missed []packetWire    `json:"missed"`
}

type packetWire struct {
	Text []byte   `json:"t"`
	Atts [][]byte `json:"a,omitempty"`
}

func (a *clusterAdapter) peers() []string {
	nodes := a.node.Nodes()
	return slices.DeleteFunc(nodes, func(id string) bool { return id == a.id })
}

func (a *clusterAdapter) publish(subj string, m *cmsg) error {
	m.From = a.id
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if int64(len(b)) > a.nc.MaxPayload() {
		return fmt.Errorf("sio: a message for the other nodes is over the NATS max_payload: %w", cluster.ErrTooLarge)
	}
	return a.nc.Publish(subj, b)
}

func (a *clusterAdapter) to(node string) string { return a.subject + ".n." + node }

// request registers a pending request, publishes m to every other node
// and returns the request.
func (a *clusterAdapter) request(m *cmsg, p *pending) (uint64, error) {
	id := a.reqs.Add(1)
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return 0, ErrServerClosed
	}
	a.pending[id] = p
	a.mu.Unlock()
	m.Req = id
	if err := a.publish(a.all, m); err != nil {
		a.forget(id)
		return 0, err
	}
	return id, nil
}

func (a *clusterAdapter) forget(id uint64) {
	a.mu.Lock()
	delete(a.pending, id)
	a.mu.Unlock()
}

func (a *clusterAdapter) lookup(id uint64) *pending {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pending[id]
}

// gather waits for one answer from each of n nodes, or ctx.
func (a *clusterAdapter) gather(ctx context.Context, m *cmsg, n int) ([]*cmsg, error) {
	if n == 0 {
		return nil, nil
	}
	p := &pending{answers: make(chan *cmsg, n)}
	id, err := a.request(m, p)
	if err != nil {
		return nil, err
	}
	defer a.forget(id)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	var out []*cmsg
	for len(out) < n {
		select {
		case ans := <-p.answers:
			out = append(out, ans)
		case <-ctx.Done():
			return out, ctx.Err()
		}
	}
	return out, nil
}

func (a *clusterAdapter) broadcast(n *Namespace, b bcast, pk packet, offset string) error {
	return a.publish(a.all, &cmsg{Kind: "bc", Nsp: n.name, Rooms: b.rooms, Except: b.except, Vol: b.volatile, Text: pk.text, Atts: pk.atts, Offset: offset})
}

// remoteAckWait is how long a node keeps waiting for its sockets' answers
// to another node's broadcast, and forwards them; remoteAckGrace is the
// time the last of them may take to reach the broadcasting node.
const (
	remoteAckWait  = 60 * time.Second
	remoteAckGrace = 5 * time.Second
)

func (a *clusterAdapter) ackWindow() time.Duration { return a.ackWait + a.ackGrace }

func (a *clusterAdapter) watch() (<-chan struct{}, []string) {
	changed := a.node.NodesChanged() // first: no change is missed
	return changed, a.peers()
}

func (a *clusterAdapter) broadcastWithAck(n *Namespace, b bcast, event string, args []any, coll *collector, nodes []string) (func(), error) {
	data, atts, err := wire.AppendEvent(nil, nil, event, args...)
	if err != nil {
		return nil, err
	}
	id, err := a.request(&cmsg{Kind: "bca", Nsp: n.name, Rooms: b.rooms, Except: b.except, Vol: b.volatile, Data: data, Atts: atts, Wait: a.ackWait.Milliseconds()}, &pending{coll: coll})
	if err != nil {
		return nil, err
	}
	return func() {
		a.forget(id)
		_ = a.publish(a.all, &cmsg{Kind: "bca-end", Req: id})
	}, nil
}

func (a *clusterAdapter) apply(n *Namespace, b bcast, op int, rooms []string, close bool) error {
	return a.publish(a.all, &cmsg{Kind: "apply", Nsp: n.name, Rooms: b.rooms, Except: b.except, Op: op, Args: rooms, Close: close})
}

func (a *clusterAdapter) fetch(ctx context.Context, n *Namespace, b bcast) ([]RemoteSocket, error) {
	answers, err := a.gather(ctx, &cmsg{Kind: "fetch", Nsp: n.name, Rooms: b.rooms, Except: b.except}, len(a.peers()))
	var out []RemoteSocket
	for _, ans := range answers {
		for _, w := range ans.Sockets {
			out = append(out, w.socket(n.name))
		}
	}
	return out, err
}

func (w *remoteWire) socket(nsp string) RemoteSocket {
	r := RemoteSocket{ID: w.ID, Namespace: nsp, Rooms: w.Rooms, Data: w.Data}
	r.Handshake = Handshake{Header: w.Header, Address: w.Address, Time: w.Time, Secure: w.Secure, XDomain: w.XDomain, Auth: w.Auth}
	if w.URL != "" {
		r.Handshake.URL, _ = url.Parse(w.URL)
	}
	return r
}

func (a *clusterAdapter) restore(ctx context.Context, n *Namespace, pid, offset string) *session {
	peers := len(a.peers())
	if peers == 0 {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
	}
	p := &pending{answers: make(chan *cmsg, peers)}
	id, err := a.request(&cmsg{Kind: "restore", Nsp: n.name, PID: pid, Offset: offset}, p)
	if err != nil {
		return nil
	}
	defer a.forget(id)
	for range peers {
		select {
		case ans := <-p.answers:
			if w := ans.Session; w != nil {
				s := &session{sid: w.SID, pid: w.PID, rooms: w.Rooms, remote: true}
				if len(w.Data) > 0 && string(w.Data) != "null" {
					s.data = w.Data
				}
				for _, m := range w.Missed {
					s.missed = append(s.missed, packet{text: m.Text, atts: m.Atts})
				}
				return s
			}
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// serverSideEmit sends an event to the namespace of the other nodes; with
// wait, it collects one answer from each.
func (a *clusterAdapter) serverSideEmit(ctx context.Context, n *Namespace, event string, args []any, wait bool) ([]Args, error) {
	data, atts, err := wire.AppendEvent(nil, nil, event, args...)
	if err != nil {
		return nil, err
	}
	m := &cmsg{Kind: "sse", Nsp: n.name, Data: data, Atts: atts}
	if !wait {
		return nil, a.publish(a.all, m)
	}
	m.Op = 1 // answers wanted
	answers, err := a.gather(ctx, m, len(a.peers()))
	out := make([]Args, 0, len(answers))
	for _, ans := range answers {
		out = append(out, wire.NewArgs(ans.Data, ans.Atts))
	}
	return out, err
}

func (a *clusterAdapter) close() {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.closed = true
	timers := a.timers
	a.timers = nil
	a.mu.Unlock()
	for _, sub := range a.subs {
		_ = sub.Unsubscribe()
	}
	for t, cleanup := range timers {
		if t.Stop() {
			cleanup()
		}
	}
	a.calls.Wait()
}

// enter counts a receive callback in, unless the adapter is closed.
func (a *clusterAdapter) enter() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	a.calls.Add(1)
	return true
}

// after runs cleanup after d, or at close.
func (a *clusterAdapter) after(d time.Duration, cleanup func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		cleanup()
		return
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		a.mu.Lock()
		_, mine := a.timers[t]
		delete(a.timers, t)
		a.mu.Unlock()
		if mine {
			cleanup()
		}
	})
	a.timers[t] = cleanup
}

// receive handles a message from another node, on a NATS goroutine. It
// never waits on a client or on the application.
func (a *clusterAdapter) receive(msg *nats.Msg) {
	if !a.enter() {
		return
	}
	defer a.calls.Done()
	var m cmsg
	if err := json.Unmarshal(msg.Data, &m); err != nil {
		a.s.log.Warn("sio: bad message from the cluster", "err", err)
		return
	}
	if m.From == a.id {
		return
	}
	switch m.Kind {
	case "ack", "count", "fetched", "restored", "sse-ack":
		a.answer(&m)
		return
	case "bca-end":
		return // the waits end by their own deadline
	}
	a.s.mu.RLock()
	n := a.s.nsps[m.Nsp]
	a.s.mu.RUnlock()
	b := bcast{rooms: m.Rooms, except: m.Except, volatile: m.Vol}
	switch m.Kind {
	case "bc":
		if n == nil {
			return
		}
		pk := packet{text: m.Text, atts: m.Atts}
		n.mu.RLock()
		if n.rec != nil && m.Offset != "" {
			n.rec.sending.Lock()
			n.rec.keep(b, &pk, m.Offset)
			n.sendLocked(b, pk)
			n.rec.sending.Unlock()
		} else {
			n.sendLocked(b, pk)
		}
		n.mu.RUnlock()
	case "apply":
		if n != nil {
			n.applyLocal(b, m.Op, m.Args, m.Close)
		}
	case "bca":
		a.ackForOrigin(n, &m, b)
	case "fetch":
		var socks []remoteWire
		if n != nil {
			for _, r := range n.fetchLocal(b) {
				socks = append(socks, toWire(r))
			}
		}
		_ = a.publish(a.to(m.From), &cmsg{Kind: "fetched", Req: m.Req, Sockets: socks})
	case "restore":
		ans := &cmsg{Kind: "restored", Req: m.Req}
		if n != nil && n.rec != nil {
			ans.Session = n.takeSession(m.PID, m.Offset)
		}
		_ = a.publish(a.to(m.From), ans)
	case "sse":
		if n == nil {
			if m.Op == 1 {
				_ = a.publish(a.to(m.From), &cmsg{Kind: "sse-ack", Req: m.Req, Data: json.RawMessage("[]")})
			}
			return
		}
		name, args, err := wire.EventArgs(&wire.Packet{Type: wire.Event, Data: m.Data, Attachments: m.Atts})
		if err != nil {
			return
		}
		ev := Event{Type: EventServerSide, Name: name, Args: args}
		if m.Op == 1 {
			from, req := m.From, m.Req
			ev.ack = &ackTarget{remote: func(data []byte, atts [][]byte) error {
				return a.publish(a.to(from), &cmsg{Kind: "sse-ack", Req: req, Data: data, Atts: atts})
			}}
		}
		a.s.post(func() { n.deliver(ev) })
	}
}

// answer hands an answer from another node to the request it answers.
func (a *clusterAdapter) answer(m *cmsg) {
	p := a.lookup(m.Req)
	if p == nil {
		return // given up on
	}
	switch {
	case p.coll != nil && m.Kind == "ack":
		p.coll.reply(m.From, m.Socket, wire.NewArgs(m.Data, m.Atts))
	case p.coll != nil && m.Kind == "count":
		p.coll.count(m.From, m.Count)
	case p.answers != nil:
		select {
		case p.answers <- m:
		default: // more answers than nodes asked: a node that came back
		}
	}
}

// ackForOrigin emits another node's broadcast with acknowledgements to this
// node's sockets, under an ack id of this node's, and sends each answer, and
// the count of sockets reached, back to that node.
func (a *clusterAdapter) ackForOrigin(n *Namespace, m *cmsg, b bcast) {
	from, req := m.From, m.Req
	if n == nil || n.children != nil {
		_ = a.publish(a.to(from), &cmsg{Kind: "count", Req: req})
		return
	}
	id := n.ackIDs.Add(1) - 1
	p := wire.Packet{Type: wire.Event, Namespace: n.name, ID: id, HasID: true, Data: m.Data, Attachments: m.Atts}
	text, err := wire.Append(nil, &p)
	if err != nil {
		_ = a.publish(a.to(from), &cmsg{Kind: "count", Req: req})
		return
	}
	fwd := &collector{done: make(chan struct{}), forward: func(sid string, args Args) {
		_ = a.publish(a.to(from), &cmsg{Kind: "ack", Req: req, Socket: sid, Data: args.JSON(), Atts: args.Attachments()})
	}}
	targets := n.awaitAcks(b, id, fwd)
	for _, s := range targets {
		_ = s.conn.write(text, m.Atts, b.volatile)
	}
	_ = a.publish(a.to(from), &cmsg{Kind: "count", Req: req, Count: len(targets)})
	a.after(time.Duration(m.Wait)*time.Millisecond, func() {
		for _, s := range targets {
			s.dropAck(id)
		}
	})
}

func toWire(r RemoteSocket) remoteWire {
	w := remoteWire{ID: r.ID, Rooms: r.Rooms, Address: r.Handshake.Address, Time: r.Handshake.Time,
		Secure: r.Handshake.Secure, XDomain: r.Handshake.XDomain, Auth: r.Handshake.Auth, Header: r.Handshake.Header}
	if r.Handshake.URL != nil {
		w.URL = r.Handshake.URL.String()
	}
	if b, err := json.Marshal(r.Data); err == nil {
		w.Data = b
	}
	return w
}

// takeSession hands the state of a socket that left this node to another
// node, with the packets it missed here.
func (n *Namespace) takeSession(pid, offset string) *sessionWire {
	n.mu.RLock()
	defer n.mu.RUnlock()
	s := n.rec.restore(pid, offset)
	if s == nil || !n.rec.fillMissed(s) {
		return nil
	}
	w := &sessionWire{SID: s.sid, PID: s.pid, Rooms: s.rooms}
	if b, err := json.Marshal(s.data); err == nil {
		w.Data = b
	}
	for _, m := range s.missed {
		w.Missed = append(w.Missed, packetWire{Text: m.text, Atts: m.atts})
	}
	return w
}

// ServerSideEmit sends an event to this namespace on the other nodes of the
// cluster, where the application gets it as an EventServerSide: the
// reference's serverSideEmit. Alone, it reaches nobody and returns nil.
func (n *Namespace) ServerSideEmit(event string, args ...any) error {
	if wire.IsReserved(event) {
		return ErrReservedEvent
	}
	if n.srv.remote == nil {
		return nil
	}
	_, err := n.srv.remote.serverSideEmit(context.Background(), n, event, args, false)
	return err
}

// ServerSideEmitWithAck sends an event to this namespace on the other nodes
// and returns their answers (Event.Ack of their EventServerSide), one per
// node; when ctx ends first, the answers so far and ctx's error.
func (n *Namespace) ServerSideEmitWithAck(ctx context.Context, event string, args ...any) ([]Args, error) {
	if wire.IsReserved(event) {
		return nil, ErrReservedEvent
	}
	if n.srv.remote == nil {
		return nil, nil
	}
	return n.srv.remote.serverSideEmit(ctx, n, event, args, true)
}
