package cluster

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/chanio/chanio/actor"
	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/internal/loglimit"
	"github.com/nats-io/nats.go"
)

// Node is one chanio server of a cluster: an [eio.Server] whose session
// ids name the node, joined to the others over NATS. Get one from [Join].
//
// Serve HTTP with the node ([Node.ServeHTTP], or [Node.Handler] around a
// site): requests for its own sessions and handshakes go to its server,
// requests for another node's sessions are forwarded to their owner. Read
// the node's events from Server().Events(), and talk to sessions of any
// node with [Node.Send], [Node.SendBinary], [Node.SendJSON],
// [Node.Disconnect] and [Node.Broadcast]. Stop it with [Node.Shutdown] or
// [Node.Close].
type Node struct {
	opts        options
	log         *slog.Logger
	nc          *nats.Conn
	srv         *eio.Server
	path        string // the Engine.IO path, with its trailing slash
	json        eio.JSONCodec
	incarnation uint64 // tells this run of the node id from a restart

	members    *members
	tunnels    tunnels
	nextTunnel atomic.Uint64
	listener   *tunnelListener
	tunnelSrv  *http.Server // serves the tunnels other nodes open to this one
	transport  *http.Transport
	proxy      *httputil.ReverseProxy
	relays     relays
	forwarded  atomic.Uint64 // requests forwarded to other nodes

	group *actor.Group // the heartbeat and the tunnel server's accept loop
	subs  []*nats.Subscription
	// Calls that run on goroutines of others, counted so that Close can
	// wait for them (actor.Group's Enter and Exit).
	calls    *actor.Group // NATS callbacks running
	handlers *actor.Group // forwarding handlers running, on the application's HTTP server
	polls    *actor.Group // of which forwarding requests (not relaying a WebSocket)
	conns    *actor.Group // tunnel connections of tunnelSrv

	closing  atomic.Bool
	stopOnce sync.Once
}

// Join starts a node of the cluster on nc and returns it once it is
// subscribed and has announced itself. It makes the node's eio.Server
// from serverOpts (nil means the eio defaults), with
// serverOpts.GenerateID wrapped so that every session id ends with "." and
// the node id; opts (nil for defaults) configures the cluster side. ctx
// bounds the joining.
//
// nc stays the caller's: the node neither drains nor closes it, and it
// should outlive the node. Every node of a cluster must use the same
// Engine.IO path and the same Subject.
func Join(ctx context.Context, nc *nats.Conn, serverOpts *eio.Options, opts *Options) (*Node, error) {
	if nc == nil {
		return nil, errors.New("cluster: Join needs a NATS connection")
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	var so eio.Options
	if serverOpts != nil {
		so = *serverOpts
	}
	so.GenerateID = sidGenerator(o.id, so.GenerateID)
	n := &Node{
		opts:     o,
		log:      o.Logger.With("node", o.id),
		nc:       nc,
		members:  newMembers(o.NodeTimeout),
		calls:    actor.NewGroup(nil),
		handlers: actor.NewGroup(nil),
		polls:    actor.NewGroup(nil),
		conns:    actor.NewGroup(nil),
	}
	n.srv = eio.NewServer(&so)
	// The server's path and JSON codec, and its heartbeat for the
	// default ForwardTimeout, as it resolved them.
	eo := n.srv.Options()
	n.path, n.json = eo.Path, eo.JSON
	if n.opts.ForwardTimeout <= 0 {
		n.opts.ForwardTimeout = eo.PingInterval + eo.PingTimeout + eo.PingGrace + forwardMargin
	}
	n.incarnation = randomUint64()
	n.nextTunnel.Store(randomUint64() >> 1) // room to count up
	if err := n.checkID(ctx); err != nil {
		_ = n.srv.Close()
		return nil, err
	}

	n.group = actor.NewGroup(func(name string, err error) {
		n.log.Error("cluster: goroutine failed", "name", name, "err", err)
	})
	n.listener = newTunnelListener(o.id)
	n.tunnelSrv = &http.Server{
		Handler:           n.srv,
		ReadHeaderTimeout: 2 * o.NodeTimeout,
		IdleTimeout:       2 * forwardIdleTimeout,
		ConnState:         n.trackConn,
		ErrorLog:          log.New(logWriter{n.log}, "", 0),
	}
	n.newProxy()

	fail := func(err error) (*Node, error) {
		n.closing.Store(true)
		_ = n.srv.Close()
		_ = n.teardown(context.Background(), false)
		return nil, err
	}
	for _, s := range []struct {
		subj string
		fn   func(*nats.Msg)
	}{
		{o.subjHB, n.onHeartbeat},
		{o.subjBC, n.onBroadcast},
		{o.nodeSubject(o.id, "rpc"), n.onRPC},
		{o.nodeSubject(o.id, "t"), n.onFrame},
	} {
		if err := n.subscribe(s.subj, s.fn); err != nil {
			return fail(fmt.Errorf("cluster: subscribe %s: %w", s.subj, err))
		}
	}
	if err := n.flush(ctx); err != nil {
		return fail(err)
	}
	if err := n.group.Go("cluster tunnel server", n.serveTunnels); err != nil {
		return fail(err)
	}
	if err := n.group.Go("cluster heartbeat", n.heartbeat); err != nil {
		return fail(err)
	}
	n.beat(beatJoin)
	n.log.Info("cluster: node joined", "subject", o.Subject)
	return n, nil
}

// checkID fails when a live node already answers to the node id.
func (n *Node) checkID(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.opts.HeartbeatInterval)
	defer cancel()
	_, err := n.nc.RequestWithContext(ctx, n.opts.nodeSubject(n.opts.id, "rpc"), appendRPC(nil, rpc{op: opPing}))
	switch {
	case err == nil:
		return fmt.Errorf("%w: %s", ErrNodeIDTaken, n.opts.id)
	case errors.Is(err, nats.ErrNoResponders):
		return nil
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		// Nobody answered in time, yet something is subscribed: a node
		// that stopped, or a server without no-responders support. Go on.
		return nil
	}
	return fmt.Errorf("cluster: join: %w", err)
}

func (n *Node) flush(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.opts.NodeTimeout)
		defer cancel()
	}
	if err := n.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("cluster: join: %w", err)
	}
	return nil
}

func (n *Node) subscribe(subj string, fn func(*nats.Msg)) error {
	sub, err := n.nc.Subscribe(subj, func(m *nats.Msg) {
		if !n.calls.Enter() {
			return
		}
		defer n.calls.Exit()
		fn(m)
	})
	if err != nil {
		return err
	}
	n.subs = append(n.subs, sub)
	return nil
}

// ID returns the node's id, the end of each of its session ids.
func (n *Node) ID() string { return n.opts.id }

// Server returns the node's eio.Server. Its Events carry the sessions this
// node owns, and only those; its Send, Disconnect and Range reach only
// them. Use the Node's methods to reach sessions of any node.
func (n *Node) Server() *eio.Server { return n.srv }

// Nodes returns the ids of the nodes this node takes for alive, itself
// included, sorted.
func (n *Node) Nodes() []string {
	ids := n.members.alive(time.Now())
	out := make([]string, 0, len(ids)+1)
	inserted := false
	for _, id := range ids {
		if !inserted && n.opts.id < id {
			out = append(out, n.opts.id)
			inserted = true
		}
		out = append(out, id)
	}
	if !inserted {
		out = append(out, n.opts.id)
	}
	return out
}

// NodesChanged returns a channel that is closed the next time the nodes
// [Node.Nodes] returns change as this node sees them: a node beats for the
// first time (or for the first time since it was taken for dead, or as a
// new run of its id), says goodbye, or is found silent for NodeTimeout (at
// the heartbeat's next check, up to HeartbeatInterval after Nodes has
// stopped listing it). Call it before Nodes: waiting on the channel then
// misses no change from what Nodes returned.
func (n *Node) NodesChanged() <-chan struct{} { return n.members.changes() }

// Send queues data as a text message to the session sid, on whichever node
// owns it. A local session is sent to at once, as [eio.Server.Send] does;
// for a remote one the call waits for the owner's answer, within ctx (or
// NodeTimeout when ctx has no deadline).
//
// The errors are a local Send's, the owner's answer carried back:
// [eio.ErrUnknownSession] (also when the owner node is gone),
// [eio.ErrSessionClosed], [eio.ErrSlowConsumer]; [eio.ErrInvalidUTF8] for
// text that is not UTF-8, before any request; then [ErrTooLarge] for a
// remote message over NATS's max_payload, [ErrClosed], and ctx's error
// (the message may or may not have been delivered). data must not be
// changed after the call.
func (n *Node) Send(ctx context.Context, sid string, data []byte) error {
	return n.send(ctx, opSend, sid, data)
}

// SendBinary queues data as a binary message to the session sid, as
// [Node.Send] does text.
func (n *Node) SendBinary(ctx context.Context, sid string, data []byte) error {
	return n.send(ctx, opSendBinary, sid, data)
}

// SendJSON encodes v with the server's Options.JSON (encoding/json by
// default) and sends it as a text message, as [Node.Send] does.
func (n *Node) SendJSON(ctx context.Context, sid string, v any) error {
	data, err := n.json.Marshal(v)
	if err != nil {
		return err
	}
	return n.send(ctx, opSend, sid, data)
}

// Disconnect ends the session sid, on whichever node owns it, as
// [eio.Server.Disconnect] does. For a remote session it waits for the
// owner's answer within ctx; the errors are those of [Node.Send].
func (n *Node) Disconnect(ctx context.Context, sid string) error {
	owner, ok := ownerOf(sid)
	if !ok || owner == n.opts.id {
		return n.srv.Disconnect(sid)
	}
	return n.call(ctx, owner, appendRPC(nil, rpc{op: opDisconnect, sid: sid}))
}

func (n *Node) send(ctx context.Context, op byte, sid string, data []byte) error {
	owner, ok := ownerOf(sid)
	if !ok || owner == n.opts.id {
		if op == opSendBinary {
			return n.srv.SendBinary(sid, data)
		}
		return n.srv.Send(sid, data)
	}
	if op == opSend && !utf8.Valid(data) {
		return eio.ErrInvalidUTF8
	}
	msg := appendRPC(make([]byte, 0, 2+len(sid)+len(data)), rpc{op: op, sid: sid, data: data})
	if int64(len(msg)) > n.nc.MaxPayload() {
		return ErrTooLarge
	}
	return n.call(ctx, owner, msg)
}

// call makes an RPC to node owner and returns its answer as an error.
func (n *Node) call(ctx context.Context, owner string, msg []byte) error {
	if n.closing.Load() {
		return ErrClosed
	}
	if n.members.state(owner, time.Now()) == dead {
		return eio.ErrUnknownSession
	}
	parent := ctx
	var cancel context.CancelFunc
	if _, ok := ctx.Deadline(); ok {
		ctx, cancel = context.WithCancel(ctx)
	} else {
		ctx, cancel = context.WithTimeout(ctx, n.opts.NodeTimeout)
	}
	defer cancel()
	stop := context.AfterFunc(n.group.Context(), cancel)
	defer stop()
	reply, err := n.nc.RequestWithContext(ctx, n.opts.nodeSubject(owner, "rpc"), msg)
	switch {
	case err == nil:
	case errors.Is(err, nats.ErrNoResponders):
		return eio.ErrUnknownSession
	case parent.Err() != nil:
		return parent.Err()
	case n.closing.Load():
		return ErrClosed
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("cluster: node %s did not answer within %v: %w", owner, n.opts.NodeTimeout, err)
	default:
		return fmt.Errorf("cluster: request to node %s: %w", owner, err)
	}
	if len(reply.Data) != 1 {
		return fmt.Errorf("cluster: node %s: %w", owner, errMalformed)
	}
	return codeError(replyCode(reply.Data[0]))
}

// Broadcast sends data as a text message to every session of every node
// of the cluster: this node's at once, the others' through one NATS
// message that each node delivers to its own sessions, each node with
// [eio.Server.Broadcast] (the message encoded once per node, shared by its
// sessions). Like [eio.Server.Send] it never waits on a peer; it fails
// only when data is not UTF-8 ([eio.ErrInvalidUTF8]), does not fit in a
// NATS message ([ErrTooLarge]), the node is closed ([ErrClosed]), or NATS
// refuses the message. Sessions whose queue is full are closed as slow
// consumers, as with Send. data may be reused once Broadcast returns.
func (n *Node) Broadcast(data []byte) error { return n.broadcast(false, data) }

// BroadcastBinary is [Node.Broadcast] for a binary message.
func (n *Node) BroadcastBinary(data []byte) error { return n.broadcast(true, data) }

func (n *Node) broadcast(binary bool, data []byte) error {
	if n.closing.Load() {
		return ErrClosed
	}
	if !binary && !utf8.Valid(data) {
		return eio.ErrInvalidUTF8
	}
	m := broadcast{from: n.opts.id, binary: binary, data: data}
	msg := appendBroadcast(make([]byte, 0, 2+len(n.opts.id)+len(data)), m)
	if int64(len(msg)) > n.nc.MaxPayload() {
		return ErrTooLarge
	}
	// Sessions here are sent to directly, so that the connection's NoEcho
	// option does not matter; the node skips its own message.
	n.localBroadcast(binary, data)
	if err := n.nc.Publish(n.opts.subjBC, msg); err != nil {
		return fmt.Errorf("cluster: broadcast: %w", err)
	}
	return nil
}

// localBroadcast queues data to every session of this node. It fails only
// as the server shuts down, when there is nobody left to tell.
func (n *Node) localBroadcast(binary bool, data []byte) {
	if binary {
		_, _ = n.srv.BroadcastBinary(data, nil)
	} else {
		_, _ = n.srv.Broadcast(data, nil)
	}
}

func (n *Node) onBroadcast(m *nats.Msg) {
	b, err := decodeBroadcast(m.Data)
	if err != nil {
		n.log.Warn("cluster: malformed broadcast", "err", err)
		return
	}
	if b.from == n.opts.id {
		return
	}
	n.localBroadcast(b.binary, b.data)
}

// onRPC answers another node's request.
func (n *Node) onRPC(m *nats.Msg) {
	r, err := decodeRPC(m.Data)
	code := codeBadRequest
	if err == nil {
		switch r.op {
		case opSend:
			code = errorCode(n.srv.Send(r.sid, r.data))
		case opSendBinary:
			code = errorCode(n.srv.SendBinary(r.sid, r.data))
		case opDisconnect:
			code = errorCode(n.srv.Disconnect(r.sid))
		case opOpen:
			code = n.acceptTunnel(r.dialer, r.tunnel)
		case opPing:
			code = codeOK
		}
	}
	if m.Reply != "" {
		_ = m.Respond([]byte{byte(code)})
	}
}

// acceptTunnel opens this node's end of a tunnel dialed by node dialer.
func (n *Node) acceptTunnel(dialer string, id uint64) replyCode {
	if n.closing.Load() {
		return codeServerClosed
	}
	if dialer == n.opts.id {
		return codeBadRequest
	}
	t := newTunnel(n, tunnelKey{dialer: dialer, id: id}, dialer, false)
	if !n.tunnels.add(t) {
		return codeBadRequest
	}
	if !n.listener.offer(t) {
		n.tunnels.remove(t)
		return codeBusy
	}
	return codeOK
}

// onFrame hands a tunnel frame to its tunnel.
func (n *Node) onFrame(m *nats.Msg) {
	f, err := decodeFrame(m.Data)
	if err != nil {
		n.log.Warn("cluster: malformed tunnel frame", "err", err)
		return
	}
	key := tunnelKey{dialer: n.opts.id, id: f.tunnel}
	if f.fromDialer {
		key.dialer = f.from
	}
	if t := n.tunnels.get(key); t != nil && t.peer == f.from {
		t.receive(f)
		return
	}
	if f.kind != frameClose {
		// A tunnel this node has closed or never had: tell the sender.
		var buf [frameHeaderMax]byte
		b := appendFrameHeader(buf[:0], frame{kind: frameClose, fromDialer: !f.fromDialer, from: n.opts.id, tunnel: f.tunnel})
		_ = n.nc.Publish(n.opts.nodeSubject(f.from, "t"), b)
	}
}

// chunkSize is the largest data in one tunnel frame.
func (n *Node) chunkSize() int {
	const max = 32 << 10
	c := int(n.nc.MaxPayload()) - frameHeaderMax
	if c > max || c <= 0 {
		c = max
	}
	return min(c, n.opts.TunnelWindow/2)
}

// beat publishes a heartbeat of kind.
func (n *Node) beat(kind byte) {
	var buf [1 + 1 + maxNodeID + 8]byte
	b := appendHeartbeat(buf[:0], heartbeat{kind: kind, id: n.opts.id, incarnation: n.incarnation})
	_ = n.nc.Publish(n.opts.subjHB, b)
}

// heartbeat is the node's timekeeper: it beats every HeartbeatInterval
// and ends what the node had with nodes that fell silent.
func (n *Node) heartbeat(ctx context.Context) error {
	t := time.NewTicker(n.opts.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		n.beat(beatAlive)
		died, left := n.members.sweep(time.Now())
		for _, id := range died {
			n.log.Info("cluster: node gone silent", "peer", id, "timeout", n.opts.NodeTimeout)
			n.peerGone(id)
		}
		for _, id := range left {
			n.peerGone(id) // what its goodbye left open
		}
	}
}

func (n *Node) onHeartbeat(m *nats.Msg) {
	h, err := decodeHeartbeat(m.Data)
	if err != nil {
		n.log.Warn("cluster: malformed heartbeat", "err", err)
		return
	}
	if h.id == n.opts.id {
		if h.incarnation != n.incarnation {
			n.log.Error("cluster: another node uses this node's id", "id", h.id)
		}
		return
	}
	now := time.Now()
	if h.kind == beatBye {
		// New requests for its sessions are refused from now on; the
		// tunnels it had end as it closes them, after their last bytes
		// (a goodbye may overtake them), or a NodeTimeout from now.
		if n.members.leave(h.id, h.incarnation, now) {
			n.log.Info("cluster: node left", "peer", h.id)
		}
		return
	}
	joined, restarted := n.members.seen(h.id, h.incarnation, now)
	if restarted {
		n.peerGone(h.id) // what it had belongs to its previous run
	}
	if joined {
		n.log.Info("cluster: node alive", "peer", h.id)
	}
	if h.kind == beatJoin {
		n.beat(beatAlive) // so that it knows this node at once
	}
}

// peerGone ends every tunnel with node id.
func (n *Node) peerGone(id string) {
	for _, t := range n.tunnels.with(id) {
		t.fail(errPeerDead, true)
	}
}

// Shutdown stops the node gracefully. It shuts its eio.Server down (every
// session ends with its queued messages flushed and a close packet,
// relayed and forwarded sessions included), lets the requests it is
// forwarding for other nodes' sessions finish (a held long-poll lasts up
// to the ping interval: take the node out of the load balancer first),
// then leaves the cluster, cuts the WebSockets it relays for other nodes
// (their clients see a transport close and reconnect through another
// node), and waits for its goroutines. If ctx ends first it returns
// ctx.Err(); call [Node.Close] then. Shutdown is idempotent.
func (n *Node) Shutdown(ctx context.Context) error {
	if err := n.srv.Shutdown(ctx); err != nil {
		return err
	}
	return n.teardown(ctx, true)
}

// Close stops the node now: its eio.Server is closed (sessions are cut),
// it leaves the cluster, cuts the requests and WebSockets it forwards, and
// returns once its goroutines have exited. Close is idempotent.
func (n *Node) Close() error {
	n.closing.Store(true)
	_ = n.srv.Close()
	return n.teardown(context.Background(), false)
}

// teardown stops everything but the eio.Server. Graceful, it first waits
// for the forwarded requests in flight, and for the tunnel server's
// requests to be answered.
func (n *Node) teardown(ctx context.Context, graceful bool) error {
	n.closing.Store(true)
	if graceful {
		n.polls.Seal()
		select {
		case <-n.polls.Done():
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := n.tunnelSrv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	n.stopOnce.Do(func() {
		if n.nc.IsConnected() {
			n.beat(beatBye)
			_ = n.nc.FlushTimeout(n.opts.HeartbeatInterval)
		}
		for _, s := range n.subs {
			_ = s.Unsubscribe()
		}
		n.calls.Seal()
		<-n.calls.Done()
		n.polls.Seal()
		_ = n.listener.Close()
		_ = n.tunnelSrv.Close()
		for _, t := range n.tunnels.with("") {
			t.close(ErrClosed, true)
		}
		n.relays.closeAll()
		n.transport.CloseIdleConnections()
		n.group.Stop()
	})
	if err := n.group.WaitContext(ctx); err != nil {
		return err
	}
	for _, g := range []*actor.Group{n.handlers, n.conns} {
		g.Seal()
		select {
		case <-g.Done():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// serveTunnels runs the tunnel server until the node closes.
func (n *Node) serveTunnels(context.Context) error {
	if err := n.tunnelSrv.Serve(n.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// trackConn counts the tunnel server's connections, so that Close can wait
// for their goroutines.
func (n *Node) trackConn(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		n.conns.Adopt()
	case http.StateHijacked, http.StateClosed:
		n.conns.Exit()
	}
}

// logWriter sends net/http's log lines to the node's logger at Debug,
// bounded: they may quote what a client sent.
type logWriter struct{ log *slog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Debug("cluster: http", "line", loglimit.Text(p))
	return len(p), nil
}
