package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pollSession is one long-polling session of the load generator, speaking
// the protocol with plain HTTP requests.
type pollSession struct {
	url    string // the session's polling URL (with sid)
	client *http.Client
}

func newPollClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns:        2 * conns,
		MaxIdleConnsPerHost: 2 * conns,
		DisableCompression:  true,
	}}
}

func pollHandshake(ctx context.Context, client *http.Client, base string) (*pollSession, error) {
	body, err := pollDo(ctx, client, http.MethodGet, base+"/engine.io/?EIO=4&transport=polling", "")
	if err != nil {
		return nil, err
	}
	var open struct {
		SID string `json:"sid"`
	}
	if len(body) == 0 || body[0] != '0' || json.Unmarshal(body[1:], &open) != nil {
		return nil, fmt.Errorf("bench: bad open packet %q", body)
	}
	return &pollSession{url: base + "/engine.io/?EIO=4&transport=polling&sid=" + open.SID, client: client}, nil
}

func pollDo(ctx context.Context, client *http.Client, method, url, body string) ([]byte, error) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: %s answered %d %s", method, resp.StatusCode, b)
	}
	return b, nil
}

// runPollingEcho keeps window messages in flight on each session until
// total have been echoed: a GET loop reads echoes, a POST loop sends one
// message for each echo read (all that are due in one POST).
func runPollingEcho(b *testing.B, s *server, sessions []*pollSession, total, window, size int) echoResult {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var budget, received atomic.Int64
	budget.Store(int64(total))
	var failed atomic.Value
	fail := func(err error) {
		if ctx.Err() == nil {
			failed.CompareAndSwap(nil, err)
			cancel()
		}
	}
	// The run ends when every message has come back. The sessions' held
	// GETs are then released by an "end" message each (abandoning a GET
	// would end the session, as in the reference server).
	var stop atomic.Bool
	allBack := make(chan struct{})
	finished := func() {
		if budget.Load() <= 0 && received.Load() == int64(total) && stop.CompareAndSwap(false, true) {
			close(allBack)
		}
	}
	lat := make([][]time.Duration, len(sessions))
	var wg sync.WaitGroup
	cpu0 := s.cpuTime(b)
	start := time.Now()
	for i, ps := range sessions {
		due := make(chan int, 1024) // messages to send (echoes read); -1 asks for a pong
		var inflight atomic.Int64
		wg.Add(2)
		go func() { // sender
			defer wg.Done()
			var msg []byte
			var payload bytes.Buffer
			want, pong := window, false
			take := func(n int) {
				if n < 0 {
					pong = true
				} else {
					want += n
				}
			}
			for {
				for drained := false; !drained; {
					select {
					case n := <-due:
						take(n)
					default:
						drained = true
					}
				}
				payload.Reset()
				for ; want > 0 && budget.Add(-1) >= 0; want-- {
					if payload.Len() > 0 {
						payload.WriteByte(0x1e)
					}
					msg = message(msg, size, false, time.Now())
					payload.Write(msg)
					inflight.Add(1)
				}
				want = 0
				if pong {
					if payload.Len() > 0 {
						payload.WriteByte(0x1e)
					}
					payload.WriteByte('3')
					pong = false
				}
				if payload.Len() > 0 {
					if _, err := pollDo(ctx, ps.client, http.MethodPost, ps.url, payload.String()); err != nil {
						if ctx.Err() == nil {
							fail(err)
						}
						return
					}
					continue
				}
				if inflight.Load() == 0 && budget.Load() <= 0 {
					return
				}
				select {
				case n := <-due:
					take(n)
				case <-ctx.Done():
					return
				}
			}
		}()
		go func() { // receiver
			defer wg.Done()
			lat[i] = make([]time.Duration, 0, total/len(sessions)+window)
			for !stop.Load() && ctx.Err() == nil {
				body, err := pollDo(ctx, ps.client, http.MethodGet, ps.url, "")
				if err != nil {
					if ctx.Err() == nil {
						fail(err)
					}
					return
				}
				got := 0
				for _, pkt := range bytes.Split(body, []byte{0x1e}) {
					switch {
					case len(pkt) > 0 && pkt[0] == '4':
						if t, ok := sentAt(pkt, false); ok {
							lat[i] = append(lat[i], time.Since(t))
							got++
						}
					case len(pkt) == 1 && pkt[0] == '2':
						due <- -1
					}
				}
				if got > 0 {
					inflight.Add(int64(-got))
					received.Add(int64(got))
					due <- got
					finished()
				}
			}
		}()
	}
	select {
	case <-allBack:
	case <-ctx.Done():
	}
	elapsed := time.Since(start)
	cpu := s.cpuTime(b) - cpu0
	for _, ps := range sessions {
		if _, err := pollDo(ctx, ps.client, http.MethodPost, ps.url, "4end"); err != nil {
			fail(err)
		}
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatalf("%s polling echo: %v", s.name, err)
	}
	return newEchoResult(lat, elapsed, cpu)
}

// BenchmarkPollingEcho: 50 long-polling sessions, 8 messages in flight
// each, 32 B text, echoed by Node's engine.io (the baseline: the bare
// server has no polling) and by chanio. b.N is the number of messages.
func BenchmarkPollingEcho(b *testing.B) {
	const sessions, window, size = 50, 8, 32
	for _, name := range []string{"node", "chanio"} {
		b.Run("text-32B/"+name, func(b *testing.B) {
			s := startServer(b, name)
			client := newPollClient(sessions)
			defer client.CloseIdleConnections()
			ps := make([]*pollSession, sessions)
			for i := range ps {
				var err error
				if ps[i], err = pollHandshake(context.Background(), client, s.base); err != nil {
					b.Fatal(err)
				}
			}
			// Warm up both servers (Node's JIT too) before measuring.
			runPollingEcho(b, s, ps, sessions*window*4, window, size)
			b.ResetTimer()
			r := runPollingEcho(b, s, ps, b.N, window, size)
			b.StopTimer()
			r.report(b, "msgs")
			if name == "node" {
				nodeFigures["polling-echo"] = r
				return
			}
			if node, ok := nodeFigures["polling-echo"]; ok && node.msgsPerCPU() > 0 {
				b.ReportMetric(r.msgsPerCPU()/node.msgsPerCPU(), "x-node-cpu")
				record(row{scenario: "polling echo text-32B " + nodeBaseline, unit: "msgs/cpu-s", chanio: r.msgsPerCPU(),
					baseline: node.msgsPerCPU(), target: atLeastRatio(4)})
				record(row{scenario: "polling echo text-32B p99 " + nodeBaseline, unit: "µs", chanio: float64(r.p99.Microseconds()),
					baseline: float64(node.p99.Microseconds()), target: measured})
			}
		})
	}
}
