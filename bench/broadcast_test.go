package bench

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// broadcastServers are the servers BenchmarkBroadcast compares, each with
// the arguments that make it broadcast its way: the bare gobwas/ws server's
// loop of writes; chanio's echo example with a loop of Send (a queue entry
// and an encoding per session); and with Server.Broadcast (one encoding
// shared by every session's queue).
//
// chanio's servers ping every 10 minutes rather than every 25 seconds, so
// that no heartbeat falls inside a run: the bare server has none, and a
// session that answers a ping lets go of its queues when its connection
// goes quiet again (see TestServerTrimsQuietSessions), which would count
// a few allocations per session and ping against the broadcasts.
var broadcastServers = []struct {
	name, server string
	args         []string
}{
	{"baseline", "baseline", nil},
	{"chanio-send", "chanio", []string{"-ping-interval", "10m", "-broadcast-by-send"}},
	{"chanio", "chanio", []string{"-ping-interval", "10m"}},
}

// BenchmarkBroadcast: one client sends "broadcast:<32 B>" and the server
// sends it to each of 5,000 or 10,000 WebSocket sessions. b.N is the
// number of broadcasts; the figures are deliveries per second of server
// CPU and the server's allocations (every one of its process, reading the
// client's message included) per delivery and per broadcast. At most 4
// broadcasts are in flight, so that no reader falls a queue behind.
func BenchmarkBroadcast(b *testing.B) {
	const inflight = 4
	for _, sessions := range []int{5000, 10000} {
		for _, bs := range broadcastServers {
			b.Run(strconv.Itoa(sessions)+"/"+bs.name, func(b *testing.B) {
				if sessions+100 > maxSessions() {
					b.Skipf("%d sessions need more open files than this process may have", sessions)
				}
				s := startServerWithDebug(b, bs.server, bs.args...)
				clients := dialClients(b, s, sessions+1)
				msg := []byte("4broadcast:" + string(make32()))
				// Warm up long enough for every session's queue and write
				// batch to grow to the most that 4 broadcasts in flight
				// leave queued: they keep that size, so later broadcasts
				// allocate nothing for them.
				r := runBroadcast(b, s, clients, clients[0], clients[1:], msg, inflight, 40)
				deliveries := float64(b.N) * float64(sessions)
				b.ReportMetric(r.perSec, "deliveries/s")
				b.ReportMetric(r.perCPU, "deliveries/cpu-s")
				b.ReportMetric(r.allocs/deliveries, "allocs/delivery")
				b.ReportMetric(r.allocs/float64(b.N), "allocs/broadcast")
				key := "broadcast/" + strconv.Itoa(sessions)
				scenario := "broadcast to " + strconv.Itoa(sessions)
				switch bs.name {
				case "baseline":
					baselineRates[key] = r.perCPU
					return
				case "chanio-send":
					scenario += " (loop of Send)"
				}
				base := baselineRates[key]
				if base <= 0 {
					return
				}
				b.ReportMetric(r.perCPU/base, "x-baseline-cpu")
				target := measured
				if bs.name == "chanio" {
					target = atLeastRatio(1.2)
					record(row{scenario: scenario + " allocs", unit: "allocs/broadcast (server process)",
						chanio: r.allocs / float64(b.N), target: measured})
				}
				record(row{scenario: scenario, unit: "deliveries/cpu-s", chanio: r.perCPU, baseline: base, target: target})
			})
		}
	}
}

// broadcastRun is what runBroadcast measured: deliveries per second and
// per second of server CPU, and the server process's allocations during
// the run (zero for a server without a debug endpoint).
type broadcastRun struct {
	perSec, perCPU, allocs float64
}

// runBroadcast has sender send msg b.N times (after warmup more to warm
// up), each a broadcast the server delivers to every one of receivers,
// with at most inflight broadcasts not yet fully delivered. It closes the
// clients.
func runBroadcast(b *testing.B, s *server, clients []*wsClient, sender *wsClient, receivers []*wsClient, msg []byte, inflight int64, warmup int) broadcastRun {
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
	send(warmup)
	delivered.Store(0)
	var mallocs0, readCost uint64
	if s.debug != "" {
		// Two readings in a row: their difference is what a reading
		// costs the server, which the run's figure must not count.
		mallocs0 = s.mallocs(b)
		readCost = s.mallocs(b) - mallocs0
		mallocs0 += readCost
	}
	cpu0 := s.cpuTime(b)
	start := time.Now()
	b.ResetTimer()
	send(b.N)
	b.StopTimer()
	elapsed, cpu := time.Since(start), s.cpuTime(b)-cpu0
	var r broadcastRun
	if s.debug != "" {
		r.allocs = float64(s.mallocs(b) - mallocs0 - readCost)
	}
	for _, c := range clients {
		_ = c.Close()
	}
	wg.Wait()
	deliveries := float64(b.N) * float64(sessions)
	if cpu > 0 {
		r.perCPU = deliveries / cpu.Seconds()
	}
	r.perSec = deliveries / elapsed.Seconds()
	return r
}

// mallocs returns how many heap allocations the server process has made,
// from its expvar memstats. Reading them costs the server allocations too.
func (s *server) mallocs(b testing.TB) uint64 {
	b.Helper()
	resp, err := http.Get(s.debug + "/debug/vars")
	if err != nil {
		b.Fatalf("%s /debug/vars: %v", s.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	var vars struct {
		MemStats struct{ Mallocs uint64 } `json:"memstats"`
	}
	if err := json.Unmarshal(body, &vars); err != nil {
		b.Fatalf("%s /debug/vars: %v", s.name, err)
	}
	return vars.MemStats.Mallocs
}

// make32 is a 32-byte text payload.
func make32() []byte {
	p := make([]byte, 32)
	for i := range p {
		p[i] = 'a' + byte(i%26)
	}
	return p
}
