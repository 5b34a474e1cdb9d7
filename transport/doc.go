// Package transport owns the connections Engine.IO packets travel on: a
// WebSocket connection ([WebSocket], over gobwas/ws) and the HTTP bodies of
// long-polling (ReadBody, and the pooled buffers responses are encoded
// into).
//
// It also owns their compression: [WriteBody] gzips or deflates a polling
// response the client accepts, and a [WebSocket] made with
// [WebSocketOptions].Deflate speaks permessage-deflate, negotiated by a
// [DeflateNegotiator] on a server or [DeflateOffer] and [DeflateAccepted]
// on a client.
//
// A [WebTransportConn] carries Engine.IO over WebTransport (HTTP/3 over
// QUIC, with quic-go and webtransport-go), as the reference does: one
// bidirectional stream of length-framed packets
// ([codec.AppendStreamFrame]). A [WebTransportServer] accepts sessions
// ([WebTransportServer.Upgrade], then [WebTransportConn.Handshake] reads
// the client's open packet); [DialWebTransport] opens one, verifying the
// server's certificate or pinning it by hash as browsers'
// serverCertificateHashes do.
//
// Memory follows the bytes a peer sends, not the lengths it declares: a
// message or body is read into a buffer that grows as its bytes arrive,
// and a [ReadBudget] bounds those buffers across connections.
//
// It knows frames and bodies, not sessions: the eio package decides what a
// packet means and which session it belongs to.
package transport
