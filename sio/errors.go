package sio

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/chanio/chanio/eio"
)

// Errors returned by the methods of Server, Namespace, Socket and
// Broadcast. Test with errors.Is.
var (
	// ErrDisconnected: the socket is not (or no longer) connected to its
	// namespace; nothing was sent.
	ErrDisconnected = errors.New("sio: socket disconnected")
	// ErrServerClosed: the server is shutting down or closed. It wraps
	// [eio.ErrServerClosed].
	ErrServerClosed = fmt.Errorf("sio: server closed: %w", eio.ErrServerClosed)
	// ErrReservedEvent: the event name is one Socket.IO keeps for itself
	// ("connect", "disconnect", ...).
	ErrReservedEvent = errors.New("sio: reserved event name")
	// ErrNoAck: Event.Ack on an event whose sender asked for no
	// acknowledgement.
	ErrNoAck = errors.New("sio: the event asked for no acknowledgement")
	// ErrAcked: Event.Ack called a second time for the same event.
	ErrAcked = errors.New("sio: the event was already acknowledged")
	// ErrParentNamespace: the operation needs one namespace, and a parent
	// namespace (of OfFunc or OfRegexp) stands for many.
	ErrParentNamespace = errors.New("sio: not possible on a parent namespace")
)

// ConnectError refuses a socket's connection to a namespace: a middleware
// returns it, and the client gets a CONNECT_ERROR packet with
// {"message": Message, "data": Data}, as the reference server sends for an
// error with a data property. A middleware that returns any other error
// refuses with {"message": err.Error()}.
type ConnectError struct {
	Message string
	// Data is encoded with encoding/json; nil sends no data member.
	Data any
}

// Error returns the message.
func (e *ConnectError) Error() string { return "sio: connection refused: " + e.Message }

// payload is the CONNECT_ERROR packet's JSON. A protocol 3 (Socket.IO 2)
// client gets the error's data, or its message, alone, as the reference
// sends it: err.data || err.message.
func (e *ConnectError) payload(v3 bool) json.RawMessage {
	if v3 {
		if e.Data != nil {
			if b, err := json.Marshal(e.Data); err == nil {
				return b
			}
		}
		b, _ := json.Marshal(e.Message)
		return b
	}
	type body struct {
		Message string `json:"message"`
		Data    any    `json:"data,omitempty"`
	}
	b, err := json.Marshal(body{e.Message, e.Data})
	if err != nil {
		b, _ = json.Marshal(body{Message: e.Message})
	}
	return b
}

// Reason says why a socket left its namespace. Its String form is the
// reference server's wording.
type Reason uint8

// Disconnect reasons, as the reference server's DisconnectReason.
const (
	// ReasonTransportError: the Engine.IO connection failed (a protocol
	// violation below Socket.IO, an I/O error).
	ReasonTransportError Reason = iota + 1
	// ReasonTransportClose: the connection went away, or the client closed
	// it (an Engine.IO close packet).
	ReasonTransportClose
	// ReasonForcedClose: the Engine.IO session was ended from the server
	// side below Socket.IO (eio's Disconnect).
	ReasonForcedClose
	// ReasonPingTimeout: the client stopped answering pings.
	ReasonPingTimeout
	// ReasonParseError: the client sent something that is not Socket.IO
	// (see Event.Err); the whole connection was closed.
	ReasonParseError
	// ReasonServerShuttingDown: Server.Shutdown or Server.Close, or the
	// Engine.IO server's Shutdown (which the http.Server's Shutdown
	// begins).
	ReasonServerShuttingDown
	// ReasonForcedServerClose: the connection joined no namespace within
	// the connect timeout.
	ReasonForcedServerClose
	// ReasonClientNamespaceDisconnect: the client left the namespace and
	// may stay in others.
	ReasonClientNamespaceDisconnect
	// ReasonServerNamespaceDisconnect: Socket.Disconnect or
	// DisconnectSockets, on this socket or (with close) another socket of
	// the same connection.
	ReasonServerNamespaceDisconnect
	// ReasonSlowConsumer: the connection's outbound queue passed the
	// Engine.IO server's MaxQueueBytes. chanio's own reason; the client
	// sees a transport close.
	ReasonSlowConsumer
)

var reasonNames = [...]string{
	ReasonTransportError:            "transport error",
	ReasonTransportClose:            "transport close",
	ReasonForcedClose:               "forced close",
	ReasonPingTimeout:               "ping timeout",
	ReasonParseError:                "parse error",
	ReasonServerShuttingDown:        "server shutting down",
	ReasonForcedServerClose:         "forced server close",
	ReasonClientNamespaceDisconnect: "client namespace disconnect",
	ReasonServerNamespaceDisconnect: "server namespace disconnect",
	ReasonSlowConsumer:              "slow consumer",
}

// String returns the reason as the reference server words it, for example
// "client namespace disconnect".
func (r Reason) String() string {
	if int(r) < len(reasonNames) && reasonNames[r] != "" {
		return reasonNames[r]
	}
	return "Reason(" + strconv.Itoa(int(r)) + ")"
}

// recoverable reports whether a socket that left for r may come back with
// its state (the reference's RECOVERABLE_DISCONNECT_REASONS).
func (r Reason) recoverable() bool {
	switch r {
	case ReasonTransportError, ReasonTransportClose, ReasonForcedClose, ReasonPingTimeout,
		ReasonServerShuttingDown, ReasonForcedServerClose:
		return true
	}
	return false
}

// reasonFromEngine maps why an Engine.IO session ended (its disconnect
// event's Reason and Err) to why its sockets left. A session the server
// ended by its Shutdown (Err wraps eio.ErrServerClosed), be it called by
// sio, by the application or by the http.Server's Shutdown, makes its
// sockets leave with ReasonServerShuttingDown.
func reasonFromEngine(r eio.Reason, err error) Reason {
	switch r {
	case eio.ReasonClientDisconnect, eio.ReasonTransportClose:
		return ReasonTransportClose
	case eio.ReasonServerDisconnect:
		if errors.Is(err, eio.ErrServerClosed) {
			return ReasonServerShuttingDown
		}
		return ReasonForcedClose
	case eio.ReasonPingTimeout:
		return ReasonPingTimeout
	case eio.ReasonSlowConsumer:
		return ReasonSlowConsumer
	}
	return ReasonTransportError
}
