package eio

import (
	"errors"
	"fmt"
	"strconv"
)

// Errors returned by [Server] and [Client] methods. Test with errors.Is.
var (
	// ErrUnknownSession: no session has this sid (it never existed or has
	// already ended and been forgotten).
	ErrUnknownSession = errors.New("eio: unknown session")
	// ErrSessionClosed: the session is ending or has ended; nothing more
	// can be sent on it.
	ErrSessionClosed = errors.New("eio: session closed")
	// ErrSlowConsumer: the send would have passed the outbound queue
	// bound. The message was not queued. On a [Server] the session is being
	// closed with [ReasonSlowConsumer]; on a [Client] the connection goes
	// on and the caller may retry later.
	ErrSlowConsumer = errors.New("eio: slow consumer: outbound queue full")
	// ErrServerClosed: the server is shutting down or closed.
	ErrServerClosed = errors.New("eio: server closed")
	// ErrPayloadTooLarge: a message is larger than the peer accepts
	// (its maxPayload).
	ErrPayloadTooLarge = errors.New("eio: message over the maximum payload")
	// ErrInvalidUTF8: a text message (or another packet that travels as
	// text) is not valid UTF-8. Nothing was queued and the session goes
	// on; send bytes with SendBinary.
	ErrInvalidUTF8 = errors.New("eio: text message is not valid UTF-8")
	// ErrNotEngineIO: the URL given to [Dial] answered, but not as an
	// Engine.IO server does (a web page, another protocol's WebSocket).
	// Dial's error wraps it, names the URL and shows the start of the
	// answer; it also matches codec.ErrBadHandshake.
	ErrNotEngineIO = errors.New("eio: not an Engine.IO server")
	// ErrForeignPrepared: [Server.SendPrepared] was given a message that
	// another server prepared (or nil); nothing was queued.
	ErrForeignPrepared = errors.New("eio: prepared message from another server")
)

// ErrorCode is an Engine.IO protocol error code, as the reference server
// sends in the JSON body of an HTTP error: {"code":N,"message":"..."}.
type ErrorCode int

// The reference server's error codes.
const (
	CodeUnknownTransport           ErrorCode = 0
	CodeUnknownSID                 ErrorCode = 1
	CodeBadHandshakeMethod         ErrorCode = 2
	CodeBadRequest                 ErrorCode = 3
	CodeForbidden                  ErrorCode = 4
	CodeUnsupportedProtocolVersion ErrorCode = 5
)

var codeMessages = [...]string{
	CodeUnknownTransport:           "Transport unknown",
	CodeUnknownSID:                 "Session ID unknown",
	CodeBadHandshakeMethod:         "Bad handshake method",
	CodeBadRequest:                 "Bad request",
	CodeForbidden:                  "Forbidden",
	CodeUnsupportedProtocolVersion: "Unsupported protocol version",
}

// Message returns the reference server's message for c, for example
// "Session ID unknown".
func (c ErrorCode) Message() string {
	if c >= 0 && int(c) < len(codeMessages) {
		return codeMessages[c]
	}
	return "ErrorCode(" + strconv.Itoa(int(c)) + ")"
}

// HTTPError is an HTTP error answer from an Engine.IO server, as a
// [Client] sees it when a handshake or a poll is refused.
type HTTPError struct {
	Status int    // HTTP status
	URL    string // the request's URL without its query (which may hold a token)
	Body   []byte // the response body, as sent
	// Code is the reference JSON error code when the body has one
	// ({"code":1,"message":"Session ID unknown"}), -1 otherwise.
	Code ErrorCode
	// Message is the body's "message" when it is a JSON object with one:
	// the reference servers' errors, and the {"message":"..."} that a
	// chanio or python-engineio Authorize rejection sends.
	Message string
}

// Error gives the URL, the status and the body's message, or the start of
// the body when it has none.
func (e *HTTPError) Error() string {
	who := e.URL
	if who == "" {
		who = "server"
	}
	switch {
	case e.Code >= 0:
		return fmt.Sprintf("eio: %s answered %d: %s (code %d)", who, e.Status, e.Message, e.Code)
	case e.Message != "":
		return fmt.Sprintf("eio: %s answered %d: %s", who, e.Status, e.Message)
	}
	return fmt.Sprintf("eio: %s answered %d: %.200q", who, e.Status, e.Body)
}
