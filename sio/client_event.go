package sio

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/chanio/chanio/eio"
)

// ClientEventType says what a [ClientEvent] reports.
type ClientEventType uint8

// The kinds of client event. A client's Events start with a ClientConnect;
// each ClientDisconnect that is not its last event is followed, if the
// manager reconnects, by ClientReconnectAttempt and ClientReconnectError
// events, a ClientReconnect and a new ClientConnect. The manager's events
// (the four ClientReconnect kinds) go to every client of the manager that
// has connected.
const (
	// ClientConnect: the namespace accepted the client (again, after a
	// reconnection). SID and Recovered are set.
	ClientConnect ClientEventType = iota + 1
	// ClientMessage: the server emitted an event. Name and Args are set;
	// when the server asked for an ack, answer it with [ClientEvent.Ack].
	ClientMessage
	// ClientDisconnect: the client left the namespace or lost it. Reason
	// says why; Err, when not nil, is the error behind it.
	ClientDisconnect
	// ClientConnectError: the server refused the namespace (Err wraps a
	// [*ConnectError], whose Data is the refusal's data as a
	// json.RawMessage). The client has ended: it is the last event.
	ClientConnectError
	// ClientReconnectAttempt: the manager is trying to connect again, for
	// the Attempt-th time in a row, after waiting Delay.
	ClientReconnectAttempt
	// ClientReconnect: the Engine.IO connection is open again, after
	// Attempt attempts. The namespace's ClientConnect follows.
	ClientReconnect
	// ClientReconnectError: the Attempt-th attempt failed with Err.
	ClientReconnectError
	// ClientReconnectFailed: the manager has spent its
	// ReconnectionAttempts and stops trying. The client has ended.
	ClientReconnectFailed
)

var clientEventNames = [...]string{
	ClientConnect:          "connect",
	ClientMessage:          "event",
	ClientDisconnect:       "disconnect",
	ClientConnectError:     "connect_error",
	ClientReconnectAttempt: "reconnect_attempt",
	ClientReconnect:        "reconnect",
	ClientReconnectError:   "reconnect_error",
	ClientReconnectFailed:  "reconnect_failed",
}

// String returns the reference client's name of the event: "connect",
// "disconnect", "connect_error", "reconnect_attempt", ...; "event" for a
// ClientMessage.
func (t ClientEventType) String() string {
	if int(t) < len(clientEventNames) && clientEventNames[t] != "" {
		return clientEventNames[t]
	}
	return "ClientEventType(" + strconv.Itoa(int(t)) + ")"
}

// ClientEvent is one thing that happened to a [Client]; see
// [ClientEventType] for which fields each kind sets.
type ClientEvent struct {
	Type ClientEventType

	// SID is the client's Socket.IO id in the namespace (ClientConnect),
	// which is not the Engine.IO session id. Recovered is true when the
	// server restored the client's earlier session (connection state
	// recovery): same SID, and the events it missed follow.
	SID       string
	Recovered bool

	// Name and Args are the event's name and arguments (ClientMessage).
	// Args alias the message the event came in; they stay valid as long as
	// the event is kept. With connection state recovery on, the Node
	// server appends the event's offset, a string, as the last argument,
	// as the reference client also sees it.
	Name string
	Args Args

	// Reason says why a ClientDisconnect happened; Err is the error behind
	// a disconnect, a connect error or a failed attempt.
	Reason ClientReason
	Err    error

	// Attempt counts the attempts in a row; Delay is the wait before this
	// one (ClientReconnectAttempt).
	Attempt int
	Delay   time.Duration

	ack *serverAck
}

// WantsAck reports whether the server asked for an answer to this
// ClientMessage.
func (e ClientEvent) WantsAck() bool { return e.ack != nil }

// Ack answers the server's ack for this ClientMessage with args, written as
// [Client.Emit] writes arguments. It never waits on the network. It
// returns [ErrNoAck] when the server asked for none, [ErrAcked] on a
// second answer, and [ErrDisconnected] when the connection the event came
// on has dropped since (the server has forgotten the ack).
func (e ClientEvent) Ack(args ...any) error {
	if e.ack == nil {
		return ErrNoAck
	}
	if !e.ack.answered.CompareAndSwap(false, true) {
		return ErrAcked
	}
	return e.ack.c.answer(e.ack, args)
}

// serverAck is the handle on an ack the server asked for.
type serverAck struct {
	c        *Client
	id       uint64
	gen      uint64 // the connection the event came on
	answered atomic.Bool
}

// ClientReason says why a client lost its namespace. Its String form is
// the reference client's wording.
type ClientReason uint8

// The reasons of a [ClientDisconnect], as the reference client names them.
const (
	// ClientReasonIOServerDisconnect: the server disconnected the client
	// from the namespace. The client has ended; it does not reconnect.
	ClientReasonIOServerDisconnect ClientReason = iota + 1
	// ClientReasonIOClientDisconnect: the client left ([Client.Close],
	// [Manager.Close]).
	ClientReasonIOClientDisconnect
	// ClientReasonPingTimeout: the server's pings stopped.
	ClientReasonPingTimeout
	// ClientReasonTransportClose: the connection was closed (by the
	// server, or it dropped).
	ClientReasonTransportClose
	// ClientReasonTransportError: the connection failed (a protocol or
	// HTTP error at the Engine.IO level, or a write that could not finish).
	ClientReasonTransportError
	// ClientReasonParseError: the server sent a packet the client could
	// not parse; the connection was closed.
	ClientReasonParseError
)

var clientReasonNames = [...]string{
	ClientReasonIOServerDisconnect: "io server disconnect",
	ClientReasonIOClientDisconnect: "io client disconnect",
	ClientReasonPingTimeout:        "ping timeout",
	ClientReasonTransportClose:     "transport close",
	ClientReasonTransportError:     "transport error",
	ClientReasonParseError:         "parse error",
}

// String returns the reason as the reference client words it, for example
// "io server disconnect".
func (r ClientReason) String() string {
	if int(r) < len(clientReasonNames) && clientReasonNames[r] != "" {
		return clientReasonNames[r]
	}
	return "ClientReason(" + strconv.Itoa(int(r)) + ")"
}

// Reconnects reports whether the manager tries to reconnect after a
// disconnect for this reason (when reconnection is on): every reason but
// the two where a side chose to leave.
func (r ClientReason) Reconnects() bool {
	return r != ClientReasonIOServerDisconnect && r != ClientReasonIOClientDisconnect
}

// clientReasonFor maps how an Engine.IO connection ended to the reason the
// reference client reports: the server's close packet is a "transport
// close" to it too.
func clientReasonFor(r eio.Reason) ClientReason {
	switch r {
	case eio.ReasonPingTimeout:
		return ClientReasonPingTimeout
	case eio.ReasonTransportError:
		return ClientReasonTransportError
	}
	return ClientReasonTransportClose
}

// Errors of the client. Test with errors.Is.
var (
	// ErrClientClosed: the client has ended (it left, was refused, was
	// disconnected by the server, or its manager gave up or was closed);
	// nothing more can be emitted on it.
	ErrClientClosed = errors.New("sio: client closed")
	// ErrBufferFull: the client is disconnected (or, with Reliable, the
	// server has not acknowledged enough) and the packet would pass
	// ClientOptions.MaxBufferBytes. It was not queued.
	ErrBufferFull = errors.New("sio: send buffer full (ClientOptions.MaxBufferBytes)")
	// ErrReconnectFailed: the manager spent ClientOptions.ReconnectionAttempts.
	ErrReconnectFailed = errors.New("sio: reconnection attempts spent")
	// ErrNamespaceInUse: the manager already has a client in this
	// namespace.
	ErrNamespaceInUse = errors.New("sio: the manager already has a client in this namespace")
	// ErrBadAuth: the auth payload is not a JSON object.
	ErrBadAuth = errors.New("sio: auth payload must encode as a JSON object or null")
)

// refusal is how a client reports a namespace's refusal: a
// [*ConnectError] whose Data is the refusal's data as a json.RawMessage
// (nil when there is none), wrapped with the namespace.
func refusal(nsp string, e *ConnectError) error {
	return fmt.Errorf("sio: namespace %s refused the client: %w", nsp, e)
}

// parseConnectError reads a CONNECT_ERROR payload: {"message", "data"} as
// the Node server sends, or a bare string as python-socketio does for an
// unknown namespace.
func parseConnectError(data json.RawMessage) *ConnectError {
	e := &ConnectError{}
	var obj struct {
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	switch {
	case len(data) > 0 && data[0] == '"':
		_ = json.Unmarshal(data, &e.Message)
	case json.Unmarshal(data, &obj) == nil:
		e.Message = obj.Message
		if len(obj.Data) > 0 {
			e.Data = obj.Data
		}
	}
	if e.Message == "" {
		e.Message = "refused"
	}
	return e
}
