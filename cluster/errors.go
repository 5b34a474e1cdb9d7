package cluster

import (
	"errors"
	"fmt"

	"github.com/chanio/chanio/eio"
)

// Errors returned by [Join] and [Node] methods. Test with errors.Is. A
// remote Send or Disconnect fails with the same eio errors as a local one
// ([eio.ErrUnknownSession], [eio.ErrSessionClosed], [eio.ErrSlowConsumer]),
// the owner's answer carried back over NATS; a session whose owner node is
// gone is unknown.
var (
	// ErrBadNodeID: Options.NodeID is not 1 to 64 of [A-Za-z0-9_-].
	ErrBadNodeID = errors.New("cluster: node id must be 1 to 64 of [A-Za-z0-9_-]")
	// ErrBadSubject: Options.Subject is not a NATS subject without
	// wildcards.
	ErrBadSubject = errors.New("cluster: subject prefix must be NATS subject tokens without wildcards or spaces")
	// ErrNodeIDTaken: a live node of the cluster already has this id.
	ErrNodeIDTaken = errors.New("cluster: node id already in use")
	// ErrClosed: the node has been shut down or closed. It wraps
	// [eio.ErrServerClosed].
	ErrClosed = fmt.Errorf("cluster: node closed: %w", eio.ErrServerClosed)
	// ErrTooLarge: a message for another node (a remote Send, a
	// Broadcast) does not fit in one NATS message (the server's
	// max_payload, 1 MB by default). It wraps [eio.ErrPayloadTooLarge].
	ErrTooLarge = fmt.Errorf("cluster: message over the NATS max_payload: %w", eio.ErrPayloadTooLarge)
)

// errOwnerGone is why a forwarded request fails when the owner is dead or
// does not answer: the client then gets "Session ID unknown".
var errOwnerGone = errors.New("cluster: owner node is gone")

// codeError maps an RPC answer to the error a local call would return.
func codeError(c replyCode) error {
	switch c {
	case codeOK:
		return nil
	case codeUnknownSession:
		return eio.ErrUnknownSession
	case codeSessionClosed:
		return eio.ErrSessionClosed
	case codeSlowConsumer:
		return eio.ErrSlowConsumer
	case codeServerClosed:
		return eio.ErrServerClosed
	case codeBusy:
		return errBusy
	}
	return fmt.Errorf("cluster: owner refused the request (code %d)", c)
}

var errBusy = errors.New("cluster: owner node has too many tunnels waiting")

// errorCode maps an eio error to its RPC answer.
func errorCode(err error) replyCode {
	switch {
	case err == nil:
		return codeOK
	case errors.Is(err, eio.ErrUnknownSession):
		return codeUnknownSession
	case errors.Is(err, eio.ErrSessionClosed):
		return codeSessionClosed
	case errors.Is(err, eio.ErrSlowConsumer):
		return codeSlowConsumer
	case errors.Is(err, eio.ErrServerClosed):
		return codeServerClosed
	}
	return codeBadRequest
}
