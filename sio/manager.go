package sio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/chanio/chanio/actor"
	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/sio/wire"
)

// Manager is one Engine.IO connection to a Socket.IO server, shared by the
// [Client]s of several namespaces, as the reference client's Manager: it
// opens the connection when the first client connects, multiplexes the
// namespaces over it, reconnects with backoff when it drops (and every
// client joins its namespace again), and closes it when the last client
// has left.
//
// A Manager is an actor: one goroutine reads the connection and runs the
// reconnection loop; the clients' methods are safe from any goroutine and
// none of them waits on the network. Make one with [NewManager] (or let
// [Connect] make one for a single client), and end it with
// [Manager.Close].
type Manager struct {
	url   string // the server, without a path
	opts  clientOptions
	log   *slog.Logger
	owned bool // made by Connect: it ends with its last client

	group *actor.Group // the actor
	io    *actor.Group // dials, and connections being let go of

	wake   chan struct{}   // capacity 1: look at the state again
	dialed chan dialResult // capacity 1: the one dial in flight ends
	// The one dial in flight, if dialing (guarded by mu): cancelDial
	// cancels it, and stale says it was, so that its result is dropped.
	dialing    bool
	dialStale  bool
	cancelDial context.CancelFunc
	done       chan struct{} // closed once every goroutine has exited
	timer      clockTimer    // the delay before the next attempt

	mu sync.Mutex // guards everything below; see LOCKS in Client
	// The connection: nil unless open. gen counts the connections opened,
	// so that an ack answered late can tell it is too late.
	conn    *eio.Client
	gen     uint64
	decoder wire.Decoder
	state   managerState
	// flushPending: a flush stopped by a full queue waits for the timer.
	flushPending bool

	clients map[string]*Client // the active clients, by namespace
	order   []*Client          // every client whose Events are still open, by age

	backoff       *backoff
	reconnecting  bool          // an attempt is waited for or under way
	skipReconnect bool          // the last client left: do not reconnect
	delay         time.Duration // the delay before the attempt under way
	lastErr       error         // the last failed attempt's error
	bufBytes      int           // bytes held in the clients' outboxes
	closed        bool          // Close was called (or, owned, the last client ended)
	joined        bool          // a client has joined: an owned manager ends with its last
}

// managerState is where the Engine.IO connection is.
type managerState uint8

const (
	stateIdle    managerState = iota // no connection, none under way
	stateOpening                     // a dial is in flight
	stateOpen                        // conn is open
	stateWaiting                     // the delay before an attempt runs
)

type dialResult struct {
	conn *eio.Client
	err  error
}

// NewManager returns a manager for the Socket.IO server at rawURL: http://,
// https://, ws:// or wss://, a host and optional port, and optional query
// parameters (sent on every request). The URL has no path: namespaces are
// given to [Manager.Connect], and the Engine.IO path is
// ClientOptions.EngineIO.Path ("/socket.io/"). opts may be nil.
//
// The manager connects nothing until a client does; close it with
// [Manager.Close].
func NewManager(rawURL string, opts *ClientOptions) (*Manager, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("sio: %w", err)
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("sio: manager URL %q has a path: give the namespace to Connect, the Engine.IO path in ClientOptions.EngineIO.Path", u.Redacted())
	}
	u.Path, u.RawPath = "", ""
	return newManager(u.String(), opts, false), nil
}

func newManager(base string, opts *ClientOptions, owned bool) *Manager {
	o := opts.withDefaults()
	m := &Manager{
		url:     base,
		owned:   owned,
		opts:    o,
		log:     o.Logger,
		wake:    make(chan struct{}, 1),
		dialed:  make(chan dialResult, 1),
		done:    make(chan struct{}),
		timer:   o.clock.newTimer(),
		clients: make(map[string]*Client),
		backoff: newBackoff(o.ReconnectionDelay, o.ReconnectionDelayMax, o.jitter, o.rand),
	}
	m.decoder.Limits.MaxBytes = int(min(o.eio.MaxPayload, 1<<40))
	logExit := func(name string, err error) {
		m.log.Error("sio: manager goroutine failed", "name", name, "err", err)
	}
	m.group = actor.NewGroup(logExit)
	m.io = actor.NewGroup(logExit)
	_ = m.group.Go("sio manager", m.run) // a fresh group cannot refuse
	m.group.Seal()
	return m
}

// Connect connects to the Socket.IO server at rawURL and joins the
// namespace its path names ("/" when it has none), with opts.Auth as the
// auth payload, over a manager of its own: rawURL is
// "http://host:port/namespace?query". It returns once the namespace has
// accepted the client, and the client's first event is then its
// ClientConnect.
//
// While the server cannot be reached Connect keeps trying, with the
// backoff of the reconnection, until ctx ends or the attempts are spent;
// with NoReconnection it fails at the first error. A refusal of the
// namespace is an error wrapping a [*ConnectError] (test with errors.As),
// whose Data is the refusal's data as a json.RawMessage. The manager ends
// with the client: use
// [Client.Manager] to join other namespaces over the same connection.
func Connect(ctx context.Context, rawURL string, opts *ClientOptions) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("sio: %w", err)
	}
	nsp := u.Path
	u.Path, u.RawPath = "", ""
	m := newManager(u.String(), opts, true)
	var auth any
	if opts != nil {
		auth = opts.Auth
	}
	c, err := m.Connect(ctx, nsp, auth)
	if err != nil {
		_ = m.Close(context.Background()) // nothing is left to flush
		return nil, err
	}
	return c, nil
}

// Connect joins namespace (for example "/chat"; "" is "/") with auth as
// the auth payload of its CONNECT packet: a value encoding/json writes as
// an object, or nil. It opens the manager's connection if it has none, and
// returns once the namespace has accepted the client; the client's first
// event is then its ClientConnect. See the package's [Connect] for the
// waiting and the errors; [ErrNamespaceInUse] if the manager has a client
// in namespace already, [ErrClientClosed] after Close.
func (m *Manager) Connect(ctx context.Context, namespace string, auth any) (*Client, error) {
	nsp := namespace
	if nsp == "" {
		nsp = "/"
	}
	if nsp[0] != '/' || strings.ContainsRune(nsp, ',') {
		return nil, fmt.Errorf("sio: namespace %q must start with / and have no comma", namespace)
	}
	authJSON, err := json.Marshal(auth)
	if err != nil {
		return nil, fmt.Errorf("sio: auth payload: %w", err)
	}
	if string(authJSON) == "null" {
		authJSON = nil
	} else if authJSON[0] != '{' {
		return nil, ErrBadAuth
	}
	c := newClient(m, nsp, authJSON)

	m.mu.Lock()
	switch {
	case m.closed:
		m.mu.Unlock()
		return nil, ErrClientClosed
	case m.clients[nsp] != nil:
		m.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrNamespaceInUse, nsp)
	}
	m.clients[nsp] = c
	m.order = append(m.order, c)
	m.joined = true
	switch m.state {
	case stateOpen:
		m.sendConnectLocked(c)
	case stateIdle:
		m.openLocked()
	}
	m.mu.Unlock()

	select {
	case err := <-c.accepted:
		if err != nil {
			return nil, err
		}
		return c, nil
	case <-ctx.Done():
	}
	m.mu.Lock()
	last := m.lastErr
	m.mu.Unlock()
	c.abandonConnect()
	// The namespace may have answered meanwhile: c.accepted says which.
	if err := <-c.accepted; err != nil && !errors.Is(err, ErrClientClosed) {
		return nil, err
	}
	if last != nil {
		return nil, fmt.Errorf("sio: connect %s: %w (last attempt: %v)", nsp, ctx.Err(), last)
	}
	return nil, fmt.Errorf("sio: connect %s: %w", nsp, ctx.Err())
}

// Close ends the manager: every client leaves its namespace (with a
// ClientDisconnect, [ClientReasonIOClientDisconnect], as its last event),
// what is queued on the connection is written, and the connection is
// closed. Close returns once every client's Events channel is closed and
// every goroutine of the manager has exited.
//
// If ctx ends first, the connection is cut at once, events that do not fit
// in the clients' Events buffers are dropped (the last disconnect is always
// delivered), and Close returns ctx.Err() once the goroutines have exited.
// Close is idempotent.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	if !m.closed {
		m.closeLocked(true)
	}
	m.mu.Unlock()
	select {
	case <-m.done:
		return nil
	case <-ctx.Done():
	}
	m.mu.Lock()
	for _, c := range m.order {
		c.abandoned = true
	}
	m.mu.Unlock()
	m.io.Stop()
	m.poke()
	<-m.done
	return ctx.Err()
}

// Done is closed once the manager has ended and every goroutine of it has
// exited.
func (m *Manager) Done() <-chan struct{} { return m.done }

// closeLocked ends every client and lets go of the connection: gracefully
// (what is queued is written, then the close packet) or not.
func (m *Manager) closeLocked(graceful bool) {
	m.closed = true
	m.skipReconnect = true
	m.stopReconnectLocked()
	for _, c := range m.activeLocked() {
		if c.state == clientConnected && graceful {
			_ = m.writeLocked(&outPacket{text: disconnectPacket(c.nsp)})
		}
		m.endClientLocked(c, ErrClientClosed, ClientReasonIOClientDisconnect, nil)
	}
	m.retireLocked(graceful)
	m.state = stateIdle
	m.poke()
}

// activeLocked returns the active clients in age order.
func (m *Manager) activeLocked() []*Client {
	var cs []*Client
	for _, c := range m.order {
		if m.clients[c.nsp] == c {
			cs = append(cs, c)
		}
	}
	return cs
}

// poke wakes the actor to look at the state again.
func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// run is the actor: it reads the connection, delivers the clients' events
// and runs the reconnection loop, until the manager is closed and every
// client's Events channel is closed.
func (m *Manager) run(ctx context.Context) error {
	defer m.finish()
	for {
		m.mu.Lock()
		m.finalizeLocked()
		var out chan<- ClientEvent
		var next ClientEvent
		var who *Client
		for _, c := range m.order {
			if len(c.queue) > 0 {
				out, next, who = c.events, c.queue[0], c
				break
			}
		}
		var in <-chan eio.Event
		conn := m.conn
		if who == nil && conn != nil {
			// A client whose application reads slowly holds the connection
			// back, rather than letting its queue grow.
			in = conn.Events()
		}
		if m.closed && len(m.order) == 0 {
			m.mu.Unlock()
			return nil
		}
		m.mu.Unlock()

		select {
		case ev, ok := <-in:
			m.onEngine(conn, ev, ok)
		case r := <-m.dialed:
			m.onDialed(r)
		case <-m.timer.C():
			m.onTimer()
		case <-m.wake:
		case out <- next:
			m.mu.Lock()
			if len(who.queue) > 0 {
				who.queue[0] = ClientEvent{}
				who.queue = who.queue[1:]
				if len(who.queue) == 0 {
					who.queue = nil
				}
			}
			m.mu.Unlock()
		case <-ctx.Done():
			// Only Close's give-up stops io; the actor's group is never
			// stopped. Still, do not spin.
			return nil
		}
	}
}

// finish runs when the actor returns: it waits for the dials and the
// connections being let go of, closes what a late dial opened, and closes
// done.
func (m *Manager) finish() {
	m.io.Seal()
	m.io.Wait()
	select {
	case r := <-m.dialed:
		if r.conn != nil {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_ = r.conn.Close(ctx)
		}
	default:
	}
	m.timer.stop()
	close(m.done)
}

// finalizeLocked closes the Events of the clients that have ended once
// their last event is delivered (at once when abandoned), and forgets them.
func (m *Manager) finalizeLocked() {
	kept := m.order[:0]
	for _, c := range m.order {
		if c.state == clientEnded && (len(c.queue) == 0 || c.abandoned) {
			c.finalize()
			continue
		}
		kept = append(kept, c)
	}
	clear(m.order[len(kept):])
	m.order = kept
	if m.owned && m.joined && !m.closed && len(m.clients) == 0 && len(m.order) == 0 {
		m.closeLocked(true)
	}
}

// openLocked starts a dial of the Engine.IO connection.
func (m *Manager) openLocked() {
	m.state = stateOpening
	m.skipReconnect = false
	if m.dialing {
		return // a cancelled dial: onDialed starts a fresh one
	}
	dctx, cancel := context.WithTimeout(context.Background(), m.opts.Timeout)
	err := m.io.Go("dial", func(ioctx context.Context) error {
		defer cancel()
		stop := context.AfterFunc(ioctx, cancel)
		defer stop()
		conn, err := eio.Dial(dctx, m.url, &m.opts.eio)
		m.dialed <- dialResult{conn, err} // one dial at a time: never blocks
		return nil
	})
	if err != nil {
		cancel()
		m.state = stateIdle // the manager is closing
		return
	}
	m.dialing, m.dialStale, m.cancelDial = true, false, cancel
}

// onDialed handles the end of a dial.
func (m *Manager) onDialed(r dialResult) {
	m.mu.Lock()
	defer m.mu.Unlock()
	stale := m.dialStale
	m.dialing, m.dialStale, m.cancelDial = false, false, nil
	if stale && r.conn != nil {
		m.letGo(r.conn, true)
	}
	if stale && m.state == stateOpening && !m.closed {
		// A client came while the cancelled dial ran out.
		m.openLocked()
		return
	}
	if stale {
		return
	}
	if m.state != stateOpening || m.closed || len(m.clients) == 0 {
		// Nobody wants the connection any more.
		if m.state == stateOpening {
			m.state = stateIdle
		}
		if r.conn != nil {
			m.letGo(r.conn, true)
		}
		return
	}
	if r.err != nil {
		m.log.Debug("sio: connection attempt failed", "err", r.err)
		m.state = stateIdle
		m.lastErr = r.err
		if m.reconnecting {
			m.reconnecting = false
			m.emitAllLocked(ClientEvent{Type: ClientReconnectError, Attempt: m.backoff.attempts, Err: r.err})
			m.reconnectLocked()
			return
		}
		if !m.opts.NoReconnection && m.backoff.attempts == 0 {
			m.reconnectLocked()
			return
		}
		for _, c := range m.activeLocked() {
			m.endClientLocked(c, r.err, 0, r.err)
		}
		return
	}
	m.conn = r.conn
	m.gen++
	m.decoder.Reset()
	m.state = stateOpen
	m.lastErr = nil
	if m.reconnecting {
		m.reconnecting = false
		m.emitAllLocked(ClientEvent{Type: ClientReconnect, Attempt: m.backoff.attempts})
		m.backoff.reset()
	}
	for _, c := range m.activeLocked() {
		m.sendConnectLocked(c)
	}
}

// onTimer starts the attempt the delay was for, or retries a flush.
func (m *Manager) onTimer() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == stateOpen && m.flushPending {
		m.flushPending = false
		for _, c := range m.activeLocked() {
			if c.state == clientConnected {
				m.flushLocked(c)
			}
		}
		return
	}
	if m.state != stateWaiting || m.closed {
		return
	}
	m.emitAllLocked(ClientEvent{Type: ClientReconnectAttempt, Attempt: m.backoff.attempts, Delay: m.delay})
	m.openLocked()
}

// reconnectLocked waits the next delay before an attempt, or gives up.
func (m *Manager) reconnectLocked() {
	if m.reconnecting || m.skipReconnect || m.closed || len(m.clients) == 0 {
		return
	}
	if n := m.opts.ReconnectionAttempts; n > 0 && m.backoff.attempts >= n {
		m.log.Info("sio: reconnection attempts spent", "attempts", n)
		attempts := m.backoff.attempts
		m.backoff.reset()
		for _, c := range m.activeLocked() {
			c.push(ClientEvent{Type: ClientReconnectFailed, Attempt: attempts, Err: m.lastErr})
			m.endClientLocked(c, ErrReconnectFailed, 0, m.lastErr)
		}
		return
	}
	m.delay = m.backoff.duration()
	m.reconnecting = true
	m.state = stateWaiting
	m.timer.reset(m.delay)
	m.log.Debug("sio: reconnecting", "delay", m.delay, "attempt", m.backoff.attempts)
}

// stopReconnectLocked cancels a pending attempt.
func (m *Manager) stopReconnectLocked() {
	if m.state == stateWaiting {
		m.timer.stop()
		m.state = stateIdle
	}
	m.reconnecting = false
}

// emitAllLocked gives a manager event (an attempt, its failure, a
// reconnection) to every active client. A client whose application has
// stopped reading gets at most maxQueuedManagerEvents of them queued: the
// attempts go on while nobody reads, and would pile up.
func (m *Manager) emitAllLocked(ev ClientEvent) {
	for _, c := range m.activeLocked() {
		if len(c.queue) >= maxQueuedManagerEvents {
			m.log.Debug("sio: manager event dropped: the client's events are not read", "nsp", c.nsp, "event", ev.Type)
			continue
		}
		c.push(ev)
	}
}

// maxQueuedManagerEvents bounds the manager's events waiting for a client
// whose Events channel is full.
const maxQueuedManagerEvents = 64

// onEngine handles an event of the connection conn.
func (m *Manager) onEngine(conn *eio.Client, ev eio.Event, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if conn != m.conn {
		return // let go of meanwhile; letGo drains it
	}
	if !ok {
		m.onCloseLocked(ClientReasonTransportClose, nil)
		return
	}
	switch ev.Type {
	case eio.EventMessage:
		p, complete, err := m.decoder.Add(ev.Data, ev.Binary)
		if err != nil {
			m.log.Info("sio: parse error; closing the connection", "err", err)
			m.retireLocked(false)
			m.onCloseLocked(ClientReasonParseError, err)
			return
		}
		if complete {
			m.onPacketLocked(&p)
		}
	case eio.EventDisconnect:
		m.conn = nil
		m.onCloseLocked(clientReasonFor(ev.Reason), ev.Err)
	}
}

// onCloseLocked handles the end of the connection: every client is
// disconnected, and the manager reconnects unless it should not.
func (m *Manager) onCloseLocked(r ClientReason, err error) {
	m.conn = nil
	m.state = stateIdle
	m.flushPending = false
	m.backoff.reset()
	for _, c := range m.activeLocked() {
		c.onConnectionLostLocked(r, err)
	}
	if !m.opts.NoReconnection && !m.skipReconnect {
		m.reconnectLocked()
		return
	}
	for _, c := range m.activeLocked() {
		m.endClientLocked(c, fmt.Errorf("sio: connection lost (%s) and reconnection is off", r), 0, nil)
	}
}

// retireLocked lets go of the connection, if any, or of the dial under
// way.
func (m *Manager) retireLocked(graceful bool) {
	if m.dialing && !m.dialStale {
		m.cancelDial() // onDialed lets go of what it may still open
		m.dialStale = true
	}
	if m.conn != nil {
		m.letGo(m.conn, graceful)
		m.conn = nil
	}
	if m.state == stateOpen {
		m.state = stateIdle
	}
}

// letGo closes conn on the io group: gracefully (what is queued, then the
// close packet, within Timeout) or at once, while its events are read and
// dropped.
func (m *Manager) letGo(conn *eio.Client, graceful bool) {
	timeout := time.Duration(0) // an ended ctx: Close cuts at once
	if graceful {
		timeout = m.opts.Timeout
	}
	closeIt := func(ioctx context.Context) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		stop := context.AfterFunc(ioctx, cancel) // Manager.Close gave up: cut
		defer stop()
		_ = conn.Close(ctx)
		return nil
	}
	drain := func(context.Context) error {
		for range conn.Events() {
		}
		return nil
	}
	if m.io.Go("drain", drain) == nil && m.io.Go("close", closeIt) == nil {
		return
	}
	// The manager's io goroutines are over: cut it here. A cut does not
	// wait for room in Events, so nothing needs to read them.
	timeout = 0
	_ = closeIt(context.Background())
}

// onPacketLocked routes a packet to its namespace's client.
func (m *Manager) onPacketLocked(p *wire.Packet) {
	c := m.clients[p.Namespace]
	if c == nil {
		m.log.Debug("sio: packet for a namespace without a client", "nsp", p.Namespace, "type", p.Type)
		return
	}
	switch p.Type {
	case wire.Connect:
		var body struct {
			SID string `json:"sid"`
			PID string `json:"pid"`
		}
		if len(p.Data) == 0 || json.Unmarshal(p.Data, &body) != nil || body.SID == "" {
			err := refusal(c.nsp, &ConnectError{Message: "no sid in the CONNECT answer: is the server Socket.IO 2? (this client speaks protocol 5, Socket.IO 3 and 4)"})
			c.push(ClientEvent{Type: ClientConnectError, Err: err})
			m.endClientLocked(c, err, 0, nil)
			return
		}
		m.onConnectLocked(c, body.SID, body.PID)
	case wire.ConnectError:
		err := refusal(c.nsp, parseConnectError(p.Data))
		c.push(ClientEvent{Type: ClientConnectError, Err: err})
		m.endClientLocked(c, err, 0, nil)
	case wire.Disconnect:
		m.endClientLocked(c, fmt.Errorf("%w: the server disconnected it from %s", ErrClientClosed, c.nsp), ClientReasonIOServerDisconnect, nil)
	case wire.Event:
		name, args, err := wire.EventArgs(p)
		if err != nil {
			return // the decoder has checked the shape already
		}
		ev := ClientEvent{Type: ClientMessage, Name: name, Args: args}
		if p.HasID {
			ev.ack = &serverAck{c: c, id: p.ID, gen: m.gen}
		}
		if c.state != clientConnected {
			// python-socketio emits from its connect handler before it
			// sends CONNECT: hold the events for after the ClientConnect,
			// as the reference's receiveBuffer does.
			if len(c.early) < maxEarlyEvents {
				c.early = append(c.early, ev)
			} else {
				m.log.Warn("sio: event before the namespace's CONNECT dropped: too many", "nsp", c.nsp)
			}
			return
		}
		c.onEventLocked(ev)
	case wire.Ack:
		if p.HasID {
			c.onAckLocked(p.ID, wire.AckArgs(p))
		}
	}
}

// onConnectLocked handles the namespace's acceptance: the client is
// connected, and what it buffered is sent, in order.
func (m *Manager) onConnectLocked(c *Client, sid, pid string) {
	recovered := pid != "" && pid == c.pid
	c.pid = pid
	if !recovered {
		c.offset = ""
	}
	c.sid = sid
	c.state = clientConnected
	if !c.returned {
		c.returned = true
		c.accepted <- nil
	}
	c.push(ClientEvent{Type: ClientConnect, SID: sid, Recovered: recovered})
	for i, ev := range c.early {
		c.onEventLocked(ev)
		c.early[i] = ClientEvent{}
	}
	c.early = nil
	// After the event: if the flush breaks the connection, the
	// disconnect follows the connect.
	m.flushLocked(c)
}

// sendConnectLocked sends the namespace's CONNECT packet, with the auth
// payload and, after a disconnection, the session to recover.
func (m *Manager) sendConnectLocked(c *Client) {
	c.state = clientConnecting
	p := wire.Packet{Type: wire.Connect, Namespace: c.nsp, Data: c.connectPayload()}
	text, err := wire.Append(nil, &p)
	if err != nil {
		// The namespace and the payload were checked by Connect.
		m.log.Error("sio: cannot encode CONNECT", "err", err)
		return
	}
	_ = m.writeLocked(&outPacket{text: text})
}

// endClientLocked ends client c: it leaves the manager, its acks fail with
// err, its buffered packets are dropped, and, if it had connected, its
// last events are a ClientDisconnect (when reason is set) and any event
// pushed before. The manager lets go of the connection when no client is
// left.
func (m *Manager) endClientLocked(c *Client, err error, reason ClientReason, cause error) {
	if c.state == clientEnded {
		return
	}
	wasConnected := c.state == clientConnected
	c.state = clientEnded
	c.err = err
	c.sid = ""
	if m.clients[c.nsp] == c {
		delete(m.clients, c.nsp)
	}
	c.failAcksLocked(err, true)
	c.dropOutboxLocked()
	c.early = nil
	if reason != 0 && wasConnected {
		c.push(ClientEvent{Type: ClientDisconnect, Reason: reason, Err: cause})
	}
	if !c.returned {
		c.returned = true
		c.abandoned = true // nobody holds it: nothing to deliver
		c.accepted <- err
	}
	if len(m.clients) == 0 {
		// As the reference does when its last socket leaves: no
		// reconnection, and the connection is closed.
		m.skipReconnect = true
		m.stopReconnectLocked()
		m.retireLocked(true)
		m.state = stateIdle
	}
	m.poke()
}
