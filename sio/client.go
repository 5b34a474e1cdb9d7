package sio

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/sio/wire"
)

// Client is a Socket.IO client in one namespace of a server, the reference
// client's Socket: it emits events (with acks when asked), receives the
// server's on [Client.Events], and follows its [Manager] through
// disconnections and reconnections. Get one from [Connect] or
// [Manager.Connect].
//
// Its methods are safe from any goroutine, and none waits on the network:
// while the client is connected an emit is queued on the Engine.IO
// connection; while it is disconnected it is buffered (bounded by
// ClientOptions.MaxBufferBytes) and sent after the reconnection, in order.
//
// Locking: every client of a manager is guarded by the manager's one mutex,
// which is never held while application code runs or while anything waits.
type Client struct {
	m      *Manager
	nsp    string
	auth   json.RawMessage // the auth payload, a JSON object or nil
	events chan ClientEvent
	done   chan struct{}
	// accepted gets one value: nil when the namespace first accepts the
	// client, or why it never will.
	accepted chan error

	// Guarded by m.mu.
	state     clientState
	returned  bool // accepted has its value: the application holds the client
	abandoned bool // nobody reads Events any more: finalize at once
	err       error
	sid       string
	pid       string // the session to recover, from the server's CONNECT
	offset    string // the offset of the last event, for recovery
	nextID    uint64
	acks      map[uint64]*ackWait
	outbox    []*outPacket // buffered, and with Reliable unacknowledged, in order
	live      int          // entries of outbox not done
	unsent    int          // entries of outbox waiting to be written
	queue     []ClientEvent
	early     []ClientEvent // events that came before the namespace's CONNECT

	queuedHook func() // tests: called when an event waits behind a full Events
}

type clientState uint8

const (
	clientConnecting   clientState = iota // CONNECT sent (or to be sent), no answer yet
	clientConnected                       // the namespace accepted
	clientDisconnected                    // the connection dropped; waiting for a new one
	clientEnded                           // for good
)

// outPacket is a packet that waits for a connection or, with Reliable, for
// its ack.
type outPacket struct {
	text []byte
	atts [][]byte
	size int
	sent bool     // written on the current connection
	done bool     // acknowledged or dropped: no longer held
	ack  *ackWait // its ack, when it asked for one
}

// ackWait is an ack the client asked the server for.
type ackWait struct {
	id  uint64
	pkt *outPacket           // the packet, while it is held (nil after an unheld write)
	ch  chan clientAckResult // the waiting EmitWithAck; nil if nobody waits
	gen uint64               // the connection the packet was written on; 0: not written
}

type clientAckResult struct {
	args Args
	err  error
}

// itemOverhead is what a queued Engine.IO message costs beyond its bytes,
// as eio counts it.
const itemOverhead = 64

func newClient(m *Manager, nsp string, auth json.RawMessage) *Client {
	return &Client{
		m:        m,
		nsp:      nsp,
		auth:     auth,
		events:   make(chan ClientEvent, m.opts.EventBuffer),
		done:     make(chan struct{}),
		accepted: make(chan error, 1),
		acks:     make(map[uint64]*ackWait),
	}
}

// Events returns the channel of the client's events: its ClientConnect
// first (already queued when Connect returns), the server's events, and
// the disconnections, reconnection attempts and reconnections that follow,
// until the client ends; its last events say why, and the channel is then
// closed.
//
// Read it without pause: while an event waits for room in it, the manager
// stops reading the connection, for every namespace.
func (c *Client) Events() <-chan ClientEvent { return c.events }

// Namespace returns the client's namespace, for example "/chat".
func (c *Client) Namespace() string { return c.nsp }

// Manager returns the client's manager, to join other namespaces over the
// same connection.
func (c *Client) Manager() *Manager { return c.m }

// SID returns the client's Socket.IO id in its namespace while it is
// connected, and "" while it is not.
func (c *Client) SID() string {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	return c.sid
}

// Connected reports whether the namespace has accepted the client on the
// current connection.
func (c *Client) Connected() bool {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	return c.state == clientConnected
}

// Buffered returns the bytes the client holds for the connection, as
// MaxBufferBytes counts them: packets emitted while disconnected (or while
// the connection's queue was full), not yet written, and with Reliable the
// packets written and not yet acknowledged. It is the reference's
// socket.sendBuffer, in bytes.
func (c *Client) Buffered() int {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	n := 0
	for _, op := range c.outbox {
		if !op.done {
			n += op.size
		}
	}
	return n
}

// Done is closed once the client has ended and its Events channel is
// closed.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the client ended: [ErrClientClosed] (wrapped, for a
// server disconnect) after Close or a server disconnect, a [*ConnectError]
// when the namespace refused, [ErrReconnectFailed] when the manager gave
// up. It is nil until Done is closed.
func (c *Client) Err() error {
	select {
	case <-c.done:
	default:
		return nil
	}
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	return c.err
}

// Emit emits the event name with args to the server. Each argument is
// written as encoding/json writes it, except a []byte, at the top level or
// inside a []any or map[string]any, which travels as a binary attachment
// (see [wire.AppendArgs]); the client keeps the []byte until it is sent,
// so do not change it.
//
// Emit never waits on the network. While the client is disconnected the
// packet is buffered and sent after the reconnection, in order; past
// MaxBufferBytes Emit fails with [ErrBufferFull]. It fails with
// [ErrClientClosed] once the client has ended, with
// [eio.ErrPayloadTooLarge] for a packet over the server's maxPayload, and
// with a [*wire.ArgError] for an argument it cannot encode or a reserved
// event name ("connect", "disconnect", ...).
func (c *Client) Emit(name string, args ...any) error {
	_, err := c.emit(name, args, false)
	return err
}

// EmitVolatile emits as Emit does, except that the packet is dropped
// (silently, and EmitVolatile returns nil) when it cannot be written now:
// the client is disconnected, or the connection's queue is full. It is the
// reference's socket.volatile.emit.
func (c *Client) EmitVolatile(name string, args ...any) error {
	data, atts, err := wire.AppendEvent(nil, nil, name, args...)
	if err != nil {
		return err
	}
	text, err := wire.Append(nil, &wire.Packet{Type: wire.Event, Namespace: c.nsp, Data: data, Attachments: atts})
	if err != nil {
		return err
	}
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case c.state == clientEnded:
		return ErrClientClosed
	case c.state != clientConnected || c.unsent > 0:
		return nil // dropped: it would wait
	}
	if err := m.writeLocked(&outPacket{text: text, atts: atts}); errors.Is(err, eio.ErrPayloadTooLarge) {
		return err
	}
	return nil
}

// EmitWithAck emits as Emit does, asking the server for an ack, and waits
// for the answer's arguments. It returns ctx's error when ctx ends first
// (the reference's ack timeout is a ctx deadline), [ErrDisconnected] when
// the connection drops after the packet was sent and before the answer
// (without Reliable; with it, the packet is sent again after the
// reconnection), [ErrClientClosed] if the client ends meanwhile, and the
// errors of Emit. A packet still buffered when ctx ends is not sent
// (unless Reliable).
func (c *Client) EmitWithAck(ctx context.Context, name string, args ...any) (Args, error) {
	w, err := c.emit(name, args, true)
	if err != nil {
		return Args{}, err
	}
	select {
	case r := <-w.ch:
		return r.args, r.err
	case <-ctx.Done():
	}
	m := c.m
	m.mu.Lock()
	select {
	case r := <-w.ch:
		m.mu.Unlock()
		return r.args, r.err
	default:
	}
	w.ch = nil
	if !m.opts.Reliable {
		if c.acks[w.id] == w {
			delete(c.acks, w.id)
		}
		if p := w.pkt; p != nil && !p.sent && !p.done {
			c.releaseLocked(p)
		}
	}
	m.mu.Unlock()
	return Args{}, ctx.Err()
}

// emit encodes and sends (or buffers) an event; with ack it registers a
// waiter for the answer.
func (c *Client) emit(name string, args []any, ack bool) (*ackWait, error) {
	data, atts, err := wire.AppendEvent(nil, nil, name, args...)
	if err != nil {
		return nil, err
	}
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if c.state == clientEnded {
		return nil, ErrClientClosed
	}
	p := &wire.Packet{Type: wire.Event, Namespace: c.nsp, Data: data, Attachments: atts}
	withID := ack || m.opts.Reliable
	if withID {
		p.ID, p.HasID = c.nextID, true
	}
	text, err := wire.Append(nil, p)
	if err != nil {
		return nil, err
	}
	op := &outPacket{text: text, atts: atts, size: packetSize(text, atts)}
	var w *ackWait
	if withID {
		w = &ackWait{id: p.ID}
		if ack {
			w.ch = make(chan clientAckResult, 1)
		}
	}
	if err := m.sendLocked(c, op, w); err != nil {
		return nil, err
	}
	if withID {
		c.nextID++
		c.acks[w.id] = w
	}
	return w, nil
}

// packetSize is what a packet counts against MaxBufferBytes.
func packetSize(text []byte, atts [][]byte) int {
	n := len(text) + itemOverhead
	for _, a := range atts {
		n += len(a) + itemOverhead
	}
	return n
}

// sendLocked writes op now if the client is connected and nothing it
// buffered waits before it, and buffers it otherwise. With Reliable, or
// when op could not be written, the outbox keeps it (within
// MaxBufferBytes). w, if not nil, is op's ack, told where op is.
func (m *Manager) sendLocked(c *Client, op *outPacket, w *ackWait) error {
	hold := m.opts.Reliable
	if c.state == clientConnected && c.unsent == 0 {
		if hold && m.bufBytes+op.size > m.opts.MaxBufferBytes {
			return ErrBufferFull
		}
		err := m.writeLocked(op)
		switch {
		case err == nil:
			op.sent = true
			if w != nil {
				w.gen = m.gen
			}
			if hold {
				m.holdLocked(c, op)
				if w != nil {
					w.pkt, op.ack = op, w
				}
			}
			return nil
		case errors.Is(err, eio.ErrPayloadTooLarge):
			return err
		}
		// Not written: the connection's queue is full, or it has just
		// ended. Buffer it, and keep the order.
	}
	if m.bufBytes+op.size > m.opts.MaxBufferBytes {
		return ErrBufferFull
	}
	m.holdLocked(c, op)
	c.unsent++
	if w != nil {
		w.pkt, op.ack = op, w
	}
	if c.state == clientConnected {
		m.retryFlushLocked()
	}
	return nil
}

// holdLocked appends op to c's outbox.
func (m *Manager) holdLocked(c *Client, op *outPacket) {
	c.outbox = append(c.outbox, op)
	c.live++
	m.bufBytes += op.size
}

// releaseLocked drops op from the outbox: acknowledged, or given up.
func (c *Client) releaseLocked(op *outPacket) {
	if op.done {
		return
	}
	op.done = true
	if !op.sent {
		c.unsent--
	}
	c.live--
	c.m.bufBytes -= op.size
	// Forget the done entries at the front, and compact when most are.
	i := 0
	for i < len(c.outbox) && c.outbox[i].done {
		c.outbox[i] = nil
		i++
	}
	c.outbox = c.outbox[i:]
	if len(c.outbox) > 32 && 2*c.live < len(c.outbox) {
		kept := c.outbox[:0]
		for _, p := range c.outbox {
			if !p.done {
				kept = append(kept, p)
			}
		}
		clear(c.outbox[len(kept):])
		c.outbox = kept
	}
	if len(c.outbox) == 0 {
		c.outbox = nil
	}
}

// errNoConnection: there is no connection to write on.
var errNoConnection = errors.New("sio: not connected")

// writeLocked queues op on the connection: its text and its attachments,
// as one unit (eio's SendPackets), so that nothing comes between them and
// a full queue leaves none of them half-written.
func (m *Manager) writeLocked(op *outPacket) error {
	if m.conn == nil {
		return errNoConnection
	}
	if len(op.atts) == 0 {
		return m.conn.Send(op.text)
	}
	ps := make([]codec.Packet, 0, 1+len(op.atts))
	ps = append(ps, codec.Packet{Type: codec.Message, Data: op.text})
	for _, a := range op.atts {
		ps = append(ps, codec.Packet{Type: codec.Message, Data: a, Binary: true})
	}
	return m.conn.SendPackets(ps...)
}

// flushLocked writes what c buffered, in order, while it can.
func (m *Manager) flushLocked(c *Client) {
	if c.unsent == 0 {
		return
	}
	gen := m.gen
	// A copy: releasing an entry compacts the outbox.
	for _, op := range slices.Clone(c.outbox) {
		if op.done || op.sent {
			continue
		}
		err := m.writeLocked(op)
		if errors.Is(err, eio.ErrPayloadTooLarge) {
			// It can never be sent to this server.
			c.failAckOfLocked(op, err)
			c.releaseLocked(op)
			continue
		}
		if err != nil {
			m.retryFlushLocked()
			return
		}
		op.sent = true
		c.unsent--
		if op.ack != nil {
			op.ack.gen = gen
		}
		if !m.opts.Reliable {
			if op.ack != nil {
				op.ack.pkt, op.ack = nil, nil
			}
			c.releaseLocked(op)
		}
	}
}

// retryFlushLocked arranges for the buffered packets to be tried again
// soon: the connection's queue was full.
func (m *Manager) retryFlushLocked() {
	if m.state == stateOpen && !m.flushPending {
		m.flushPending = true
		m.timer.reset(flushRetryDelay)
	}
}

// flushRetryDelay is how soon a flush stopped by a full queue is retried.
const flushRetryDelay = 10 * time.Millisecond

// failAckOfLocked fails the ack waiting on op, if any.
func (c *Client) failAckOfLocked(op *outPacket, err error) {
	w := op.ack
	if w == nil || c.acks[w.id] != w {
		return
	}
	delete(c.acks, w.id)
	if w.ch != nil {
		w.ch <- clientAckResult{err: err}
	}
}

// onAckLocked delivers the server's answer to ack id.
func (c *Client) onAckLocked(id uint64, args Args) {
	w := c.acks[id]
	if w == nil {
		c.m.log.Debug("sio: ack for an unknown id", "nsp", c.nsp, "id", id)
		return
	}
	delete(c.acks, id)
	if w.pkt != nil {
		c.releaseLocked(w.pkt)
	}
	if w.ch != nil {
		w.ch <- clientAckResult{args: args}
	}
}

// failAcksLocked fails the acks: all of them, or (connection lost) those
// whose packets were written on it and so will not be sent again.
func (c *Client) failAcksLocked(err error, all bool) {
	for id, w := range c.acks {
		if !all && (w.gen == 0 || w.pkt != nil && !w.pkt.done) {
			continue // still buffered, or held for a resend
		}
		delete(c.acks, id)
		if w.ch != nil {
			w.ch <- clientAckResult{err: err}
		}
	}
}

// dropOutboxLocked drops what c holds: the client has ended.
func (c *Client) dropOutboxLocked() {
	for _, op := range c.outbox {
		if !op.done {
			op.done = true
			c.m.bufBytes -= op.size
		}
	}
	c.outbox, c.live, c.unsent = nil, 0, 0
}

// onConnectionLostLocked is the client's part of the connection's end.
func (c *Client) onConnectionLostLocked(r ClientReason, err error) {
	wasConnected := c.state == clientConnected
	c.state = clientDisconnected
	c.sid = ""
	if c.m.opts.Reliable {
		for _, op := range c.outbox {
			if !op.done && op.sent {
				op.sent = false
				c.unsent++
			}
		}
		for _, w := range c.acks {
			w.gen = 0
		}
	} else {
		c.failAcksLocked(ErrDisconnected, false)
	}
	for _, w := range c.acks {
		w.gen = 0
	}
	if wasConnected {
		c.push(ClientEvent{Type: ClientDisconnect, Reason: r, Err: err})
	}
}

// maxEarlyEvents bounds the events held before a namespace's CONNECT.
const maxEarlyEvents = 1024

// onEventLocked delivers an event of the server, and notes its offset for
// connection state recovery: the last argument, when the server offers
// recovery and it is a string, as the reference client does.
func (c *Client) onEventLocked(ev ClientEvent) {
	if c.pid != "" {
		if n := ev.Args.Len(); n > 0 {
			var off string
			if raw := ev.Args.Raw(n - 1); len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &off) == nil {
				c.offset = off
			}
		}
	}
	c.push(ev)
}

// answer sends the client's answer to the server's ack a.
func (c *Client) answer(a *serverAck, args []any) error {
	data, atts, err := wire.AppendArgs(nil, nil, args...)
	if err != nil {
		return err
	}
	text, err := wire.Append(nil, &wire.Packet{Type: wire.Ack, Namespace: c.nsp, ID: a.id, HasID: true, Data: data, Attachments: atts})
	if err != nil {
		return err
	}
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case c.state == clientEnded:
		return ErrClientClosed
	case c.state != clientConnected || m.gen != a.gen:
		return ErrDisconnected
	}
	if err := m.writeLocked(&outPacket{text: text, atts: atts}); err != nil {
		if errors.Is(err, errNoConnection) {
			return ErrDisconnected
		}
		return err
	}
	return nil
}

// Close leaves the namespace: a DISCONNECT packet is sent (if the client
// is connected), the client's last event is a ClientDisconnect
// ([ClientReasonIOClientDisconnect]), what it buffered is dropped, and its
// pending acks fail with [ErrClientClosed]. When it was the manager's last
// client the connection is closed; a manager made by [Connect] ends with
// it. Close returns once the Events channel is closed (and, for a manager
// made by Connect, once its goroutines have exited).
//
// Close waits for room in Events for the last event: if ctx ends first,
// the events that do not fit in its buffer are dropped (the last is always
// delivered, older ones making room for it), and Close returns ctx.Err().
// So a goroutine that reads Events may call Close itself, with a ctx that
// ends. Close is idempotent.
func (c *Client) Close(ctx context.Context) error {
	m := c.m
	m.mu.Lock()
	if c.state == clientConnected {
		_ = m.writeLocked(&outPacket{text: disconnectPacket(c.nsp)})
	}
	m.endClientLocked(c, ErrClientClosed, ClientReasonIOClientDisconnect, nil)
	m.mu.Unlock()
	var err error
	select {
	case <-c.done:
	case <-ctx.Done():
		err = ctx.Err()
		m.mu.Lock()
		c.abandoned = true
		m.mu.Unlock()
		m.poke()
		<-c.done
	}
	if m.owned {
		if e := m.Close(ctx); err == nil {
			err = e
		}
	}
	return err
}

// abandonConnect ends a client whose Connect gave up.
func (c *Client) abandonConnect() {
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if c.state == clientConnected {
		_ = m.writeLocked(&outPacket{text: disconnectPacket(c.nsp)})
	}
	c.abandoned = true
	m.endClientLocked(c, ErrClientClosed, 0, nil)
}

// push queues ev for the application, in order. Events of a client the
// application does not hold (yet, or any more) are dropped.
func (c *Client) push(ev ClientEvent) {
	if !c.returned || c.abandoned {
		return
	}
	if len(c.queue) == 0 {
		select {
		case c.events <- ev:
			return
		default:
		}
	}
	c.queue = append(c.queue, ev)
	if c.queuedHook != nil {
		c.queuedHook()
	}
}

// finalize closes the client's Events and Done: it has ended, and its
// events are delivered, or nobody reads them any more. The last queued
// event is still delivered if it can be, making room if it must. Only the
// manager's actor calls it (the only goroutine that sends on events
// outside the lock).
func (c *Client) finalize() {
	if n := len(c.queue); n > 0 {
		last := c.queue[n-1]
		select {
		case c.events <- last:
		default:
			select {
			case <-c.events:
			default:
			}
			select {
			case c.events <- last:
			default:
			}
		}
		clear(c.queue)
		c.queue = nil
	}
	close(c.events)
	close(c.done)
}

// connectPayload is the CONNECT packet's payload: the auth payload, and
// after a disconnection the session to recover (pid and offset), as the
// reference client merges them.
func (c *Client) connectPayload() json.RawMessage {
	if c.pid == "" {
		return c.auth
	}
	b := []byte(`{"pid":`)
	b = appendJSONString(b, c.pid)
	if c.offset != "" {
		b = append(b, `,"offset":`...)
		b = appendJSONString(b, c.offset)
	}
	if len(c.auth) > 2 { // not "{}"
		return append(append(b, ','), c.auth[1:]...)
	}
	return append(b, '}')
}

// disconnectPacket is the DISCONNECT packet of namespace nsp.
func disconnectPacket(nsp string) []byte {
	text, _ := wire.Append(nil, &wire.Packet{Type: wire.Disconnect, Namespace: nsp})
	return text
}
