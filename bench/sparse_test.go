package bench

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkSparseEcho: many connections that each send a message now and
// then, more than chanio's park delay apart, so that every message finds
// its connection parked on the poller and wakes a reader for it (the bare
// server keeps a goroutine blocked in read per connection instead). It
// prices what parking saves in memory: the CPU per message of a quiet
// connection. The cases are issue 19's: 10,000 connections with a message
// each every second, and 2,000 with one every 200 ms.
//
// b.N is the number of rounds: in a round every connection sends one
// message and reads its echo, the connections spread evenly over the gap
// (a batch every sparseTick), so that each one's messages are exactly the
// gap apart and the server sees a steady 10,000 messages a second. Both
// servers answer the protocol's heartbeat as usual (chanio pings every
// 25 s: about one pong per 25 messages at one a second), and the figure
// counts echoed messages only.
func BenchmarkSparseEcho(b *testing.B) {
	for _, sc := range []struct {
		conns int
		gap   time.Duration
	}{{10000, time.Second}, {2000, 200 * time.Millisecond}} {
		key := fmt.Sprintf("%d-every-%v", sc.conns, sc.gap)
		for _, name := range []string{"baseline", "chanio"} {
			b.Run(key+"/"+name, func(b *testing.B) {
				if sc.conns+200 > maxSessions() {
					b.Skipf("%d sessions need more open files than this process may have", sc.conns)
				}
				s := startServer(b, name, serverArgs(name)...)
				clients := dialClients(b, s, sc.conns)
				sparseRound(b, clients, sc.gap) // the connections' first message, off the clock
				b.ResetTimer()
				cpu0 := s.cpuTime(b)
				for range b.N {
					sparseRound(b, clients, sc.gap)
				}
				cpu := s.cpuTime(b) - cpu0
				b.StopTimer()
				r := echoResult{msgs: b.N * sc.conns, cpu: cpu}
				b.ReportMetric(r.msgsPerCPU(), "msgs/cpu-s")
				if name == "baseline" {
					baselineFigures["sparse-echo/"+key] = r
				} else if base, ok := baselineFigures["sparse-echo/"+key]; ok && base.msgsPerCPU() > 0 {
					b.ReportMetric(r.msgsPerCPU()/base.msgsPerCPU(), "x-baseline-cpu")
					record(row{scenario: fmt.Sprintf("ws sparse echo (%d conns, 1 msg each per %v)", sc.conns, sc.gap), unit: "msgs/cpu-s",
						chanio: r.msgsPerCPU(), baseline: base.msgsPerCPU(), target: atLeastRatio(0.9)})
				}
			})
		}
	}
}

// sparseTick is how often BenchmarkSparseEcho sends a batch.
const sparseTick = 10 * time.Millisecond

// sparseRound sends one short message on every client, spread evenly over
// gap in batches every sparseTick, reads each batch's echoes before the
// next, and returns when gap has passed since it began.
func sparseRound(b *testing.B, clients []*wsClient, gap time.Duration) {
	b.Helper()
	ticks := max(1, int(gap/sparseTick))
	start := time.Now()
	for k := range ticks {
		batch := clients[k*len(clients)/ticks : (k+1)*len(clients)/ticks]
		for _, c := range batch {
			sendHello(b, c)
		}
		for _, c := range batch {
			if _, p, err := c.read(); err != nil || len(p) == 0 {
				b.Fatalf("sparse echo = %q, %v", p, err)
			}
		}
		time.Sleep(time.Until(start.Add(time.Duration(k+1) * gap / time.Duration(ticks))))
	}
}
