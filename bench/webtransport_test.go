package bench

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/internal/devcert"
	"github.com/chanio/chanio/transport"
)

// BenchmarkWebTransportEcho: echo over WebTransport against echo over
// WebSocket, on one examples/echo process serving both (with a
// development certificate, -tls-cert/-tls-key), in the same run: 8 chanio
// clients, 16 messages in flight each. b.N is the number of messages.
// Each webtransport row reports its ratio to the websocket row before it
// (x-websocket-cpu: messages per server CPU-second; x-websocket-p99).
func BenchmarkWebTransportEcho(b *testing.B) {
	const conns, window = 8, 16
	cert, certFile, keyFile := benchCert(b)
	s := startServer(b, "chanio", "-tls-cert", certFile, "-tls-key", keyFile)
	for _, sc := range []struct {
		name   string
		size   int
		binary bool
	}{
		{"text-32B", 32, false},
		{"binary-1KiB", 1024, true},
	} {
		var ws echoResult
		for _, tr := range []string{eio.TransportWebSocket, eio.TransportWebTransport} {
			b.Run(sc.name+"/"+tr, func(b *testing.B) {
				b.ReportAllocs()
				clients := make([]*eio.Client, conns)
				for i := range clients {
					clients[i] = wtBenchDial(b, s.base, tr, cert.Hash)
				}
				runClientEcho(b, s, clients, conns*window*4, window, sc.size, sc.binary) // warm-up
				b.ResetTimer()
				r := runClientEcho(b, s, clients, b.N, window, sc.size, sc.binary)
				b.StopTimer()
				r.report(b, "msgs")
				if tr == eio.TransportWebSocket {
					ws = r
					return
				}
				if ws.msgsPerCPU() > 0 {
					b.ReportMetric(r.msgsPerCPU()/ws.msgsPerCPU(), "x-websocket-cpu")
					record(row{scenario: "wt echo " + sc.name + " " + wsBaseline, unit: "msgs/cpu-s",
						chanio: r.msgsPerCPU(), baseline: ws.msgsPerCPU(), target: measured})
				}
				if ws.p99 > 0 {
					b.ReportMetric(float64(r.p99)/float64(ws.p99), "x-websocket-p99")
					record(row{scenario: "wt echo " + sc.name + " p99 " + wsBaseline, unit: "µs",
						chanio: float64(r.p99.Microseconds()), baseline: float64(ws.p99.Microseconds()), target: measured})
				}
			})
		}
	}
}

// BenchmarkIdleWebTransportSessions holds N idle sessions on one chanio
// echo server, over WebSocket and then over WebTransport (a QUIC
// connection each), and reports per session the server's RSS growth, its
// live heap after a collection and its goroutines, as
// BenchmarkIdleSessions does; each webtransport row reports its RSS
// against the websocket row before it (x-websocket-mem). One iteration is
// one measurement.
func BenchmarkIdleWebTransportSessions(b *testing.B) {
	cert, certFile, keyFile := benchCert(b)
	for _, n := range []int{1000, 5000} {
		var ws idleCost
		for _, tr := range []string{eio.TransportWebSocket, eio.TransportWebTransport} {
			b.Run(fmt.Sprintf("%d/%s", n, tr), func(b *testing.B) {
				if 2*n > maxSessions() {
					b.Skipf("%d sessions need more open files than this process may have", n)
				}
				var m idleCost
				for range b.N {
					m = measureIdleWT(b, tr, n, cert.Hash, "-tls-cert", certFile, "-tls-key", keyFile)
				}
				b.ReportMetric(m.rss, "bytes/session")
				b.ReportMetric(m.heap, "heap-bytes/session")
				b.ReportMetric(m.goroutines, "goroutines/session")
				if tr == eio.TransportWebSocket {
					ws = m
				} else if ws.rss > 0 {
					b.ReportMetric(m.rss/ws.rss, "x-websocket-mem")
					record(row{scenario: fmt.Sprintf("idle wt sessions %5d fresh %s", n, wsBaseline), unit: "RSS bytes/session",
						chanio: m.rss, baseline: ws.rss, target: measured})
					record(row{scenario: fmt.Sprintf("idle wt sessions %5d fresh heap %s", n, wsBaseline), unit: "live heap bytes/session",
						chanio: m.heap, baseline: ws.heap, target: measured})
				}
			})
		}
	}
}

// measureIdleWT is measureIdle for sessions on transport tr: WebSocket
// clients as BenchmarkIdleSessions opens them, or WebTransport ones, each
// on a QUIC connection of its own, that read their open packet and then
// nothing.
func measureIdleWT(b *testing.B, tr string, n int, hash [sha256.Size]byte, args ...string) idleCost {
	b.StopTimer()
	s := startServerWithDebug(b, "chanio", args...)
	return idleGrowth(b, s, n, func() (closeAll func()) {
		if tr == eio.TransportWebSocket {
			clients := dialClients(b, s, n)
			return func() {
				for _, c := range clients {
					_ = c.Close()
				}
			}
		}
		clients := dialWTClients(b, s, n, hash)
		return func() {
			var wg sync.WaitGroup
			for _, c := range clients {
				wg.Go(func() { _ = c.Close() })
			}
			wg.Wait()
		}
	})
}

// dialWTClients opens n WebTransport sessions to s, 16 at a time, and
// returns once each has read its open packet.
func dialWTClients(b *testing.B, s *server, n int, hash [sha256.Size]byte) []*transport.WebTransportConn {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clients := make([]*transport.WebTransportConn, n)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n && failed.Load() == nil; i = int(next.Add(1)) - 1 {
				c, err := transport.DialWebTransport(ctx, "https"+strings.TrimPrefix(s.base, "http")+"/engine.io/",
					&transport.WebTransportDialOptions{CertificateHashes: [][sha256.Size]byte{hash}})
				if err != nil {
					failed.Store(err)
					return
				}
				clients[i] = c
				opened := make(chan struct{})
				var once sync.Once
				if err := c.Start(func(codec.Packet) error { once.Do(func() { close(opened) }); return nil }, func(error) {}); err != nil {
					failed.Store(err)
					return
				}
				select {
				case <-opened:
				case <-ctx.Done():
					failed.Store(ctx.Err())
					return
				}
			}
		})
	}
	wg.Wait()
	b.Cleanup(func() {
		for _, c := range clients {
			if c != nil {
				_ = c.Close()
			}
		}
	})
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	return clients
}

// wsBaseline is how the results table names chanio over WebSocket as the
// baseline of a WebTransport row.
const wsBaseline = "(baseline: chanio websocket)"

// benchCert makes a development certificate and writes it where the echo
// server's -tls-cert and -tls-key can read it.
func benchCert(b *testing.B) (cert *devcert.Certificate, certFile, keyFile string) {
	b.Helper()
	cert, err := devcert.Generate(0)
	if err != nil {
		b.Fatal(err)
	}
	certFile, keyFile, err = cert.WriteFiles(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	return cert, certFile, keyFile
}

// wtBenchDial opens a chanio client on transport tr to base, pinning the
// certificate whose hash is hash.
func wtBenchDial(b *testing.B, base, tr string, hash [sha256.Size]byte) *eio.Client {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := eio.Dial(ctx, base, &eio.ClientOptions{
		Transports: []string{tr}, MaxQueueBytes: 8 << 20,
		CertificateHashes: [][sha256.Size]byte{hash},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
		for range c.Events() {
		}
	})
	if ev := <-c.Events(); ev.Type != eio.EventConnect {
		b.Fatalf("first event %v", ev.Type)
	}
	return c
}

// runClientEcho is runEcho for chanio clients: total messages of size
// bytes, each client keeping window in flight, each carrying its send
// time; it measures the server's CPU time and every echo's latency.
func runClientEcho(b *testing.B, s *server, clients []*eio.Client, total, window, size int, binaryMsg bool) echoResult {
	b.Helper()
	var budget atomic.Int64
	budget.Store(int64(total))
	lat := make([][]time.Duration, len(clients))
	var wg sync.WaitGroup
	var failed atomic.Value
	cpu0 := s.cpuTime(b)
	start := time.Now()
	for i, c := range clients {
		wg.Go(func() {
			inflight := 0
			// send sends the next message, if any is left; false when
			// the send failed.
			send := func() bool {
				if budget.Add(-1) < 0 {
					return true
				}
				msg := clientMessage(size, binaryMsg, time.Now())
				send := c.Send
				if binaryMsg {
					send = c.SendBinary
				}
				err := send(msg)
				if err != nil {
					failed.Store(err)
					return false
				}
				inflight++
				return true
			}
			for range window {
				if !send() {
					return
				}
			}
			for inflight > 0 {
				ev, ok := <-c.Events()
				if !ok || ev.Type == eio.EventDisconnect {
					failed.Store(errEchoEnded)
					return
				}
				if ev.Type != eio.EventMessage {
					continue
				}
				if t, ok := clientSentAt(ev.Data, binaryMsg); ok {
					lat[i] = append(lat[i], time.Since(t))
				}
				inflight--
				if !send() {
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	r := newEchoResult(lat, elapsed, s.cpuTime(b)-cpu0)
	r.msgs = total // every echo counts, also one whose send time did not read back
	return r
}

// errEchoEnded fails a run whose client's session ended.
var errEchoEnded = errorString("bench: a client's session ended during the run")

type errorString string

func (e errorString) Error() string { return string(e) }

// clientMessage is a message of size bytes that starts with sent: 8 bytes
// of nanoseconds in binary, 16 hex digits in text.
func clientMessage(size int, binaryMsg bool, sent time.Time) []byte {
	msg := make([]byte, 0, max(size, 16))
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(sent.UnixNano()))
	if binaryMsg {
		msg = append(msg, ts[:]...)
	} else {
		msg = hex.AppendEncode(msg, ts[:])
	}
	for len(msg) < size {
		msg = append(msg, 'x')
	}
	return msg
}

// clientSentAt reads the send time clientMessage put in p.
func clientSentAt(p []byte, binaryMsg bool) (time.Time, bool) {
	var ts [8]byte
	switch {
	case binaryMsg && len(p) >= 8:
		copy(ts[:], p)
	case !binaryMsg && len(p) >= 16:
		if _, err := hex.Decode(ts[:], p[:16]); err != nil {
			return time.Time{}, false
		}
	default:
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(ts[:]))), true
}
