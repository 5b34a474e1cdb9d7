package sio

import (
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/chanio/chanio/sio/wire"
)

// Args are the arguments of an event or of an acknowledgement as they
// arrived: JSON values and binary attachments. Decode them into Go values
// with Args.Decode; see [wire.Args].
type Args = wire.Args

// EventType says what an [Event] reports.
type EventType uint8

// The kinds of event. For each socket they come in this order on its
// namespace's channel: one EventConnect, its EventMessages, exactly one
// EventDisconnect.
const (
	// EventConnect: a socket joined the namespace (its middleware
	// accepted it); the client has its CONNECT answer.
	EventConnect EventType = iota + 1
	// EventMessage: the client emitted an event.
	EventMessage
	// EventDisconnect: the socket left the namespace (Event.Reason).
	EventDisconnect
	// EventServerSide: another node of the cluster called
	// ServerSideEmit on this namespace. Event.Socket is nil; an
	// acknowledgement (Event.Ack) goes back to that node.
	EventServerSide
)

var eventTypeNames = [...]string{"", "connect", "message", "disconnect", "server-side"}

// String returns "connect", "message", "disconnect" or "server-side".
func (t EventType) String() string {
	if int(t) < len(eventTypeNames) && t != 0 {
		return eventTypeNames[t]
	}
	return "EventType(?)"
}

// Event is one thing that happened in a namespace. Namespaces deliver them
// on [Namespace.Events].
type Event struct {
	Type EventType
	// Socket is the socket the event is about. Its namespace is the
	// namespace the event came from (a child, for a parent namespace).
	Socket *Socket

	// Name and Args are the event name and its arguments, for
	// EventMessage and EventServerSide. Args are valid as long as the
	// application keeps them: they are not reused.
	Name string
	Args Args

	// Reason says why an EventDisconnect happened; Err, when not nil, is
	// the error behind it (a protocol violation, an I/O error).
	Reason Reason
	Err    error

	ack *ackTarget
}

// ackTarget is where the answer to an event's acknowledgement goes.
type ackTarget struct {
	socket *Socket
	id     uint64
	sent   uint32 // atomic: 1 once answered
	remote func(data []byte, atts [][]byte) error
}

// WantsAck reports whether the sender of the event waits for an
// acknowledgement, which Event.Ack sends.
func (e *Event) WantsAck() bool { return e.ack != nil }

// Handshake is what a socket's client sent when it connected: the Engine.IO
// handshake request's details and the CONNECT packet's auth payload. It is
// the reference server's socket.handshake.
type Handshake struct {
	// Header is the handshake request's header, but for the headers of
	// the WebSocket handshake itself (Connection, Upgrade,
	// Sec-WebSocket-*). It is a copy: changing it changes nothing else.
	Header http.Header
	// URL is the handshake request's URL, with its query.
	URL *url.URL
	// Address is the request's remote address (host:port).
	Address string
	// Time is when the Engine.IO connection opened.
	Time time.Time
	// Secure is true when the request came over TLS.
	Secure bool
	// XDomain is true when the request had an Origin header.
	XDomain bool
	// Auth is the CONNECT packet's payload, a JSON object, or nil when the
	// client sent none. A Socket.IO 2 client (Engine.IO protocol 3) sends
	// its auth as the query of the namespace it asks for
	// ("/admin?token=abc"): Auth is then that query as an object of
	// strings, as the reference reads it; the "/" it is connected to
	// without asking has none.
	Auth json.RawMessage
}

// Query returns the handshake request's query parameters.
func (h *Handshake) Query() url.Values {
	if h.URL == nil {
		return url.Values{}
	}
	return h.URL.Query()
}
