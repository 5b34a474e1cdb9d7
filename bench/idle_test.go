package bench

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkIdleSessions holds N idle WebSocket sessions on each server and
// reports the server's resident memory per session (RSS growth over the
// empty server, divided by N). b.N does not scale it: one iteration is one
// measurement.
func BenchmarkIdleSessions(b *testing.B) {
	for _, n := range []int{1000, 5000, 10000} {
		for _, name := range []string{"baseline", "chanio"} {
			b.Run(fmt.Sprintf("%d/%s", n, name), func(b *testing.B) {
				if n > maxSessions() {
					b.Skipf("%d sessions need more open files than this process may have", n)
				}
				var perSession float64
				for i := 0; i < b.N; i++ {
					perSession = idleRSS(b, name, n)
				}
				b.ReportMetric(perSession, "bytes/session")
				key := fmt.Sprintf("idle/%d", n)
				if name == "baseline" {
					baselineMemory[key] = perSession
				} else if base := baselineMemory[key]; base > 0 {
					b.ReportMetric(perSession/base, "x-baseline-mem")
					tgt := target{"(measured)", func(row) bool { return true }}
					if n == 10000 {
						tgt = atMost(6*1024, "6 KiB")
					}
					record(row{scenario: fmt.Sprintf("idle ws sessions %5d", n), unit: "RSS bytes/session",
						chanio: perSession, baseline: base, target: tgt})
				}
			})
		}
	}
}

var baselineMemory = map[string]float64{}

// idleSettle is how long sessions sit idle before the server's RSS is read.
const idleSettle = 5 * time.Second

// idleRSS starts a fresh server, measures its RSS, opens n sessions,
// waits for the server to settle and returns the RSS growth per session.
func idleRSS(b *testing.B, name string, n int) float64 {
	b.StopTimer()
	s := startServer(b, name, serverArgs(name)...)
	time.Sleep(200 * time.Millisecond)
	before := s.rss(b)
	b.StartTimer()
	clients := dialClients(b, s, n)
	b.StopTimer()
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

// serverArgs are the flags each server runs with in these benchmarks: the
// protocol's default heartbeat for chanio.
func serverArgs(string) []string { return nil }
