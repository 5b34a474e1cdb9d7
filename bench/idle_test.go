package bench

import (
	"fmt"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// BenchmarkIdleSessions holds N idle WebSocket sessions on each server and
// reports, per session, the server's resident memory (RSS growth over the
// empty server, divided by N), its live heap after a forced collection, and
// its goroutines. Sessions are measured fresh (nothing sent since the
// handshake) and used (one message echoed each, then quiet: what a
// long-lived idle session looks like). At 10,000 Node's engine.io is
// measured too (its live heap is V8's heap and Buffers after a full
// collection). b.N does not scale it: one iteration is one measurement.
func BenchmarkIdleSessions(b *testing.B) {
	cases := []struct {
		state string
		n     int
	}{{"fresh", 1000}, {"fresh", 5000}, {"fresh", 10000}, {"used", 10000}}
	for _, tc := range cases {
		servers := []string{"baseline", "chanio"}
		if tc.n == 10000 {
			servers = []string{"baseline", "node", "chanio"}
		}
		for _, name := range servers {
			b.Run(fmt.Sprintf("%s/%d/%s", tc.state, tc.n, name), func(b *testing.B) {
				if tc.n > maxSessions() {
					b.Skipf("%d sessions need more open files than this process may have", tc.n)
				}
				var m idleCost
				for i := 0; i < b.N; i++ {
					m = measureIdle(b, name, tc.n, tc.state == "used")
				}
				b.ReportMetric(m.rss, "bytes/session")
				b.ReportMetric(m.heap, "heap-bytes/session")
				b.ReportMetric(m.goroutines, "goroutines/session")
				key := fmt.Sprintf("idle/%s/%d", tc.state, tc.n)
				switch name {
				case "baseline":
					baselineIdle[key] = m
					return
				case "node":
					nodeIdle[key] = m
					return
				}
				scenario := fmt.Sprintf("idle ws sessions %5d %s", tc.n, tc.state)
				if node, ok := nodeIdle[key]; ok && node.rss > 0 {
					b.ReportMetric(m.rss/node.rss, "x-node-mem")
					record(row{scenario: scenario + " " + nodeBaseline, unit: "RSS bytes/session", chanio: m.rss, baseline: node.rss, target: measured})
					record(row{scenario: scenario + " heap " + nodeBaseline, unit: "live heap bytes/session", chanio: m.heap, baseline: node.heap, target: measured})
				}
				base, ok := baselineIdle[key]
				if !ok {
					return
				}
				b.ReportMetric(m.rss/base.rss, "x-baseline-mem")
				// Issue 19: at most 3 KiB per session at 10,000, RSS and
				// live heap, fresh and used.
				tgt := measured
				if tc.n == 10000 {
					tgt = atMost(3*1024, "3 KiB")
				}
				record(row{scenario: scenario, unit: "RSS bytes/session", chanio: m.rss, baseline: base.rss, target: tgt})
				if tc.n == 10000 {
					record(row{scenario: scenario + " heap", unit: "live heap bytes/session", chanio: m.heap, baseline: base.heap, target: tgt})
					record(row{scenario: scenario + " goroutines", unit: "goroutines/session", chanio: m.goroutines, baseline: base.goroutines, target: measured})
				}
			})
		}
	}
}

// idleCost is what one idle session costs a server.
type idleCost struct {
	rss        float64 // resident bytes
	heap       float64 // live heap bytes, after a forced collection
	goroutines float64
}

var baselineIdle, nodeIdle = map[string]idleCost{}, map[string]idleCost{}

// idleSettle is how long sessions sit idle before the server's RSS is read.
const idleSettle = 5 * time.Second

// measureIdle starts a fresh server, measures it, opens n sessions (used:
// and echoes one message on each), waits for the server to settle and
// returns the growth per session.
func measureIdle(b *testing.B, name string, n int, used bool) idleCost {
	b.StopTimer()
	s := startServerWithDebug(b, name, serverArgs(name)...)
	time.Sleep(200 * time.Millisecond)
	return idleGrowth(b, s, n, func() (closeAll func()) {
		clients := dialClients(b, s, n)
		b.StopTimer()
		if used {
			for _, c := range clients {
				exchangeOne(b, c)
			}
		}
		return func() {
			for _, c := range clients {
				_ = c.Close()
			}
		}
	})
}

// idleGrowth measures s, runs open (on the clock) to open its n sessions,
// lets them sit idle for idleSettle and returns the growth per session;
// then it closes them with what open returned. The wait is what is
// measured, not a synchronisation: the server finishes the handshakes,
// its readers go quiet (chanio parks a reader after 100 ms without data)
// and the runtime runs a GC or two, so that the figure is the steady idle
// cost, not the handshakes' garbage. Every server gets the same time.
func idleGrowth(b *testing.B, s *server, n int, open func() (closeAll func())) idleCost {
	b.Helper()
	rssBefore := s.rss(b)
	heapBefore, goroutinesBefore := s.runtimeStats(b)
	b.StartTimer()
	closeAll := open()
	b.StopTimer()
	time.Sleep(idleSettle)
	rssAfter := s.rss(b) // before runtimeStats, which collects
	heapAfter, goroutinesAfter := s.runtimeStats(b)
	closeAll()
	per := func(before, after int64) float64 { return float64(after-before) / float64(n) }
	return idleCost{
		rss:        per(rssBefore, rssAfter),
		heap:       per(heapBefore, heapAfter),
		goroutines: per(int64(goroutinesBefore), int64(goroutinesAfter)),
	}
}

// exchangeOne sends a short message on c and waits for its echo.
func exchangeOne(b *testing.B, c *wsClient) {
	b.Helper()
	msg := sendHello(b, c)
	if _, p, err := c.read(); err != nil || string(p) != string(msg) {
		b.Fatalf("idle client echo = %q, %v; want %q", p, err, msg)
	}
}

// sendHello sends a short text message on c, in the server's protocol,
// and returns the frame's payload, which is also what the echo carries.
func sendHello(b *testing.B, c *wsClient) []byte {
	b.Helper()
	msg := []byte("hello")
	if c.eio {
		msg = []byte("4hello")
	}
	if err := c.write(ws.OpText, msg); err != nil {
		b.Fatalf("write: %v", err)
	}
	if err := c.w.Flush(); err != nil {
		b.Fatalf("flush: %v", err)
	}
	return msg
}

// serverArgs are the flags each server runs with in these benchmarks: the
// protocol's default heartbeat for chanio.
func serverArgs(string) []string { return nil }
