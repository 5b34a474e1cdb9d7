package bench

import (
	"testing"
)

// baselineFigures remembers the baseline's result per scenario within one
// run, so that chanio's sub-benchmark can report its ratio.
var baselineFigures = map[string]echoResult{}

// BenchmarkWebSocketEcho: 50 connections, 16 messages in flight each, the
// server echoing every message. b.N is the number of messages.
func BenchmarkWebSocketEcho(b *testing.B) {
	const conns, window = 50, 16
	for _, sc := range []struct {
		name   string
		size   int
		binary bool
	}{
		{"text-32B", 32, false},
		{"text-1KiB", 1024, false},
		{"binary-1KiB", 1024, true},
		{"binary-32B", 32, true},
	} {
		for _, name := range []string{"baseline", "chanio"} {
			b.Run(sc.name+"/"+name, func(b *testing.B) {
				s := startServer(b, name)
				clients := dialClients(b, s, conns)
				// Warm up both sides before measuring.
				runEcho(b, s, clients, conns*window*4, window, sc.size, sc.binary)
				b.ResetTimer()
				r := runEcho(b, s, clients, b.N, window, sc.size, sc.binary)
				b.StopTimer()
				b.ReportMetric(r.msgsPerSec(), "msgs/s")
				b.ReportMetric(r.msgsPerCPU(), "msgs/cpu-s")
				b.ReportMetric(float64(r.p50.Microseconds()), "p50-µs")
				b.ReportMetric(float64(r.p99.Microseconds()), "p99-µs")
				if name == "baseline" {
					baselineFigures["ws-echo/"+sc.name] = r
				} else if base, ok := baselineFigures["ws-echo/"+sc.name]; ok && base.msgsPerCPU() > 0 {
					b.ReportMetric(r.msgsPerCPU()/base.msgsPerCPU(), "x-baseline-cpu")
					if base.p99 > 0 {
						b.ReportMetric(float64(r.p99)/float64(base.p99), "x-baseline-p99")
					}
					record(row{scenario: "ws echo " + sc.name, unit: "msgs/cpu-s", chanio: r.msgsPerCPU(),
						baseline: base.msgsPerCPU(), target: atLeastRatio(0.6)})
					record(row{scenario: "ws echo " + sc.name + " p99", unit: "µs", chanio: float64(r.p99.Microseconds()),
						baseline: float64(base.p99.Microseconds()), target: atMostRatio(1.5)})
				}
			})
		}
	}
}
