// Package interop tests chanio against the real Engine.IO peers: the
// official JavaScript engine.io server and engine.io-client (npm, pinned in
// js/package-lock.json) and python-engineio (Debian's python3-engineio).
//
// Peers that are not installed make their tests skip, with the command
// that installs them, unless CHANIO_REQUIRE_PEERS=1 (set by make interop
// and .ci/run), which turns the skip into a failure.
package interop
