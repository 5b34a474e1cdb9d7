package bench

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkHandshakes opens and closes b.N sessions from 8 concurrent
// workers. A WebSocket handshake is the upgrade plus (on chanio and Node)
// the open packet, then a close; a polling handshake is the GET that opens
// the session plus the POST of a close packet that ends it. WebSocket
// handshakes run on the bare server, Node's engine.io and chanio; polling
// handshakes on Node's engine.io and chanio (the bare server has no
// polling).
func BenchmarkHandshakes(b *testing.B) {
	const workers = 8
	b.Run("websocket", func(b *testing.B) {
		for _, name := range []string{"baseline", "node", "chanio"} {
			b.Run(name, func(b *testing.B) {
				s := startServer(b, name)
				rate := runHandshakes(b, s, workers, func(ctx context.Context) error {
					c, err := dialClient(ctx, s)
					if err != nil {
						return err
					}
					return c.Close()
				})
				b.ReportMetric(rate, "handshakes/cpu-s")
				if name != "chanio" {
					baselineRates["ws-handshakes/"+name] = rate
					return
				}
				if base := baselineRates["ws-handshakes/baseline"]; base > 0 {
					b.ReportMetric(rate/base, "x-baseline-cpu")
					record(row{scenario: "handshakes websocket", unit: "handshakes/cpu-s", chanio: rate,
						baseline: base, target: atLeastRatio(0.85)})
				}
				if node := baselineRates["ws-handshakes/node"]; node > 0 {
					b.ReportMetric(rate/node, "x-node-cpu")
					record(row{scenario: "handshakes websocket " + nodeBaseline, unit: "handshakes/cpu-s", chanio: rate,
						baseline: node, target: measured})
				}
			})
		}
	})
	b.Run("polling", func(b *testing.B) {
		for _, name := range []string{"node", "chanio"} {
			b.Run(name, func(b *testing.B) {
				s := startServer(b, name)
				client := newPollClient(pollingWorkers)
				defer client.CloseIdleConnections()
				rate := runHandshakes(b, s, pollingWorkers, func(ctx context.Context) error {
					ps, err := pollHandshake(ctx, client, s.base)
					if err != nil {
						return err
					}
					_, err = pollDo(ctx, client, http.MethodPost, ps.url, "1")
					return err
				})
				b.ReportMetric(rate, "handshakes/cpu-s")
				if name == "node" {
					baselineRates["polling-handshakes/node"] = rate
					return
				}
				if node := baselineRates["polling-handshakes/node"]; node > 0 {
					b.ReportMetric(rate/node, "x-node-cpu")
					record(row{scenario: "handshakes polling " + nodeBaseline, unit: "handshakes/cpu-s", chanio: rate,
						baseline: node, target: atLeastRatio(3)})
				}
			})
		}
	})
}

// pollingWorkers is how many polling handshakes are in flight at once.
// chanio answers a close sent over POST only after settleTime (100 ms: a
// GET the client sent just before may still arrive), so that a worker
// makes at most ten handshakes a second there; the figure is per second
// of server CPU, and this many keep the server busy.
const pollingWorkers = 256

var baselineRates = map[string]float64{}

// runHandshakes runs b.N times one from workers goroutines and returns the
// rate per second of the server's CPU time.
func runHandshakes(b *testing.B, s *server, workers int, one func(context.Context) error) float64 {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var left atomic.Int64
	left.Store(int64(b.N))
	var failed atomic.Value
	var wg sync.WaitGroup
	cpu0 := s.cpuTime(b)
	b.ResetTimer()
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				if err := one(ctx); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	cpu := s.cpuTime(b) - cpu0
	if err, _ := failed.Load().(error); err != nil {
		b.Fatalf("%s: %v", s.name, err)
	}
	if cpu <= 0 {
		return 0
	}
	return float64(b.N) / cpu.Seconds()
}
