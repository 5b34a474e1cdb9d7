// Package sio is a Socket.IO (protocol 5) server on chanio's Engine.IO
// server, for the clients people ship: socket.io-client 4.x in browsers and
// Node, python-socketio, and the Swift, Java and C++ clients.
//
// # Start here
//
// Make a Server with NewServer, mount it (an http.Handler) at its path,
// "/socket.io/", and read each namespace's events from its channel. Sockets,
// rooms and namespaces have Emit methods that never wait on a client:
//
//	srv := sio.NewServer(nil)
//	http.Handle("/socket.io/", srv)
//	go http.ListenAndServe(":3000", nil)
//	for ev := range srv.Of("/").Events() {
//		switch ev.Type {
//		case sio.EventConnect:
//			ev.Socket.Join("lobby")
//		case sio.EventMessage:
//			var text string
//			ev.Args.Decode(&text)
//			srv.To("lobby").Emit(ev.Name, text) // every event, whatever its name
//			ev.Ack("ok")                        // when the client asked for one
//		}
//	}
//
// # What the server does
//
//   - Namespaces: [Server.Of], and parent namespaces that make children on
//     demand, [Server.OfFunc] and [Server.OfRegexp]. A client connection
//     carries sockets in several namespaces and may leave one and stay in
//     the others. Each namespace's [Namespace.Events] is its catch-all:
//     every event, whatever its name, with its arguments as raw JSON and
//     binary attachments ([Args], which decodes them into Go values).
//   - Middleware per namespace ([Namespace.Use]) that accepts (keeping data
//     with [Socket.SetData]) or refuses with a message and data
//     ([ConnectError]).
//   - Emits to one socket, to rooms ([Namespace.To], [Socket.To], Except,
//     several rooms at once, each socket once), to a namespace, volatile
//     ones that are dropped rather than queued; acknowledgements both ways,
//     with a context deadline ([Socket.EmitWithAck]) and from many sockets
//     ([Broadcast.EmitWithAck]).
//   - Rooms: [Socket.Join], [Socket.Leave], [Socket.Rooms], and on many
//     sockets at once [Broadcast.SocketsJoin], SocketsLeave,
//     DisconnectSockets and FetchSockets. Every socket is in the room of its
//     own id; rooms empty away as sockets leave.
//   - Connection state recovery ([Options].Recovery): a client that comes
//     back within the window gets its socket id, rooms, data and the events
//     it missed.
//   - A cluster on NATS ([JoinCluster]): room broadcasts, acknowledgements
//     from many sockets, FetchSockets and ServerSideEmit span every node.
//
// # Goroutines
//
// One goroutine of the server reads every client connection and hands each
// namespace its events, in order per socket: EventConnect, its
// EventMessages, EventDisconnect. While a namespace's channel is full, it
// waits, and every client waits with it: read every namespace you make.
// Calls that wait for a client (EmitWithAck) must not run in the goroutine
// that reads the events they depend on; start a goroutine for them.
// Middleware runs in a goroutine per connecting socket, owned by the
// server. Stop the server with [Server.Shutdown] or [Server.Close]: both
// return once every goroutine has ended and every namespace's channel is
// closed.
package sio
