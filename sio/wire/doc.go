// Package wire owns every byte of Socket.IO (protocol 5) on the wire: the
// packets CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR, BINARY_EVENT and
// BINARY_ACK, their namespaces and ack ids, their JSON payloads and their
// binary attachments. It is shared by chanio's Socket.IO server and client;
// the Engine.IO layer below it is package eio.
//
// # Start here
//
// A Socket.IO packet travels as one Engine.IO text message, followed, when it
// carries binary data, by one Engine.IO binary message per attachment. To
// send a packet, build its payload with [AppendEvent] or [AppendArgs] (which
// turn []byte arguments into placeholders and collect the attachments), then
// [Append] the text message and send the attachments after it:
//
//	data, atts, err := wire.AppendEvent(nil, nil, "chat", "hello", []byte{1, 2})
//	text, err := wire.Append(nil, &wire.Packet{Type: wire.Event, Namespace: "/", Data: data, Attachments: atts})
//	// send text as a text message, then each of atts as a binary message
//
// To receive, give every Engine.IO message of a connection, in order, to one
// [Decoder]. It answers with a complete [Packet] once the text message and all
// its attachments have arrived:
//
//	var d wire.Decoder
//	p, ok, err := d.Add(msg, binary)
//	if err != nil { /* close the connection: the peer broke the protocol */ }
//	if ok && p.Type == wire.Event {
//		name, args, _ := wire.EventArgs(&p)
//		var text string
//		args.Decode(&text)
//	}
//
// # Strictness
//
// The decoder accepts what the reference socket.io-parser accepts from a
// well-behaved peer, and refuses, with a [*Error] naming one of the Err
// sentinels, what it cannot make sense of: an unknown type, a malformed
// attachment count, namespace or ack id, a payload that is not JSON or not of
// the shape the packet type requires (an EVENT's payload is a non-empty array
// whose first element, the event name, is a string other than the reserved
// names, or a number), placeholders that do not match the announced number
// of attachments, and anything past the [Limits]. It never panics and never
// sizes a buffer from a number the peer sent.
//
// Decoded packets alias the bytes they were decoded from: nothing is copied.
package wire
