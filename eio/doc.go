// Package eio is an Engine.IO (protocol 4, and 3 on request) server and
// client, wire-compatible with the JavaScript engine.io and
// engine.io-client and with python-engineio, over HTTP long-polling,
// WebSocket, and the upgrade from one to the other.
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
// Each session is an actor: one goroutine owns its state, and everything
// else (HTTP handlers, WebSocket readers, the heartbeat supervisor, your
// Send calls) reaches it through bounded mailboxes. Send never waits on a
// slow peer: past [Options.MaxQueueBytes] it fails with [ErrSlowConsumer]
// and the session ends. A slow reader of Events pauses the sessions'
// reads rather than letting memory grow; events are never dropped while
// the server runs. Stop the server with [Server.Shutdown] (graceful) or
// [Server.Close] (now); both wait for every goroutine and then close the
// Events channel.
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
package eio
