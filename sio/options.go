package sio

import (
	"log/slog"
	"time"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/internal/quietlog"
)

// Options configures a Server. A nil *Options, and every zero field, means
// the documented default, which is the reference server's.
type Options struct {
	// Engine configures the Engine.IO server under Socket.IO. Nil, or a
	// zero Path, means eio's defaults at the path "/socket.io/", where
	// every Socket.IO client looks. Ignored by [JoinCluster], whose node
	// brings its own Engine.IO server. With its AllowEIO3, Socket.IO 2
	// clients (Engine.IO protocol 3) connect too: each is connected to
	// "/" at once, as the reference server does, and sends its auth in
	// the namespace's query (see [Handshake].Auth).
	Engine *eio.Options

	// ConnectTimeout is how long a new Engine.IO connection may go without
	// joining a namespace (a CONNECT its middleware accepted) before the
	// server closes it. Zero means 45s.
	ConnectTimeout time.Duration

	// MaxAttachments bounds the binary attachments of one incoming packet;
	// past it the connection ends with [ReasonParseError]. Zero means 10,
	// the reference parser's default.
	MaxAttachments int
	// MaxPacketBytes bounds one incoming packet, its text and its binary
	// attachments together; past it the connection ends with
	// [ReasonParseError]. Zero means Engine.MaxPayload (1,000,000 bytes
	// by default), which also bounds each message.
	MaxPacketBytes int

	// EventBuffer is the capacity of each namespace's Events channel.
	// Zero means 1024.
	EventBuffer int

	// Recovery turns connection state recovery on: a client that lost its
	// connection and comes back within the window gets its socket id, its
	// rooms, its data and the events it missed. Nil leaves it off, as the
	// reference server does by default.
	Recovery *Recovery

	// CleanupEmptyChildNamespaces removes a child of a parent namespace
	// (see [Server.OfFunc]) once its last socket has left. Zero (false)
	// keeps children, as the reference server does by default.
	CleanupEmptyChildNamespaces bool

	// ClusterSubject is the prefix of the NATS subjects the nodes of a
	// cluster (see [JoinCluster]) use for Socket.IO: room broadcasts,
	// acknowledgements, socket queries. Zero means "chanio-sio".
	ClusterSubject string

	// Logger receives the server's logs: refused and broken connections
	// (Debug), slow consumers (Warn), internal failures (Error). Nil logs
	// only errors, to slog.Default().
	Logger *slog.Logger
}

// Recovery configures connection state recovery, the reference server's
// connectionStateRecovery option.
type Recovery struct {
	// MaxDisconnectionDuration is how long the server keeps a disconnected
	// socket's state and the events it misses. Zero means 2 minutes.
	MaxDisconnectionDuration time.Duration
	// RunMiddlewares runs the namespace's middleware for a socket that is
	// recovered, too. Zero (false) skips it, as the reference's
	// skipMiddlewares default does.
	RunMiddlewares bool
	// MaxPackets bounds the events a namespace keeps for clients that may
	// come back; older ones are forgotten (a client that missed one of
	// them gets a fresh socket instead). Zero means 100,000.
	MaxPackets int
}

type options struct {
	Options
	recovery Recovery
	recover  bool
}

func (o *Options) withDefaults() options {
	var r options
	if o != nil {
		r.Options = *o
	}
	if r.ConnectTimeout <= 0 {
		r.ConnectTimeout = 45 * time.Second
	}
	if r.MaxAttachments == 0 {
		r.MaxAttachments = 10
	}
	if r.MaxPacketBytes <= 0 {
		r.MaxPacketBytes = 1_000_000 // eio's MaxPayload default
		if r.Engine != nil && r.Engine.MaxPayload > 0 {
			r.MaxPacketBytes = int(r.Engine.MaxPayload)
		}
	}
	if r.EventBuffer <= 0 {
		r.EventBuffer = 1024
	}
	if r.Logger == nil {
		r.Logger = quietlog.New()
	}
	if r.Recovery != nil {
		r.recover = true
		r.recovery = *r.Recovery
		if r.recovery.MaxDisconnectionDuration <= 0 {
			r.recovery.MaxDisconnectionDuration = 2 * time.Minute
		}
		if r.recovery.MaxPackets <= 0 {
			r.recovery.MaxPackets = 100_000
		}
	}
	return r
}

// engineOptions returns the Engine.IO options sio starts its own server
// with: the caller's, with the Socket.IO path by default.
func (o *Options) engineOptions() *eio.Options {
	var e eio.Options
	if o.Engine != nil {
		e = *o.Engine
	}
	if e.Path == "" {
		e.Path = "/socket.io/"
	}
	return &e
}
