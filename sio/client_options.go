package sio

import (
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/chanio/chanio/eio"
)

// ClientOptions configures a [Manager] and the [Client]s it connects. A nil
// *ClientOptions, and every zero field, means the documented default,
// which is the reference client's (socket.io-client 4.x) where it has one.
type ClientOptions struct {
	// EngineIO configures the Engine.IO connection under the manager:
	// transports, headers, query, TLS, HTTP client, timeouts. Nil means
	// eio's defaults. Its Path, when empty, is "/socket.io/" (the
	// Socket.IO servers' default), not eio's "/engine.io/". Its
	// MaxQueueBytes, when zero, is MaxBufferBytes plus 1 MiB, so that
	// what was buffered while disconnected fits in one go after a
	// reconnection. Its MaxPayload also bounds one Socket.IO packet with
	// all its attachments.
	EngineIO *eio.ClientOptions

	// Auth is the auth payload [Connect] sends with the namespace's
	// CONNECT packet: a value that encoding/json writes as an object (a
	// map, a struct), or nil for none. [Manager.Connect] takes its own.
	Auth any

	// NoReconnection turns reconnection off: once the connection drops,
	// or the first attempt to connect fails, every client of the manager
	// ends. The zero value reconnects, as the reference does.
	NoReconnection bool
	// ReconnectionAttempts bounds the attempts in a row after the
	// connection dropped; when they are spent the clients get a
	// [ClientReconnectFailed] event and end with [ErrReconnectFailed].
	// Zero means no bound (the reference's Infinity).
	ReconnectionAttempts int
	// ReconnectionDelay is the delay before the first attempt; it doubles
	// with each failed attempt. Delays are whole milliseconds, as in the
	// reference. Zero means 1s.
	ReconnectionDelay time.Duration
	// ReconnectionDelayMax caps the delay. Zero means 5s.
	ReconnectionDelayMax time.Duration
	// RandomizationFactor is the jitter: each delay moves at random by up
	// to this fraction of itself, up or down, before the cap. Zero means
	// 0.5; a negative value means no jitter; above 1 means none too, as
	// in the reference.
	RandomizationFactor float64
	// Timeout bounds each attempt to open the Engine.IO connection (the
	// reference's timeout). Zero means 20s.
	Timeout time.Duration

	// MaxBufferBytes bounds what a manager holds for a connection: the
	// packets emitted while disconnected, across its clients, until they
	// are sent after the reconnection (and, with Reliable, the packets
	// sent and not yet acknowledged). Past it Emit fails with
	// [ErrBufferFull]. A packet counts its bytes on the wire plus 64 per
	// Engine.IO message, as eio's queue does. Zero means 1 MiB.
	MaxBufferBytes int

	// Reliable makes every [Client.Emit] ask the server for an ack and
	// keep the packet until the ack arrives: packets in flight when the
	// connection drops are sent again after the reconnection, before
	// those emitted while disconnected, in order. This is at-least-once
	// delivery, as the reference's retries option gives: the server must
	// answer every event's ack (python-socketio does by itself; a Node
	// handler must call its callback), and an event the server handled
	// just before a crash, whose ack was lost with it, comes again.
	// Volatile emits are not affected.
	Reliable bool

	// EventBuffer is the capacity of each client's Events channel. Zero
	// means 1024.
	EventBuffer int

	// Logger receives the manager's logs. Nil discards them.
	Logger *slog.Logger

	// Test hooks: the random source of the jitter and the clock of the
	// reconnection delays. Nil means math/rand/v2 and the real clock.
	rand  func() float64
	clock clock
}

// clientOptions is ClientOptions resolved: every default applied once.
type clientOptions struct {
	ClientOptions
	eio    eio.ClientOptions
	jitter float64
}

const (
	defaultReconnectionDelay    = time.Second
	defaultReconnectionDelayMax = 5 * time.Second
	defaultRandomization        = 0.5
	defaultConnectTimeout       = 20 * time.Second
	defaultMaxBufferBytes       = 1 << 20
	defaultClientEventBuffer    = 1024
	defaultClientMaxPayload     = 64 << 20 // eio's default ClientOptions.MaxPayload
	defaultSocketIOPath         = "/socket.io/"
)

func (o *ClientOptions) withDefaults() clientOptions {
	var r clientOptions
	if o != nil {
		r.ClientOptions = *o
	}
	if r.ReconnectionDelay <= 0 {
		r.ReconnectionDelay = defaultReconnectionDelay
	}
	if r.ReconnectionDelayMax <= 0 {
		r.ReconnectionDelayMax = defaultReconnectionDelayMax
	}
	switch {
	case r.RandomizationFactor == 0:
		r.jitter = defaultRandomization
	case r.RandomizationFactor > 0:
		r.jitter = r.RandomizationFactor // above 1: none, as backoff decides
	}
	if r.Timeout <= 0 {
		r.Timeout = defaultConnectTimeout
	}
	if r.MaxBufferBytes <= 0 {
		r.MaxBufferBytes = defaultMaxBufferBytes
	}
	if r.EventBuffer <= 0 {
		r.EventBuffer = defaultClientEventBuffer
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	if r.rand == nil {
		r.rand = rand.Float64
	}
	if r.clock == nil {
		r.clock = realClock{}
	}
	if o != nil && o.EngineIO != nil {
		r.eio = *o.EngineIO
	}
	if r.eio.Path == "" {
		r.eio.Path = defaultSocketIOPath
	}
	if r.eio.MaxQueueBytes <= 0 {
		r.eio.MaxQueueBytes = r.MaxBufferBytes + 1<<20
	}
	if r.eio.MaxPayload <= 0 {
		r.eio.MaxPayload = defaultClientMaxPayload
	}
	if r.eio.Logger == nil {
		r.eio.Logger = r.Logger
	}
	return r
}
