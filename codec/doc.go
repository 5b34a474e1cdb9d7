// Package codec owns every byte of Engine.IO on the wire: packets, polling
// payloads and the open packet's handshake, for protocol versions 4 and 3.
//
// Start with [Packet]. A WebSocket frame carries one packet: encode it with
// [AppendFrame] and decode it with [DecodeFrame]. A long-polling HTTP body
// carries a payload of several packets: [AppendPayload] and [DecodePayload]
// (and, for protocol 3 clients that read and post binary bodies,
// [AppendBinaryPayload] and [DecodeBinaryPayload]; for those that asked
// for base64 on a WebSocket, [AppendBase64Frame]). A WebTransport stream
// carries packets one after another, each behind a length header:
// [AppendStreamFrame] writes them and a [StreamDecoder] reads them as the
// stream's bytes arrive. [AppendHandshake],
// [AppendHandshakeV3] and [ParseHandshake] handle the JSON of the open
// packet.
//
// Encoders append to a caller's buffer, so a reused buffer costs no
// allocation. Decoders do not copy text: a decoded packet's Data points into
// the input and is valid while the input is. Bad input returns a
// [*SyntaxError] wrapping one of the Err* sentinels; the codec never panics
// on any input.
package codec
