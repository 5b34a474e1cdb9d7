package bench

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// BenchmarkIdleSessions holds N idle WebSocket sessions on each server and
// reports the server's resident memory per session (RSS growth over the
// empty server, divided by N). Sessions are measured fresh (nothing sent
// since the handshake) and used (one message echoed each, then quiet: what
// a long-lived idle session looks like). b.N does not scale it: one
// iteration is one measurement.
func BenchmarkIdleSessions(b *testing.B) {
	cases := []struct {
		state string
		n     int
	}{{"fresh", 1000}, {"fresh", 5000}, {"fresh", 10000}, {"used", 10000}}
	for _, tc := range cases {
		for _, name := range []string{"baseline", "chanio"} {
			b.Run(fmt.Sprintf("%s/%d/%s", tc.state, tc.n, name), func(b *testing.B) {
				if tc.n > maxSessions() {
					b.Skipf("%d sessions need more open files than this process may have", tc.n)
				}
				var perSession float64
				for i := 0; i < b.N; i++ {
					perSession = idleRSS(b, name, tc.n, tc.state == "used")
				}
				b.ReportMetric(perSession, "bytes/session")
				key := fmt.Sprintf("idle/%s/%d", tc.state, tc.n)
				if name == "baseline" {
					baselineMemory[key] = perSession
				} else if base := baselineMemory[key]; base > 0 {
					b.ReportMetric(perSession/base, "x-baseline-mem")
					tgt := target{"(measured)", func(row) bool { return true }}
					if tc.n == 10000 {
						tgt = atMost(6*1024, "6 KiB")
					}
					record(row{scenario: fmt.Sprintf("idle ws sessions %5d %s", tc.n, tc.state), unit: "RSS bytes/session",
						chanio: perSession, baseline: base, target: tgt})
				}
			})
		}
	}
}

var baselineMemory = map[string]float64{}

// idleSettle is how long sessions sit idle before the server's RSS is read.
const idleSettle = 5 * time.Second

// idleRSS starts a fresh server, measures its RSS, opens n sessions (used:
// and echoes one message on each), waits for the server to settle and
// returns the RSS growth per session.
func idleRSS(b *testing.B, name string, n int, used bool) float64 {
	b.StopTimer()
	s := startServer(b, name, serverArgs(name)...)
	time.Sleep(200 * time.Millisecond)
	before := s.rss(b)
	b.StartTimer()
	clients := dialClients(b, s, n)
	b.StopTimer()
	if used {
		for _, c := range clients {
			exchangeOne(b, c)
		}
	}
	// Let the server finish the handshakes, its readers go quiet (chanio
	// parks a reader after a second without data) and the runtime run a
	// GC or two: the figure is the steady idle cost, not the handshakes'
	// garbage. Both servers get the same time.
	time.Sleep(idleSettle)
	after := s.rss(b)
	for _, c := range clients {
		_ = c.Close()
	}
	runtime.KeepAlive(clients)
	return float64(after-before) / float64(n)
}

// exchangeOne sends a short message on c and waits for its echo.
func exchangeOne(b *testing.B, c *wsClient) {
	b.Helper()
	msg := []byte("hello")
	if c.eio {
		msg = []byte("4hello")
	}
	if err := c.write(ws.OpText, msg); err != nil {
		b.Fatalf("idle client write: %v", err)
	}
	if err := c.w.Flush(); err != nil {
		b.Fatalf("idle client flush: %v", err)
	}
	if _, p, err := c.read(); err != nil || string(p) != string(msg) {
		b.Fatalf("idle client echo = %q, %v; want %q", p, err, msg)
	}
}

// serverArgs are the flags each server runs with in these benchmarks: the
// protocol's default heartbeat for chanio.
func serverArgs(string) []string { return nil }
