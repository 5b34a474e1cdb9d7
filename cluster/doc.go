// Package cluster runs chanio servers as one Engine.IO service on NATS: a
// load balancer in front needs no session affinity, and any node can reach
// any session.
//
// # Start here
//
// Connect to NATS with nats.go, then call [Join] on every node with the
// same options. Serve HTTP with the [Node] instead of its eio.Server, and
// read the node's events from Node.Server().Events():
//
//	nc, err := nats.Connect("nats://nats.internal:4222")
//	node, err := cluster.Join(ctx, nc, &eio.Options{}, &cluster.Options{NodeID: "a"})
//	http.Handle("/engine.io/", node)
//	go http.ListenAndServe(":8080", nil)
//	for ev := range node.Server().Events() {
//		if ev.Type == eio.EventMessage {
//			node.Broadcast(ev.Data) // to every session of every node
//		}
//	}
//
// Stop a node with [Node.Shutdown] (graceful) or [Node.Close] (now), then
// close the NATS connection, which stays yours.
//
// # What a node does
//
// Session ids name their owner: 20 random URL-safe characters (120 bits
// from crypto/rand, or what eio.Options.GenerateID makes), ".", and the
// node id. So every node can tell where a session lives.
//
//   - A polling GET or POST that reaches a node other than the owner is
//     forwarded to the owner and answered with the owner's response,
//     held long-polls included; a WebSocket upgrade is accepted where it
//     arrives and its frames relayed to and from the owner. Both travel
//     over a tunnel: a byte stream over NATS, flow-controlled, on which
//     the owner serves plain HTTP with its eio.Server.
//   - [Node.Send], [Node.SendBinary], [Node.SendJSON] and [Node.Disconnect]
//     reach a session on any node, with a local call's errors
//     ([eio.ErrUnknownSession], [eio.ErrSessionClosed],
//     [eio.ErrSlowConsumer]) within a context deadline.
//   - [Node.Broadcast] sends to every session of every node.
//   - Nodes beat every HeartbeatInterval. A node silent for NodeTimeout is
//     dead: the others end their tunnels to it (its relayed clients see a
//     transport close and can reconnect through any node), answer requests
//     for its sessions with 400 {"code":1,"message":"Session ID unknown"}
//     at once, and fail Send to them with [eio.ErrUnknownSession]. A node
//     that shuts down says goodbye, which the others take at once.
//
// # Events stay local
//
// Each node's Server().Events() carries the connects, messages and
// disconnects of the sessions it owns, and only those: a session's events
// all come from one node, in order, whichever node its requests went
// through. An application therefore runs its event loop on every node and
// keeps per-session state where the session lives. To act on a session of
// another node, address it by sid: [Node.Send] and [Node.Disconnect] route
// by the id. State that must be seen from every node (who is logged in as
// whom, room membership) belongs in a shared store, keyed by sid or user;
// application messages between nodes can use the NATS connection directly,
// on subjects outside Options.Subject. Cluster-wide counts are the sum of
// each node's Server().Len().
//
// # Limits
//
// A remote Send, Disconnect or Broadcast is one NATS message: a message
// over the server's max_payload (1 MB by default, nats.Conn.MaxPayload)
// fails with [ErrTooLarge]. Forwarded requests and relayed WebSockets are
// cut in frames of at most 32 KiB and are not bound by max_payload. A
// remote call whose context ends may or may not have been delivered, as
// with any request over a network.
//
// Sends made one after another (each call returned before the next) reach
// the session in that order; a Broadcast is not ordered with Sends from
// other nodes.
//
// A connection passes through the node the load balancer gave it to: a
// WebSocket relayed by a node, or a long-poll held through it, ends when
// that node dies, as it would with a proxy that dies, even though the
// session's owner lives on. The client sees a transport error and
// reconnects.
//
// Anything that can publish on the cluster's subjects can act as a node:
// give the nodes a NATS account or permissions of their own.
package cluster
