// Package bench holds chanio's benchmarks. Each scenario runs against
// chanio (examples/echo) and against a bare gobwas/ws echo server
// (bench/baseline), and where issue 19 compares with it against Node's
// engine.io 6.6 server (interop/js/eio-bench-server.js, the npm package
// pinned in interop/js), in the same run, each server in its own process
// pinned to CPU 0 when taskset is available, and reports its figures as
// ratios to the baseline: msgs/s, msgs per second of server CPU time
// (read from /proc), p50/p99 latency and bytes per session.
//
// Run them with `make bench` or `go test -bench . ./bench`. `make
// bench-scale` runs BenchmarkScale alone: 100,000 WebSocket sessions on
// six examples/cluster nodes, held by bench/scaleload processes.
package bench
