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
	Body   []byte // the response body, as sent
	// Code and Message are the reference JSON error fields when the body
	// has them; Code is -1 otherwise.
	Code    ErrorCode
	Message string
}

// Error gives the status and the reference message, or the start of the
// body when it has none.
func (e *HTTPError) Error() string {
	if e.Code >= 0 {
		return fmt.Sprintf("eio: server answered %d: %s (code %d)", e.Status, e.Message, e.Code)
	}
	return fmt.Sprintf("eio: server answered %d: %.200q", e.Status, e.Body)
}
