// Package conformance is chanio's Engine.IO protocol v4 conformance suite.
//
// It has no code of its own. Its tests build examples/echo once, start it
// with the suite's settings
//
//	-ping-interval 300ms -ping-timeout 200ms -max-payload 1000000 -cors '*'
//
// (a few tests add flags of their own, such as a short -upgrade-timeout),
// and talk to it over real sockets with a raw protocol client written in
// the tests: net/http for HTTP long-polling, gobwas/ws for WebSocket. They
// check the rules of the v4 specification
// (https://github.com/socketio/engine.io-protocol) and, where it is silent,
// the behaviour of the reference server (packages/engine.io in
// socketio/socket.io) and of the specification's own test suite.
//
// Run it with
//
//	go test -race ./conformance
//
// One file per area: handshake, errors, polling, websocket, upgrade and
// heartbeat.
package conformance
