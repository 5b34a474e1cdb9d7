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
// The tests wait on what the server did, never on time: the end of a
// session shows in the line examples/echo logs at -v when its application
// hears of it (waitEnded); a POST being read shows in net/http's
// "100 Continue"; queued messages show in a broadcast that comes after
// them. Only the tests of timing (the heartbeat, the upgrade timeout, a
// ping falling due during a probe, the HTTP server's idle bound) measure
// time, as lower bounds. The tests run one at a time: with the suite's
// 300ms ping interval and 200ms timeout, a session a test keeps without
// ponging lives half a second, so every test is bounded in time, and
// running them side by side on a loaded machine makes them miss it.
//
// One file per area: handshake, errors, polling, websocket, upgrade and
// heartbeat.
package conformance
