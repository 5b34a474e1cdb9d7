package bench

import (
	"context"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/chanio/chanio/cluster"
	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/internal/embeddednats"
	"github.com/chanio/chanio/internal/testlb"
	"github.com/nats-io/nats.go"
)

// The cluster benchmarks run in this process: an embedded NATS server, two
// nodes (a and b) with an echo application, and eio clients. They compare
// a cross-node figure with the local one in the same run, which stands in
// for the baseline column of the results table.

type benchNode struct {
	*cluster.Node
	http *httptest.Server
	app  sync.WaitGroup
}

// startBenchCluster runs NATS and nodes a and b until the benchmark ends.
func startBenchCluster(b *testing.B) (a, bb *benchNode) {
	b.Helper()
	ns, err := embeddednats.Start()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { embeddednats.Stop(ns) })
	var nodes []*benchNode
	for _, id := range []string{"a", "b"} {
		nc, err := nats.Connect(ns.ClientURL())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(nc.Close)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		node, err := cluster.Join(ctx, nc, &eio.Options{MaxQueueBytes: 8 << 20}, &cluster.Options{NodeID: id})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		n := &benchNode{Node: node, http: httptest.NewServer(node)}
		n.app.Add(1)
		go func() {
			defer n.app.Done()
			for ev := range node.Server().Events() {
				if ev.Type == eio.EventMessage {
					_ = node.SendBinary(context.Background(), ev.SID, ev.Data)
				}
			}
		}()
		b.Cleanup(func() {
			_ = n.Close()
			n.http.Close()
			n.app.Wait()
		})
		nodes = append(nodes, n)
	}
	return nodes[0], nodes[1]
}

func benchDial(b *testing.B, base string, transports ...string) *eio.Client {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := eio.Dial(ctx, base, &eio.ClientOptions{Transports: transports, MaxQueueBytes: 8 << 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range c.Events() {
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
		<-done
	})
	if ev := <-c.Events(); ev.Type != eio.EventConnect {
		b.Fatalf("first event %v", ev.Type)
	}
	return c
}

type latencies []time.Duration

func (l latencies) percentile(p int) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := append(latencies(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)*p/100, len(s)-1)]
}

// BenchmarkClusterSend: a WebSocket client of node a receives b.N
// messages sent by its own node ("local") or by node b over NATS
// ("remote"), from 8 goroutines with 64 messages in flight, each carrying
// its send time.
func BenchmarkClusterSend(b *testing.B) {
	a, nb := startBenchCluster(b)
	client := benchDial(b, a.http.URL, eio.TransportWebSocket)
	results := map[string]echoResult{}
	for _, sc := range []struct {
		name   string
		sender *benchNode
	}{{"local", a}, {"remote", nb}} {
		b.Run(sc.name, func(b *testing.B) {
			b.ReportAllocs()
			r := runClusterSend(b, sc.sender.Node, client, b.N)
			b.ReportMetric(r.msgsPerSec(), "msgs/s")
			b.ReportMetric(float64(r.p50.Microseconds()), "p50-µs")
			b.ReportMetric(float64(r.p99.Microseconds()), "p99-µs")
			results[sc.name] = r
			local, ok := results["local"]
			if sc.name != "remote" || !ok {
				return
			}
			b.ReportMetric(float64((r.p50 - local.p50).Microseconds()), "added-p50-µs")
			b.ReportMetric(float64((r.p99 - local.p99).Microseconds()), "added-p99-µs")
			record(row{scenario: "cluster send cross-node (baseline: local Send)", unit: "msgs/s",
				chanio: r.msgsPerSec(), baseline: local.msgsPerSec(), target: measured})
			record(row{scenario: "cluster send cross-node p50 (baseline: local Send)", unit: "µs",
				chanio: float64(r.p50.Microseconds()), baseline: float64(local.p50.Microseconds()), target: measured})
			record(row{scenario: "cluster send cross-node p99 (baseline: local Send)", unit: "µs",
				chanio: float64(r.p99.Microseconds()), baseline: float64(local.p99.Microseconds()), target: measured})
		})
	}
}

// runClusterSend sends total timestamped messages to client from sender
// and measures when each arrives.
func runClusterSend(b *testing.B, sender *cluster.Node, client *eio.Client, total int) echoResult {
	const senders, window = 8, 64
	slots := make(chan struct{}, window)
	work := make(chan int, total)
	for i := range total {
		work <- i
	}
	close(work)
	var wg sync.WaitGroup
	var failMu sync.Mutex
	var failed error
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lat := make(latencies, 0, total)
	b.ResetTimer()
	start := time.Now()
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var msg []byte
			for range work {
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					return
				}
				msg = message(nil, 32, true, time.Now())
				if err := sender.SendBinary(ctx, client.SID(), msg); err != nil {
					failMu.Lock()
					failed = err
					failMu.Unlock()
					cancel()
					return
				}
			}
		}()
	}
	for len(lat) < total && ctx.Err() == nil {
		select {
		case ev := <-client.Events():
			if ev.Type != eio.EventMessage {
				b.Fatalf("client event %v (%v)", ev.Type, ev.Err)
			}
			if t, ok := sentAt(ev.Data, true); ok {
				lat = append(lat, time.Since(t))
			}
			<-slots
		case <-ctx.Done():
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	wg.Wait() // the last replies may come after their messages
	if failed != nil {
		b.Fatal(failed)
	}
	return echoResult{msgs: len(lat), elapsed: elapsed, p50: lat.percentile(50), p99: lat.percentile(99)}
}

// BenchmarkClusterPolling: a polling client's round trip (a message up in
// a POST, its echo down in the held GET) when every request after the
// handshake goes to the session's own node ("direct") or through the
// other node, which forwards it ("forwarded"). Both go through the same
// balancer. b.N is the number of round trips.
func BenchmarkClusterPolling(b *testing.B) {
	a, nb := startBenchCluster(b)
	lb := testlb.New(b, a.http.URL, nb.http.URL)
	results := map[string]echoResult{}
	for _, sc := range []struct {
		name string
		rest int
	}{{"direct", 0}, {"forwarded", 1}} {
		b.Run(sc.name, func(b *testing.B) {
			b.ReportAllocs()
			lb.RouteBySID(0, sc.rest)
			client := benchDial(b, lb.URL, eio.TransportPolling)
			lat := make(latencies, 0, b.N)
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				sent := time.Now()
				if err := client.SendBinary(message(nil, 32, true, sent)); err != nil {
					b.Fatal(err)
				}
				select {
				case ev := <-client.Events():
					if ev.Type != eio.EventMessage {
						b.Fatalf("client event %v (%v)", ev.Type, ev.Err)
					}
				case <-time.After(10 * time.Second):
					b.Fatal("no echo in 10s")
				}
				lat = append(lat, time.Since(sent))
			}
			elapsed := time.Since(start)
			b.StopTimer()
			r := echoResult{msgs: b.N, elapsed: elapsed, p50: lat.percentile(50), p99: lat.percentile(99)}
			b.ReportMetric(r.msgsPerSec(), "round-trips/s")
			b.ReportMetric(float64(r.p50.Microseconds()), "p50-µs")
			b.ReportMetric(float64(r.p99.Microseconds()), "p99-µs")
			results[sc.name] = r
			direct, ok := results["direct"]
			if sc.name != "forwarded" || !ok {
				return
			}
			b.ReportMetric(float64((r.p50 - direct.p50).Microseconds()), "added-p50-µs")
			record(row{scenario: "cluster polling round trip forwarded p50 (baseline: direct)", unit: "µs",
				chanio: float64(r.p50.Microseconds()), baseline: float64(direct.p50.Microseconds()), target: measured})
			record(row{scenario: "cluster polling round trip forwarded p99 (baseline: direct)", unit: "µs",
				chanio: float64(r.p99.Microseconds()), baseline: float64(direct.p99.Microseconds()), target: measured})
		})
	}
}
