package bench

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// BenchmarkBroadcast: one client sends "broadcast:<32 B>" and the server
// sends it to each of 5,000 WebSocket sessions (chanio: the echo example's
// loop of Send calls; baseline: a loop of writes). b.N is the number of
// broadcasts; the figure is deliveries per second of server CPU. At most
// 4 broadcasts are in flight, so that no reader falls a queue behind.
func BenchmarkBroadcast(b *testing.B) {
	const sessions, inflight = 5000, 4
	for _, name := range []string{"baseline", "chanio"} {
		b.Run(strconv.Itoa(sessions)+"/"+name, func(b *testing.B) {
			if sessions+100 > maxSessions() {
				b.Skipf("%d sessions need more open files than this process may have", sessions)
			}
			s := startServer(b, name)
			clients := dialClients(b, s, sessions+1)
			sender, receivers := clients[0], clients[1:]
			msg := []byte("4broadcast:" + string(make32()))
			perSec, rate := runBroadcast(b, s, clients, sender, receivers, msg, inflight)
			b.ReportMetric(perSec, "deliveries/s")
			b.ReportMetric(rate, "deliveries/cpu-s")
			if name == "baseline" {
				baselineRates["broadcast"] = rate
			} else if base := baselineRates["broadcast"]; base > 0 {
				b.ReportMetric(rate/base, "x-baseline-cpu")
				record(row{scenario: "broadcast to 5000", unit: "deliveries/cpu-s", chanio: rate,
					baseline: base, target: atLeastRatio(0.8)})
			}
		})
	}
}

// runBroadcast has sender send msg b.N times (after 4 to warm up), each
// a broadcast the server delivers to every one of receivers, with at most
// inflight broadcasts not yet fully delivered; it returns the deliveries
// per second and per second of server CPU. It closes the clients.
func runBroadcast(b *testing.B, s *server, clients []*wsClient, sender *wsClient, receivers []*wsClient, msg []byte, inflight int64) (perSec, perCPU float64) {
	b.Helper()
	sessions := int64(len(receivers))
	var delivered atomic.Int64
	var wg sync.WaitGroup
	for _, c := range receivers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, _, err := c.read(); err != nil {
					return
				}
				delivered.Add(1)
			}
		}()
	}
	if !slices.Contains(receivers, sender) {
		// The sender's own copies are read too, so that its socket never fills.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, _, err := sender.read(); err != nil {
					return
				}
			}
		}()
	}
	send := func(n int) {
		for i := 0; i < n; i++ {
			for int64(i)-delivered.Load()/sessions >= inflight {
				time.Sleep(50 * time.Microsecond)
			}
			if err := sender.write(ws.OpText, msg); err != nil {
				b.Fatal(err)
			}
			if err := sender.w.Flush(); err != nil {
				b.Fatal(err)
			}
		}
		for delivered.Load() < int64(n)*sessions {
			time.Sleep(time.Millisecond)
		}
	}
	send(4) // warm up
	delivered.Store(0)
	cpu0 := s.cpuTime(b)
	start := time.Now()
	b.ResetTimer()
	send(b.N)
	b.StopTimer()
	elapsed, cpu := time.Since(start), s.cpuTime(b)-cpu0
	for _, c := range clients {
		_ = c.Close()
	}
	wg.Wait()
	deliveries := float64(b.N) * float64(sessions)
	if cpu > 0 {
		perCPU = deliveries / cpu.Seconds()
	}
	return deliveries / elapsed.Seconds(), perCPU
}

// make32 is a 32-byte text payload.
func make32() []byte {
	p := make([]byte, 32)
	for i := range p {
		p[i] = 'a' + byte(i%26)
	}
	return p
}
