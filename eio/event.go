package eio

import (
	"net/http"
	"strconv"
)

// EventType says what an [Event] reports.
type EventType uint8

// The kinds of event. For each session (or client connection) they come in
// this order: one EventConnect, its EventMessages, exactly one
// EventDisconnect. A session that moves from long-polling to WebSocket
// reports it with one EventUpgrade among its messages: those before it
// came over polling, those after it over the WebSocket.
const (
	EventConnect EventType = iota + 1
	EventMessage
	EventDisconnect
	// EventUpgrade: the session has moved to the transport named in
	// Event.Transport (the Node server's "upgrade" event). On a server it
	// comes once the client's upgrade packet has arrived; on a client,
	// once the client has sent it. Sessions that do not upgrade have none.
	EventUpgrade
)

// String returns "connect", "message", "disconnect" or "upgrade".
func (t EventType) String() string {
	switch t {
	case EventConnect:
		return "connect"
	case EventMessage:
		return "message"
	case EventDisconnect:
		return "disconnect"
	case EventUpgrade:
		return "upgrade"
	}
	return "EventType(" + strconv.Itoa(int(t)) + ")"
}

// Event is one thing that happened to a session: it connected, it sent a
// message, it upgraded, or it ended. Servers deliver them on
// [Server.Events], clients on [Client.Events].
type Event struct {
	Type EventType
	SID  string

	// Transport is, in an EventConnect, the transport the session opened
	// on, and in an EventUpgrade the one it moved to: [TransportPolling]
	// or [TransportWebSocket]. It is empty in other events.
	Transport string

	// Data is the body of an EventMessage. It belongs to the receiver: it
	// is not reused, and may be kept, changed or handed to Send.
	Data []byte
	// Binary is true when Data arrived as a binary message, false for text.
	Binary bool

	// Reason says why an EventDisconnect happened; Err, when not nil, is
	// the error behind it (a protocol violation, an I/O error). A session
	// that the server's Shutdown or Close ended has ReasonServerDisconnect
	// and an Err that wraps [ErrServerClosed]; one ended by
	// [Server.Disconnect] or [Server.DisconnectAll] has a nil Err.
	Reason Reason
	Err    error
	// Session is, on the server, the data the application keeps with the
	// session: in an EventConnect, what Options.AuthorizeSession returned
	// for it (nil without that hook); in an EventDisconnect, the data when
	// the session ended, as [Server.SaveSession] or [Server.UpdateSession]
	// last left it.
	Session any

	// Request is the handshake request of an EventConnect on the server
	// (nil on the client). Its headers, URL and RemoteAddr stay readable;
	// its context has ended by the time the event is read.
	Request *http.Request
}

// Reason says why a session ended. Its String form is the reference
// implementations' wording. The zero Reason, "none", is what every event
// but a disconnect carries, and what [Client.Reason] says before the end.
type Reason uint8

// Disconnect reasons.
const (
	// ReasonClientDisconnect: the peer sent a close packet ("client
	// disconnect"). On a client, the client closed itself.
	ReasonClientDisconnect Reason = iota + 1
	// ReasonServerDisconnect: the server ended the session
	// (Disconnect, Shutdown, Close); on a client, the server sent close.
	ReasonServerDisconnect
	// ReasonPingTimeout: no pong (server) or no ping (client) in time.
	ReasonPingTimeout
	// ReasonTransportClose: the connection went away without a close
	// packet.
	ReasonTransportClose
	// ReasonTransportError: the peer broke the protocol or sent something
	// over a limit; Event.Err says what.
	ReasonTransportError
	// ReasonSlowConsumer: the session's outbound queue passed
	// Options.MaxQueueBytes because the peer read too slowly. chanio's
	// own reason; the peer sees a close or a transport close.
	ReasonSlowConsumer
)

var reasonNames = [...]string{
	0:                      "none",
	ReasonClientDisconnect: "client disconnect",
	ReasonServerDisconnect: "server disconnect",
	ReasonPingTimeout:      "ping timeout",
	ReasonTransportClose:   "transport close",
	ReasonTransportError:   "transport error",
	ReasonSlowConsumer:     "slow consumer",
}

// String returns the reason as the reference implementations word it, for
// example "ping timeout"; the zero Reason is "none".
func (r Reason) String() string {
	if int(r) < len(reasonNames) && reasonNames[r] != "" {
		return reasonNames[r]
	}
	return "Reason(" + strconv.Itoa(int(r)) + ")"
}
