package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chanio/chanio/internal/wsbuf"
	"github.com/gobwas/ws"
)

// wsClient is one raw WebSocket connection of the load generator. It
// speaks just enough Engine.IO for the echo: it skips the open packet and
// answers pings.
type wsClient struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	eio  bool
	hdr  [ws.MaxHeaderSize]byte
	buf  []byte
	out  []byte
}

func dialClient(ctx context.Context, s *server) (*wsClient, error) {
	d := ws.Dialer{Timeout: 10 * time.Second}
	conn, br, _, err := d.Dial(ctx, s.url)
	if err != nil {
		return nil, err
	}
	c := &wsClient{conn: conn, eio: s.eio, buf: make([]byte, 0, 2048)}
	if br != nil {
		c.r = br
	} else {
		c.r = bufio.NewReaderSize(conn, 4096)
	}
	c.w = bufio.NewWriterSize(conn, 4096)
	if s.eio {
		op, p, err := c.read()
		if err != nil {
			conn.Close()
			return nil, err
		}
		if op != ws.OpText || len(p) == 0 || p[0] != '0' {
			conn.Close()
			return nil, errors.New("bench: no open packet")
		}
	}
	return c, nil
}

// read returns the next data frame; the payload is valid until the next
// read.
func (c *wsClient) read() (ws.OpCode, []byte, error) {
	for {
		h, err := ws.ReadHeaderBuffer(c.r, c.hdr[:])
		if err != nil {
			return 0, nil, err
		}
		if int64(cap(c.buf)) < h.Length {
			c.buf = make([]byte, 0, h.Length)
		}
		p := c.buf[:h.Length]
		if _, err := io.ReadFull(c.r, p); err != nil {
			return 0, nil, err
		}
		if h.OpCode.IsControl() {
			if h.OpCode == ws.OpClose {
				return 0, nil, io.EOF
			}
			continue
		}
		if c.eio && h.OpCode == ws.OpText && len(p) == 1 && p[0] == '2' {
			if err := c.write(ws.OpText, []byte{'3'}); err != nil {
				return 0, nil, err
			}
			if err := c.w.Flush(); err != nil {
				return 0, nil, err
			}
			continue
		}
		return h.OpCode, p, nil
	}
}

// write buffers one masked frame.
func (c *wsClient) write(op ws.OpCode, p []byte) error {
	mask := [4]byte{1, 2, 3, 4}
	if err := ws.WriteHeader(c.w, ws.Header{Fin: true, OpCode: op, Length: int64(len(p)), Masked: true, Mask: mask}); err != nil {
		return err
	}
	c.out = append(c.out[:0], p...)
	ws.Cipher(c.out, mask, 0)
	_, err := c.w.Write(c.out)
	return err
}

func (c *wsClient) Close() error { return c.conn.Close() }

// message builds an echo message of size bytes (Engine.IO data, not
// counting the packet type) carrying its send time, as text (hex, so it
// stays UTF-8) or binary.
func message(dst []byte, size int, binaryMsg bool, sent time.Time) []byte {
	dst = dst[:0]
	if !binaryMsg {
		dst = append(dst, '4')
	}
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(sent.UnixNano()))
	if binaryMsg {
		dst = append(dst, ts[:]...)
	} else {
		dst = hex.AppendEncode(dst, ts[:])
	}
	for len(dst) < size+boolInt(!binaryMsg) {
		dst = append(dst, 'x')
	}
	return dst
}

func sentAt(p []byte, binaryMsg bool) (time.Time, bool) {
	var ts [8]byte
	if binaryMsg {
		if len(p) < 8 {
			return time.Time{}, false
		}
		copy(ts[:], p)
	} else {
		if len(p) < 17 {
			return time.Time{}, false
		}
		if _, err := hex.Decode(ts[:], p[1:17]); err != nil {
			return time.Time{}, false
		}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(ts[:]))), true
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// echoResult is what one echo run measured.
type echoResult struct {
	msgs     int
	elapsed  time.Duration
	cpu      time.Duration // server CPU time
	p50, p99 time.Duration
}

func (r echoResult) msgsPerSec() float64 { return float64(r.msgs) / r.elapsed.Seconds() }
func (r echoResult) msgsPerCPU() float64 {
	if r.cpu <= 0 {
		return 0
	}
	return float64(r.msgs) / r.cpu.Seconds()
}

// report reports r's rates (unit per second and per second of server
// CPU) and latencies as b's metrics.
func (r echoResult) report(b *testing.B, unit string) {
	b.ReportMetric(r.msgsPerSec(), unit+"/s")
	b.ReportMetric(r.msgsPerCPU(), unit+"/cpu-s")
	b.ReportMetric(float64(r.p50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(r.p99.Microseconds()), "p99-µs")
}

// runEcho exchanges total messages over clients, each keeping window
// messages in flight, and measures the server's CPU time and the latency
// of every echo.
func runEcho(b *testing.B, s *server, clients []*wsClient, total, window, size int, binaryMsg bool) echoResult {
	b.Helper()
	op := ws.OpText
	if binaryMsg {
		op = ws.OpBinary
	}
	return runExchange(b, s, clients, total, window, op,
		func(dst []byte, _ int, sent time.Time) []byte { return message(dst, size, binaryMsg, sent) },
		func(p []byte) (time.Time, bool) { return sentAt(p, binaryMsg) })
}

// runExchange is runEcho for any protocol: build makes the i-th message of
// a connection (from 1) carrying its send time, which sent reads back from
// the answer; an answer it cannot read fails the run when strict.
func runExchange(b *testing.B, s *server, clients []*wsClient, total, window int, op ws.OpCode,
	build func(dst []byte, i int, sent time.Time) []byte, sent func([]byte) (time.Time, bool)) echoResult {
	b.Helper()
	var budget atomic.Int64
	budget.Store(int64(total))
	lat := make([][]time.Duration, len(clients))
	var wg sync.WaitGroup
	var failed atomic.Value
	cpu0 := s.cpuTime(b)
	start := time.Now()
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat[i] = make([]time.Duration, 0, total/len(clients)+window)
			var msg []byte
			inflight, n := 0, 0
			send := func() error {
				if budget.Add(-1) < 0 {
					return nil
				}
				inflight++
				n++
				msg = build(msg, n, time.Now())
				return c.write(op, msg)
			}
			for j := 0; j < window; j++ {
				if err := send(); err != nil {
					failed.Store(err)
					return
				}
			}
			if err := c.w.Flush(); err != nil {
				failed.Store(err)
				return
			}
			for inflight > 0 {
				_, p, err := c.read()
				if err != nil {
					failed.Store(err)
					return
				}
				if t, ok := sent(p); ok {
					lat[i] = append(lat[i], time.Since(t))
				}
				inflight--
				if err := send(); err != nil {
					failed.Store(err)
					return
				}
				if !wsbuf.FullFrameBuffered(c.r) {
					if err := c.w.Flush(); err != nil {
						failed.Store(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := s.cpuTime(b) - cpu0
	if err, _ := failed.Load().(error); err != nil {
		b.Fatalf("%s echo: %v", s.name, err)
	}
	return newEchoResult(lat, elapsed, cpu)
}

// newEchoResult sums up an echo run: one message per latency measured (lat
// holds each connection's), with their p50 and p99.
func newEchoResult(lat [][]time.Duration, elapsed, cpu time.Duration) echoResult {
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	r := echoResult{msgs: len(all), elapsed: elapsed, cpu: cpu}
	if len(all) > 0 {
		r.p50, r.p99 = all[len(all)/2], all[len(all)*99/100]
	}
	return r
}

// maxSessions is how many sessions a benchmark may open: each costs a file
// on each side, and both sides live under the same per-process limit.
func maxSessions() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 1000
	}
	return int(lim.Cur) - 200
}

func dialClients(b *testing.B, s *server, n int) []*wsClient {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	clients := make([]*wsClient, 0, n)
	b.Cleanup(func() {
		for _, c := range clients {
			_ = c.Close()
		}
	})
	for i := 0; i < n; i++ {
		c, err := dialClient(ctx, s)
		if err != nil {
			b.Fatalf("dial %s: %v", s.name, err)
		}
		clients = append(clients, c)
	}
	return clients
}
