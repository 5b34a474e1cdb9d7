package eio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/transport"
)

// This file holds the client's handshake, on long-polling or on a
// stream, and how it names what goes wrong: the requests themselves are
// transport's (PollClient, Kind.Dial).

// handshakeSlack is how far past MaxPayload a polling handshake answer is
// read: far enough to hold an open packet, so that the session of an
// answer over the limit can still be named and closed.
const handshakeSlack = 4096

// handshakePolling opens a polling connection: the open packet and any
// packets that came with it. An answer that opens a session the client
// cannot use (over MaxPayload, or malformed after its open packet) has
// that session closed before the error returns.
func (c *Client) handshakePolling(ctx context.Context) (codec.Handshake, []codec.Packet, error) {
	body, contentType, err := transport.Get(ctx, c.opts.httpc, c.ep.url(TransportPolling, ""), c.opts.Header, c.opts.MaxPayload+handshakeSlack)
	over := errors.Is(err, transport.ErrResponseTooLarge) || int64(len(body)) > c.opts.MaxPayload
	if err != nil && !over {
		return codec.Handshake{}, nil, clientError(err)
	}
	// The open packet is the payload's first record.
	first, _, _ := bytes.Cut(body, []byte{codec.Separator})
	open, err := codec.DecodePayload(first, codec.V4, codec.Limits{}, nil)
	if err != nil || open[0].Type != codec.Open || open[0].Binary {
		return codec.Handshake{}, nil, &notEngineIOError{
			fmt.Sprintf("it answered 200 (%s) with %.60q", contentType, body)}
	}
	hs, err := parseOpenPacket(open[0])
	if err != nil {
		return codec.Handshake{}, nil, err
	}
	if over {
		c.closeOpened(ctx, hs.SID)
		return codec.Handshake{}, nil, fmt.Errorf("eio: the handshake answer is over ClientOptions.MaxPayload (%d bytes): %w",
			c.opts.MaxPayload, codec.ErrTooLarge)
	}
	pkts, err := codec.DecodePayload(body, codec.V4, codec.Limits{MaxPackets: maxPacketsPerPoll}, nil)
	if err != nil {
		c.closeOpened(ctx, hs.SID)
		return codec.Handshake{}, nil, fmt.Errorf("eio: invalid handshake payload: %w: %w", codec.ErrBadHandshake, err)
	}
	return hs, pkts[1:], nil
}

// closeOpened ends the session sid that a failed handshake leaves on the
// server, with a close packet as a client's Close sends it: otherwise it
// would wait out its ping timeout there. It tries once, within
// RequestTimeout, unless ctx has ended.
func (c *Client) closeOpened(ctx context.Context, sid string) {
	if ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.RequestTimeout)
	defer cancel()
	closePacket := []byte{'0' + byte(codec.Close)}
	if err := transport.Post(ctx, c.opts.httpc, c.ep.url(TransportPolling, sid), c.opts.Header, closePacket); err != nil {
		c.log.Debug("eio: closing the session of a failed handshake", "sid", sid, "err", err)
	}
}

// parseOpenPacket reads the handshake of an open packet.
func parseOpenPacket(p codec.Packet) (codec.Handshake, error) {
	hs, err := codec.ParseHandshake(p.Data)
	if err != nil {
		return codec.Handshake{}, fmt.Errorf("eio: invalid open packet %.200q: %w", p.Data, err)
	}
	return hs, nil
}

// notEngineIOError is what Dial meets at a URL that answers, but not as an
// Engine.IO server; detail says what it answered.
type notEngineIOError struct{ detail string }

func (e *notEngineIOError) Error() string { return "not an Engine.IO server: " + e.detail }

// Unwrap lets errors.Is find ErrNotEngineIO, and codec.ErrBadHandshake,
// which Dial's errors matched for such answers before ErrNotEngineIO.
func (e *notEngineIOError) Unwrap() []error {
	return []error{ErrNotEngineIO, codec.ErrBadHandshake}
}

// handshakeStream opens a stream of kind and reads its open packet within
// ctx.
func (c *Client) handshakeStream(ctx context.Context, kind transport.Kind) (codec.Handshake, transport.Stream, error) {
	s, err := kind.Dial(ctx, c.ep.url(kind.Name, ""), c.dialOptions())
	if err != nil {
		var se *transport.StatusError
		if errors.As(err, &se) {
			if se.Status/100 == 2 {
				// A server that ignores the Upgrade header: no WebSocket,
				// so no Engine.IO WebSocket endpoint, here.
				return codec.Handshake{}, nil, &notEngineIOError{fmt.Sprintf("it answered the WebSocket handshake with %d, not 101: %.60q",
					se.Status, se.Body)}
			}
			return codec.Handshake{}, nil, httpErrorFrom(se)
		}
		// The transport's error names the transport already
		// ("transport: websocket: ...").
		return codec.Handshake{}, nil, fmt.Errorf("eio: %w", err)
	}
	c.logConnected(s)
	// ctx's end, deadline or cancel, cuts the read.
	stop := context.AfterFunc(ctx, func() { _ = s.CloseAs(transport.CloseAbort) })
	p, err := s.ReadPacket()
	if !stop() {
		_ = s.CloseAs(transport.CloseAbort)
		return codec.Handshake{}, nil, ctx.Err()
	}
	var pe *transport.PacketError
	switch {
	case errors.As(err, &pe):
		err = &notEngineIOError{fmt.Sprintf("its first WebSocket message is %.60q", pe.Start)}
	case err != nil:
		_ = s.CloseAs(transport.CloseAbort)
		return codec.Handshake{}, nil, fmt.Errorf("eio: reading the open packet: %w", err)
	case p.Type != codec.Open || p.Binary:
		err = &notEngineIOError{fmt.Sprintf("its first WebSocket message is %.60q", append([]byte{'0' + byte(p.Type)}, p.Data...))}
	default:
		var hs codec.Handshake
		if hs, err = parseOpenPacket(p); err == nil {
			return hs, s, nil
		}
	}
	_ = s.CloseAs(transport.CloseProtocolError)
	return codec.Handshake{}, nil, err
}

// logConnected logs a stream the client has opened, and whether it
// speaks compression.
func (c *Client) logConnected(s transport.Stream) {
	compressed := false
	if d, ok := s.(interface{ Compressed() bool }); ok {
		compressed = d.Compressed()
	}
	c.log.Debug("eio: "+s.Name()+" connected", "permessage_deflate", compressed)
}

// httpErrorFrom is the *HTTPError of an HTTP error answer, with the JSON
// code and message when the body has them.
func httpErrorFrom(se *transport.StatusError) *HTTPError {
	e := &HTTPError{Status: se.Status, URL: se.URL, Body: se.Body, Code: -1}
	var j struct {
		Code    *int    `json:"code"`
		Message *string `json:"message"`
	}
	if json.Unmarshal(se.Body, &j) != nil {
		return e
	}
	if j.Message != nil {
		e.Message = *j.Message
	}
	if j.Code != nil {
		e.Code = ErrorCode(*j.Code)
		if j.Message == nil {
			e.Message = e.Code.Message()
		}
	}
	return e
}

// clientError is the error of a failed polling request as the client
// reports it: "eio: poll: ..." or "eio: post: ...", with an HTTP error
// answer as a *HTTPError.
func clientError(err error) error {
	var re *transport.RequestError
	if !errors.As(err, &re) {
		var se *transport.StatusError
		if errors.As(err, &se) {
			return httpErrorFrom(se)
		}
		return err
	}
	op := "post"
	if re.Method == http.MethodGet {
		op = "poll"
	}
	inner := re.Err
	var se *transport.StatusError
	if errors.As(inner, &se) {
		inner = httpErrorFrom(se)
	}
	return fmt.Errorf("eio: %s: %w", op, inner)
}
