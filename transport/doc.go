// Package transport owns the connections Engine.IO packets travel on, on
// both sides: the WebSocket ([WebSocket], over gobwas/ws), the server's
// long-polling ([Poll]) and the client's ([PollClient]), how they are
// opened (an HTTP upgrade, a dial, a CONNECT proxy), and their
// compression.
//
// # One interface
//
// Every transport is a [Conn]: what an Engine.IO endpoint (eio's server
// session or client) sends on. Its four methods are all the endpoint asks:
// Name, Room (what a write may carry now: everything, a long-poll's worth,
// a POST's worth, or nothing until the peer asks), Write (many packets at
// once) and CloseAs (how, in the words of a WebSocket close code). What a
// transport reads it hands to a [Receiver], the endpoint: each packet, its
// end, word that a request is over, word that it went quiet. The endpoint
// never asks which transport it holds.
//
// A transport that carries the session on a connection of its own is a
// [Stream]: a Conn with ReadPacket. [Readers] reads streams on goroutines
// of an actor.Group, and parks a quiet one on a [Poller] so that it holds
// no goroutine until data comes (where the connection has a descriptor to
// poll). Each stream transport is a [Kind]: its Name, how a server
// Accepts it from an HTTP request, how a client Dials it.
//
// Long-polling is the transport that is not a stream: a server's [Poll]
// holds the client's GET until the session writes, and eio's HTTP handler
// serves each request (GET, POST) on its own; a client's [PollClient]
// keeps a GET and POSTs in flight.
//
// # Adding a transport
//
// A new stream transport (WebTransport, say: a bidirectional stream that
// carries length-prefixed packets) is one file here and one line in the
// table of Kinds (kinds, in kind.go):
//
//   - A type that implements [Stream]. Write encodes items (each
//     [Outgoing]'s Packet, in the protocol version it was opened with) and
//     writes them, in one write if it can; Room returns [RoomAny];
//     ReadPacket reads and decodes the next packet, with memory that grows
//     as its bytes arrive (see [ReadBudget]), and fails with an error that
//     ends the stream (after telling the peer why, if it can); CloseAs
//     tells the peer how, then releases the stream, and with [CloseAbort]
//     is safe from any goroutine, to unblock a write. A stream whose
//     connection has a descriptor may add WaitReadable, StopIdleWait and
//     Park (see [WebSocket]) so that Readers parks it; without them its
//     reader waits on its goroutine. [Lingerer] is optional too: the
//     client's graceful close.
//   - Its [Kind]: Requested (does this HTTP request ask for it), Accept
//     (answer the request, return the stream: [AcceptOptions] carries
//     what the server knows, the protocol version and the limits first)
//     and Dial (open one to a server's URL with [DialOptions]). A refusal
//     is a [*StatusError]. An option a transport needs and no other has
//     is a new field of AcceptOptions or DialOptions.
//   - A transport whose request cannot say which session it is for (a
//     WebTransport URL has no query: the client's first packet, an open
//     packet, names the session) sets Kind.SessionOf; eio's server then
//     routes its request by method and path, accepts the stream, and
//     opens a session on it or upgrades the one it names.
//   - Its entry in kinds. From there eio's server accepts sessions on it
//     (transport=<name>) and lists it in the upgrades of the open packet,
//     its Options.Transports and ClientOptions.Transports take its name,
//     and its client dials and probes it. Nothing else in eio changes,
//     but for one count: Server.Stats reports sessions on any stream
//     transport as WebSocketSessions.
//
// Tests that apply to every transport (eio's and conformance's) take it
// through the same paths; what is its own (its framing, its hostile
// inputs) is tested here, next to the file.
//
// # WebTransport
//
// A [WebTransportConn] carries Engine.IO over WebTransport (HTTP/3 over
// QUIC, with quic-go and webtransport-go), as the reference does: one
// bidirectional stream of length-framed packets
// ([codec.AppendStreamFrame]). A [WebTransportServer] accepts sessions
// ([WebTransportServer.Upgrade], then [WebTransportConn.Handshake] reads
// the client's open packet); [DialWebTransport] opens one, verifying the
// server's certificate or pinning it by hash as browsers'
// serverCertificateHashes do. It is a [Stream] and a [Kind] ("webtransport",
// accepted with the WebTransportServer in [AcceptOptions]), which eio's
// Server.ListenWebTransport and its client use.
//
// # Memory and compression
//
// Memory follows the bytes a peer sends, not the lengths it declares: a
// message or body is read into a buffer that grows as its bytes arrive,
// and a [ReadBudget] bounds those buffers across connections.
//
// [WriteBody] gzips or deflates a polling response the client accepts,
// and a client's PollClient inflates one; a [WebSocket] made with
// [WebSocketOptions].Deflate speaks permessage-deflate, negotiated by a
// [DeflateNegotiator] on a server ([AcceptWebSocket]) or [DeflateOffer]
// and [DeflateAccepted] on a client ([DialWebSocket]).
//
// It knows frames, bodies and connections, not sessions: the eio package
// decides what a packet means and which session it belongs to.
package transport
