package bench

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chanio/chanio/internal/testpeer"
	"github.com/gobwas/ws"
)

// The sio benchmarks run chanio's Socket.IO server (bench/sioserver) and
// Node's socket.io 4.8.1 (interop/js/sio-bench-server.js, the npm package
// pinned there) with the same application, one after the other in the same
// run, each pinned to CPU 0. The load generator speaks raw Socket.IO over
// WebSocket. In the results table the "baseline" column of these rows is
// Node's figure.

// sioKinds are the servers of the sio benchmarks, Node first.
var sioKinds = []string{"node", "chanio"}

// nodeSioFigures remembers Node's figure per scenario within one run.
var nodeSioFigures = map[string]float64{}

// startSio starts a Socket.IO server of kind ("chanio" or "node"), with a
// debug address for chanio's live heap when debug is set.
func startSio(b *testing.B, kind string, debug bool) *server {
	b.Helper()
	var cmd string
	var args []string
	dbg := ""
	switch kind {
	case "chanio":
		cmd, args = sioBinary, []string{"-addr", "127.0.0.1:0"}
		if dir := os.Getenv("CHANIO_BENCH_PROFILE"); dir != "" {
			args = append(args, "-cpuprofile", filepath.Join(dir, strings.ReplaceAll(b.Name(), "/", "_")+".pprof"))
		}
		if debug {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			dbg = ln.Addr().String()
			_ = ln.Close()
			args = append(args, "-debug-addr", dbg)
		}
	default:
		if _, err := exec.LookPath("node"); err != nil {
			b.Skip("node is not installed: make deps")
		}
		script := filepath.Join(repoDir(), "interop", "js", "sio-bench-server.js")
		if _, err := os.Stat(filepath.Join(repoDir(), "interop", "js", "node_modules", "socket.io")); err != nil {
			b.Skip("the npm package socket.io is not installed: make deps")
		}
		cmd, args = "node", []string{script}
	}
	if pinned() {
		cmd, args = "taskset", append([]string{"-c", "0", cmd}, args...)
	}
	proc, url := testpeer.Start(b, "", cmd, args...)
	base := strings.TrimSuffix(url, "/socket.io/")
	s := &server{name: kind, proc: proc, base: base, eio: true,
		url: "ws" + strings.TrimPrefix(base, "http") + "/socket.io/?EIO=4&transport=websocket"}
	if dbg != "" {
		s.debug = "http://" + dbg
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := http.Get(s.debug + "/debug/vars")
			if err == nil {
				_ = resp.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("debug endpoint: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return s
}

func repoDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// dialSockets opens n Socket.IO sockets on namespace "/": an Engine.IO
// WebSocket each, then CONNECT and its answer.
// Sixteen dialers work at once: 10,000 sockets one after the other take
// minutes on a loaded machine.
func dialSockets(b *testing.B, s *server, n int) []*wsClient {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	clients := make([]*wsClient, n)
	b.Cleanup(func() {
		for _, c := range clients {
			if c != nil {
				_ = c.Close()
			}
		}
	})
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n && failed.Load() == nil; i = int(next.Add(1) - 1) {
				c, err := dialClient(ctx, s)
				if err == nil {
					err = c.write(ws.OpText, []byte("40"))
				}
				if err == nil {
					err = c.w.Flush()
				}
				var p []byte
				if err == nil {
					_, p, err = c.read()
				}
				if err == nil && !bytes.HasPrefix(p, []byte(`40{"sid":`)) {
					err = fmt.Errorf("CONNECT answer %q", p)
				}
				if err != nil {
					failed.Store(err)
					return
				}
				clients[i] = c
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatalf("dial %s: %v", s.name, err)
	}
	return clients
}

// sioEcho builds `42<id>["echo","<hex send time><padding>"]` with a payload
// of size bytes.
func sioEcho(dst []byte, id int, size int, sent time.Time) []byte {
	dst = append(dst[:0], "42"...)
	dst = strconv.AppendInt(dst, int64(id), 10)
	dst = append(dst, `["echo","`...)
	start := len(dst)
	dst = append(dst, message(nil, size, false, sent)[1:]...) // hex time, then 'x's
	for len(dst)-start < size {
		dst = append(dst, 'x')
	}
	return append(dst, `"]`...)
}

// sioSentAt reads the send time out of an ack `43<id>["<hex>..."]`.
func sioSentAt(p []byte) (time.Time, bool) {
	i := bytes.Index(p, []byte(`["`))
	if i < 0 || len(p) < i+2+16 || !bytes.HasPrefix(p, []byte("43")) {
		return time.Time{}, false
	}
	var ts [8]byte
	if _, err := hex.Decode(ts[:], p[i+2:i+18]); err != nil {
		return time.Time{}, false
	}
	return sentAt(append([]byte{'4'}, hex.EncodeToString(ts[:])...), false)
}

// BenchmarkSioAckEcho: 50 sockets each keep 16 events in flight, and the
// server acknowledges each with its argument (socket.io's emit with an ack
// callback). b.N is the number of acknowledged events.
func BenchmarkSioAckEcho(b *testing.B) {
	const conns, window, size = 50, 16, 32
	for _, kind := range sioKinds {
		b.Run(kind, func(b *testing.B) {
			s := startSio(b, kind, false)
			clients := dialSockets(b, s, conns)
			runSioEcho(b, s, clients, conns*window*20, window, size) // warm up (Node's JIT too)
			b.ResetTimer()
			r := runSioEcho(b, s, clients, b.N, window, size)
			b.StopTimer()
			r.report(b, "acks")
			if kind == "node" {
				nodeSioFigures["ack"], nodeSioFigures["ack-p99"] = r.msgsPerCPU(), float64(r.p99.Microseconds())
				return
			}
			if base := nodeSioFigures["ack"]; base > 0 {
				b.ReportMetric(r.msgsPerCPU()/base, "x-node-cpu")
				record(row{scenario: "sio emit with ack (baseline: Node socket.io 4.8.1)", unit: "acks/cpu-s",
					chanio: r.msgsPerCPU(), baseline: base, target: atLeastRatio(5)})
				record(row{scenario: "sio emit with ack p99 (baseline: Node socket.io 4.8.1)", unit: "µs",
					chanio: float64(r.p99.Microseconds()), baseline: nodeSioFigures["ack-p99"], target: measured})
			}
		})
	}
}

func runSioEcho(b *testing.B, s *server, clients []*wsClient, total, window, size int) echoResult {
	b.Helper()
	return runExchange(b, s, clients, total, window, ws.OpText,
		func(dst []byte, i int, sent time.Time) []byte { return sioEcho(dst, i, size, sent) }, sioSentAt)
}

// BenchmarkSioBroadcast: one socket emits "bcast" and the server emits it
// to the room of all 10,000 sockets (socket.io's io.to(room).emit). b.N
// is the number of broadcasts; the figure is deliveries per second of
// server CPU. At most 2 broadcasts are in flight.
func BenchmarkSioBroadcast(b *testing.B) {
	const sockets, inflight = 10000, 4
	for _, kind := range sioKinds {
		b.Run(strconv.Itoa(sockets)+"/"+kind, func(b *testing.B) {
			if sockets+100 > maxSessions() {
				b.Skipf("%d sockets need more open files than this process may have", sockets)
			}
			s := startSio(b, kind, false)
			clients := dialSockets(b, s, sockets)
			msg := []byte(`42["bcast","` + string(make32()) + `"]`)
			r := runBroadcast(b, s, clients, clients[0], clients, msg, inflight, 4)
			perSec, rate := r.perSec, r.perCPU
			b.ReportMetric(perSec, "deliveries/s")
			b.ReportMetric(rate, "deliveries/cpu-s")
			if kind == "node" {
				nodeSioFigures["broadcast"] = rate
			} else if base := nodeSioFigures["broadcast"]; base > 0 {
				b.ReportMetric(rate/base, "x-node-cpu")
				record(row{scenario: "sio room broadcast to 10000 (baseline: Node socket.io 4.8.1)", unit: "deliveries/cpu-s",
					chanio: rate, baseline: base, target: atLeastRatio(5)})
			}
		})
	}
}

// BenchmarkSioIdle holds 10,000 idle Socket.IO sockets (a WebSocket and a
// CONNECT to "/" each, every one in a room) and reports the server's RSS
// growth per socket; for chanio also its live heap and goroutines. One
// iteration is one measurement.
func BenchmarkSioIdle(b *testing.B) {
	const n = 10000
	for _, kind := range sioKinds {
		b.Run(strconv.Itoa(n)+"/"+kind, func(b *testing.B) {
			if n+100 > maxSessions() {
				b.Skipf("%d sockets need more open files than this process may have", n)
			}
			var m idleCost
			for range b.N {
				m = measureSioIdle(b, kind, n)
			}
			b.ReportMetric(m.rss, "bytes/socket")
			if kind == "node" {
				nodeSioFigures["idle"] = m.rss
				return
			}
			b.ReportMetric(m.heap, "heap-bytes/socket")
			b.ReportMetric(m.goroutines, "goroutines/socket")
			record(row{scenario: "sio idle sockets 10000 (baseline: Node socket.io 4.8.1)", unit: "RSS bytes/socket",
				chanio: m.rss, baseline: nodeSioFigures["idle"], target: atMost(6*1024, "6 KiB")})
			record(row{scenario: "sio idle sockets 10000 heap", unit: "live heap bytes/socket", chanio: m.heap, target: measured})
			record(row{scenario: "sio idle sockets 10000 goroutines", unit: "goroutines/socket", chanio: m.goroutines, target: measured})
		})
	}
}

func measureSioIdle(b *testing.B, kind string, n int) idleCost {
	b.StopTimer()
	s := startSio(b, kind, kind == "chanio")
	time.Sleep(200 * time.Millisecond)
	rssBefore := s.rss(b)
	var heapBefore int64
	var goroutinesBefore int
	if s.debug != "" {
		heapBefore, goroutinesBefore = s.runtimeStats(b)
	}
	b.StartTimer()
	clients := dialSockets(b, s, n)
	b.StopTimer()
	// As BenchmarkIdleSessions: both servers get the same time to finish
	// the handshakes and go quiet.
	time.Sleep(idleSettle)
	rssAfter := s.rss(b)
	cost := idleCost{rss: float64(rssAfter-rssBefore) / float64(n)}
	if s.debug != "" {
		heapAfter, goroutinesAfter := s.runtimeStats(b)
		cost.heap = float64(heapAfter-heapBefore) / float64(n)
		cost.goroutines = float64(goroutinesAfter-goroutinesBefore) / float64(n)
	}
	for _, c := range clients {
		_ = c.Close()
	}
	runtime.KeepAlive(clients)
	return cost
}
