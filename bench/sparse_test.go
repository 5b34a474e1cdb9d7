package bench

import (
	"testing"
	"time"
)

// BenchmarkSparseEcho: many connections that each send a message now and
// then, more than chanio's park delay apart, so that every message finds
// its connection parked on the poller and wakes a reader for it (the bare
// server keeps a goroutine blocked in read per connection instead). It
// prices what parking saves in memory: the CPU per message of a quiet
// connection. b.N is the number of messages, sent in rounds of one per
// connection, a round every sparseGap.
func BenchmarkSparseEcho(b *testing.B) {
	const conns = 2000
	if conns > maxSessions() {
		b.Skipf("%d sessions need more open files than this process may have", conns)
	}
	for _, name := range []string{"baseline", "chanio"} {
		b.Run(name, func(b *testing.B) {
			s := startServer(b, name)
			clients := dialClients(b, s, conns)
			sparseRound(b, clients) // the connections' first message, off the clock
			time.Sleep(sparseGap)
			b.ResetTimer()
			rounds := max(1, (b.N+conns-1)/conns)
			cpu0 := s.cpuTime(b)
			next := time.Now()
			for i := 0; i < rounds; i++ {
				sparseRound(b, clients)
				next = next.Add(sparseGap)
				time.Sleep(time.Until(next))
			}
			cpu := s.cpuTime(b) - cpu0
			b.StopTimer()
			r := echoResult{msgs: rounds * conns, cpu: cpu}
			b.ReportMetric(r.msgsPerCPU(), "msgs/cpu-s")
			if name == "baseline" {
				baselineFigures["sparse-echo"] = r
			} else if base, ok := baselineFigures["sparse-echo"]; ok && base.msgsPerCPU() > 0 {
				b.ReportMetric(r.msgsPerCPU()/base.msgsPerCPU(), "x-baseline-cpu")
				record(row{scenario: "ws sparse echo (2000 conns, 1 msg each per 200 ms)", unit: "msgs/cpu-s",
					chanio: r.msgsPerCPU(), baseline: base.msgsPerCPU(), target: measured})
			}
		})
	}
}

// sparseGap is the time between two messages of a connection: twice
// chanio's park delay, so that every message wakes a parked connection.
const sparseGap = 200 * time.Millisecond

// sparseRound sends one short message on every client, then reads every
// echo.
func sparseRound(b *testing.B, clients []*wsClient) {
	b.Helper()
	for _, c := range clients {
		sendHello(b, c)
	}
	for _, c := range clients {
		if _, p, err := c.read(); err != nil || len(p) == 0 {
			b.Fatalf("sparse echo = %q, %v", p, err)
		}
	}
}
