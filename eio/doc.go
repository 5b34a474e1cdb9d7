// Package eio is an Engine.IO (protocol 4, and 3 on request) server and
// client, wire-compatible with the JavaScript engine.io and
// engine.io-client and with python-engineio, over HTTP long-polling,
// WebSocket, and the upgrade from one to the other; and over WebTransport
// (HTTP/3), directly or upgraded from polling, with engine.io-client.
//
// # Server
//
// Create a [Server] with [NewServer] and mount it, an [http.Handler], at
// its path ("/engine.io/" by default). Read what happens from
// [Server.Events] (connect, messages, an upgrade from polling to
// WebSocket, disconnect) and answer with [Server.Send], or reach many
// sessions at once with [Server.Broadcast], which encodes the message once
// for all of them. [Options.AuthorizeSession] decides on each handshake
// and gives the session its first data:
//
//	srv := eio.NewServer(nil)
//	http.Handle("/engine.io/", srv)
//	go http.ListenAndServe(":8080", nil)
//	for ev := range srv.Events() {
//		if ev.Type == eio.EventMessage {
//			srv.Send(ev.SID, ev.Data) // echo
//		}
//	}
//
// Each session is an actor: its state has one owner, a pass of its actor
// that runs on a goroutine only while there is work, and everything else
// (HTTP handlers, WebSocket readers, its timer, your Send calls) reaches it
// through bounded mailboxes and a few atomic flags. An idle session holds
// no goroutine, and a quiet WebSocket none either. Send never waits on a
// slow peer: past [Options.MaxQueueBytes] it fails with [ErrSlowConsumer]
// and the session ends. A slow reader of Events pauses the sessions'
// reads rather than letting memory grow; events are never dropped while
// the server runs. Stop the server with [Server.Shutdown] (graceful) or
// [Server.Close] (now); both wait for every goroutine and then close the
// Events channel.
//
// # WebTransport
//
// [Server.ListenWebTransport] serves the same Server over HTTP/3 on a UDP
// port (that of its TCP one's number, where browsers look): WebTransport
// sessions, opened directly or as an upgrade from polling, join the same
// registry, Events and heartbeat, and the open packet lists webtransport
// from then on. A client takes it with [TransportWebTransport] in
// ClientOptions.Transports, and pins a self-signed development
// certificate with ClientOptions.CertificateHashes as a page does with
// serverCertificateHashes.
//
// # Requests that race
//
// A long-polling client has requests in flight on several connections at
// once (a GET held, a POST, the WebSocket of an upgrade), and one sent
// later may be handled first. The server answers them as the reference
// server does, which handles requests in the order their bytes arrive,
// whichever goroutine runs first: a GET sent just before a POST that
// closes the session gets a noop and the POST is answered once the session
// is gone; a GET sent after an upgrade packet gets 400 even if it is
// handled before the packet is read; a second WebSocket for a session is
// accepted and then closed. Where the answer depends on such an order, the
// session waits up to 100 ms for requests already sent to arrive.
//
// # Client
//
// [Dial] connects to any compliant server (chanio, the Node engine.io
// server, python-engineio) and returns a [Client] once the session is
// open. By default it starts on long-polling and upgrades to WebSocket;
// [ClientOptions] picks the transports, path, headers, TLS and HTTP
// client. The Client has the same [Event] stream and Send methods as a
// server session; [Client.Close] sends a close packet after what is queued
// and waits for its goroutines, and [Client.Done] and [Client.Reason] tell
// how the connection ended:
//
//	c, err := eio.Dial(ctx, "http://127.0.0.1:3000", nil)
//	if err != nil {
//		return err
//	}
//	defer c.Close(ctx)
//	c.Send([]byte("hello"))
//	for ev := range c.Events() {
//		fmt.Println(ev.Type, string(ev.Data))
//	}
//
// Like a session, an idle Client on WebSocket over plain TCP holds no
// goroutine: every Client of the process shares one timer goroutine and
// one poller for its quiet WebSockets, started by the first Dial and
// stopped when the last Client ends, so that a program holding 10,000
// idle WebSocket clients runs two goroutines for them. A WebSocket over
// TLS keeps its reader's goroutine (the poller needs a plain socket), and
// a long-polling Client one for its GET.
//
// # Hostile peers
//
// A session id is a bearer token, in every Engine.IO server: whoever
// holds it can long-poll the session's messages, post as it, and take it
// over by upgrading to WebSocket from anywhere. Serve over TLS, keep ids
// out of logs and URLs you share (the server logs them at Debug only; see
// [Options.Logger]), and set [Options.BindCookie] to bind each session to
// a secret cookie set on its handshake, so that an id alone is refused.
//
// Memory follows the bytes a peer sends, not the lengths it declares (see
// [Options.MaxPayload] for what one connection can cost, and
// [Options.MaxBytesInFlight] for a server-wide bound); a POST body is read
// within [Options.BodyTimeout]. What the server logs about its peers is
// bounded and rate-limited. The [http.Server] you mount the server on
// bounds the rest: set ReadHeaderTimeout, IdleTimeout and MaxHeaderBytes,
// as the examples do.
//
// # How it is built
//
// The protocol core is endpoint.go: one state machine, the endpoint, that
// a server's session and a Client both are: the outbound queue and its
// batching, the dispatch of what arrives, the heartbeat, the upgrade
// (probe, switch, abandon), the close and its reasons, the events. What
// differs by side is the side interface it calls and the endpointEnv it
// reads (constants, built by newServer in server.go and by the Client's
// start in client.go).
//
// The server's side is three files: session.go implements side for a
// session (on protocol 4 it pings, on protocol 3 it answers the client's
// pings; it holds the client's long-poll GET and settles one that races
// an upgrade; it answers the upgrade's probe; it lingers for a GET after
// a client's close; Shutdown's grace; handshakes announced before their
// 101; the session's data); server.go is the Server (its options, the
// session table, Send, Broadcast, Stats, Shutdown); http.go routes each
// request to the handshake or to its session.
//
// The client's side is two files: client.go is the Client and implements
// side for it (it answers pings; it keeps its GET and POSTs in flight; it
// dials and probes the upgrade; it waits for the server's close frame;
// the runtime clients share); client_conn.go holds its handshake and how
// its failed requests become errors.
//
// The endpoint never asks which transport it holds: each is a
// transport.Conn (transport/conn.go, with the Receiver it reports to and
// the Readers of streams) of package transport, where every transport
// lives: WebSocket (transport/websocket.go; dialed and accepted in
// transport/websocket_open.go), the server's long-polling
// (transport/polling.go, Poll) and the client's
// (transport/polling_client.go, PollClient, which also inflates the
// responses). transport/webtransport.go holds WebTransport, which is not
// yet in the table of kind.go, so eio does not serve it. Around them:
// transport/kind.go is the table of stream transports a server accepts
// and a client dials, transport/proxy.go the client's CONNECT proxy, and
// transport/compress.go compression (polling responses, WebSocket
// permessage-deflate). transport/doc.go says how to add a transport.
//
// An endpoint runs on package actor: an actor.Runner runs its passes,
// actor.Mailboxes carry what reaches it, and its one timer, re-armed to
// its nearest deadline, lives on an actor.Supervisor that serves every
// session of a Server (or every Client of the process) on one goroutine.
package eio
