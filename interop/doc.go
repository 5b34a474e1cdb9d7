// Package interop tests chanio against the real Engine.IO peers: the
// official JavaScript engine.io server and engine.io-client (npm, pinned in
// js/package-lock.json) and python-engineio (Debian's python3-engineio).
//
// WebTransport has one real peer here: the official engine.io-client bundle
// in Debian's Chromium (webtransport_test.go). The Node engine.io server
// speaks WebTransport only through @fails-components/webtransport, whose
// HTTP/3 half (@fails-components/webtransport-transport-http3-quiche, a
// native module) does not install on this machine: its install script
// downloads a prebuilt binary from GitHub releases, and failing that
// clones its third-party sources (quiche, BoringSSL) from GitHub to build
// them, and this machine reaches no host but the package registries. The
// JavaScript half installs, but its Http3Server then has no transport to
// load. So no test runs chanio's WebTransport client against a Node
// server.
//
// Peers that are not installed make their tests skip, with the command
// that installs them, unless CHANIO_REQUIRE_PEERS=1 (set by make interop
// and .ci/run), which turns the skip into a failure.
package interop
