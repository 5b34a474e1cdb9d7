// Command scaleload is one load-generator process of chanio's scale
// benchmark (`make bench-scale`, bench/scale_test.go): it holds n raw
// Engine.IO WebSocket sessions, spread in turn over the servers' URLs,
// answers their pings, and measures how long each broadcast takes to
// reach each of its sessions. The benchmark runs several, so that no
// process holds more open files than it may.
//
//	scaleload -n 16667 -urls ws://127.0.0.1:9001/engine.io/?EIO=4&transport=websocket,...
//
// It prints "listening on http://ADDR/" and takes its orders there:
//
//	POST /dial                  open the n sessions (-dialers at a time); answers
//	                            {"sessions":n,"seconds":s} once all are open
//	POST /broadcast?round=R     send "broadcast:R:<unix ns>" on the first session
//	GET  /round?round=R&wait=D  wait (at most D) until every session has had
//	                            round R; answers {"received":k,"micros":[...]},
//	                            each session's delay in microseconds
//	GET  /stats                 {"sessions":n,"closed":k,"pongs":p}
//
// A broadcast message, "R:<unix ns>" in an Engine.IO message packet,
// carries its send time: every process of the benchmark runs on one
// machine and reads the same clock. It stops on SIGTERM or SIGINT.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
)

func main() {
	n := flag.Int("n", 1000, "how many sessions to hold")
	urls := flag.String("urls", "", "comma-separated WebSocket URLs of the servers; sessions go to each in turn")
	dialers := flag.Int("dialers", 32, "how many sessions to open at a time")
	flag.Parse()
	if *urls == "" || *n < 1 {
		log.Fatal("scaleload: -urls and -n > 0 are needed")
	}
	g := &gen{urls: strings.Split(*urls, ","), n: *n, dialers: *dialers, rounds: map[int]*round{}}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /dial", g.handleDial)
	mux.HandleFunc("POST /broadcast", g.handleBroadcast)
	mux.HandleFunc("GET /round", g.handleRound)
	mux.HandleFunc("GET /stats", g.handleStats)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	fmt.Printf("listening on http://%s/\n", ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		log.Print(err)
	}
	g.close()
}

// gen is the load generator: its sessions and the rounds they have seen.
type gen struct {
	urls    []string
	n       int
	dialers int

	mu       sync.Mutex
	sessions []*session
	rounds   map[int]*round
	readers  sync.WaitGroup

	closed, pongs atomic.Int64
}

// session is one WebSocket session of the generator.
type session struct {
	conn net.Conn
	r    *bufio.Reader
	wmu  sync.Mutex // guards writes: pongs from the reader, the broadcast command
}

// round is what the sessions saw of one broadcast: each one's delay.
type round struct {
	micros   []int32 // by session index; -1 until it arrives
	received atomic.Int64
	done     chan struct{} // closed when every session has it
}

func (g *gen) round(r int) *round {
	g.mu.Lock()
	defer g.mu.Unlock()
	rd, ok := g.rounds[r]
	if !ok {
		rd = &round{micros: make([]int32, g.n), done: make(chan struct{})}
		for i := range rd.micros {
			rd.micros[i] = -1
		}
		g.rounds[r] = rd
	}
	return rd
}

func (g *gen) handleDial(w http.ResponseWriter, req *http.Request) {
	start := time.Now()
	if err := g.dial(req.Context()); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, map[string]any{"sessions": g.n, "seconds": time.Since(start).Seconds()})
}

// dial opens the sessions, g.dialers at a time, and starts a reader for
// each.
func (g *gen) dial(ctx context.Context) error {
	g.mu.Lock()
	if g.sessions != nil {
		g.mu.Unlock()
		return errors.New("scaleload: already dialed")
	}
	g.sessions = make([]*session, g.n)
	g.mu.Unlock()
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for range g.dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < g.n && failed.Load() == nil; i = int(next.Add(1) - 1) {
				s, err := dialSession(ctx, g.urls[i%len(g.urls)])
				if err != nil {
					failed.Store(fmt.Errorf("session %d: %w", i, err))
					return
				}
				g.mu.Lock()
				g.sessions[i] = s
				g.mu.Unlock()
				g.readers.Add(1)
				go g.read(i, s)
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return err
	}
	return nil
}

// dialSession opens a WebSocket session and reads its open packet.
func dialSession(ctx context.Context, url string) (*session, error) {
	d := ws.Dialer{Timeout: 60 * time.Second}
	conn, br, _, err := d.Dial(ctx, url)
	if err != nil {
		return nil, err
	}
	s := &session{conn: conn, r: br}
	if s.r == nil {
		s.r = bufio.NewReaderSize(conn, 512)
	}
	op, p, err := readFrame(s.r, nil)
	if err != nil || op != ws.OpText || len(p) == 0 || p[0] != '0' {
		conn.Close()
		return nil, fmt.Errorf("no open packet (%q, %v)", p, err)
	}
	return s, nil
}

// readFrame reads the next frame's payload into buf (grown as needed).
func readFrame(r *bufio.Reader, buf []byte) (ws.OpCode, []byte, error) {
	h, err := ws.ReadHeader(r)
	if err != nil {
		return 0, nil, err
	}
	if h.Length > 1<<20 {
		return 0, nil, fmt.Errorf("frame of %d bytes", h.Length)
	}
	if int64(cap(buf)) < h.Length {
		buf = make([]byte, h.Length)
	}
	p := buf[:h.Length]
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, err
	}
	return h.OpCode, p, nil
}

// read answers session i's pings and records the broadcasts it receives,
// until the connection ends.
func (g *gen) read(i int, s *session) {
	defer g.readers.Done()
	var buf []byte
	for {
		op, p, err := readFrame(s.r, buf)
		if err != nil || op == ws.OpClose {
			g.closed.Add(1)
			return
		}
		buf = p[:0]
		now := time.Now()
		switch {
		case op != ws.OpText || len(p) == 0:
		case p[0] == '2' && len(p) == 1:
			if s.write([]byte{'3'}) != nil {
				g.closed.Add(1)
				return
			}
			g.pongs.Add(1)
		case p[0] == '4':
			r, sent, ok := parseBroadcast(p[1:])
			if !ok {
				continue
			}
			rd := g.round(r)
			if atomic.LoadInt32(&rd.micros[i]) >= 0 {
				continue
			}
			atomic.StoreInt32(&rd.micros[i], int32(min(now.Sub(sent).Microseconds(), 1<<31-1)))
			if rd.received.Add(1) == int64(g.n) {
				close(rd.done)
			}
		}
	}
}

// parseBroadcast reads "R:<unix ns>".
func parseBroadcast(p []byte) (r int, sent time.Time, ok bool) {
	a, b, found := bytes.Cut(p, []byte{':'})
	if !found {
		return 0, time.Time{}, false
	}
	r, err1 := strconv.Atoi(string(a))
	ns, err2 := strconv.ParseInt(string(b), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, time.Time{}, false
	}
	return r, time.Unix(0, ns), true
}

// write sends p as one masked text frame.
func (s *session) write(p []byte) error {
	frame, err := ws.CompileFrame(ws.MaskFrameInPlace(ws.NewTextFrame(p)))
	if err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, err = s.conn.Write(frame)
	return err
}

func (g *gen) handleBroadcast(w http.ResponseWriter, req *http.Request) {
	r, err := strconv.Atoi(req.URL.Query().Get("round"))
	if err != nil {
		http.Error(w, "round: "+err.Error(), http.StatusBadRequest)
		return
	}
	g.round(r)
	g.mu.Lock()
	var s *session
	if len(g.sessions) > 0 {
		s = g.sessions[0]
	}
	g.mu.Unlock()
	if s == nil {
		http.Error(w, "no session yet", http.StatusConflict)
		return
	}
	msg := fmt.Sprintf("4broadcast:%d:%d", r, time.Now().UnixNano())
	if err := s.write([]byte(msg)); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (g *gen) handleRound(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	r, err := strconv.Atoi(q.Get("round"))
	if err != nil {
		http.Error(w, "round: "+err.Error(), http.StatusBadRequest)
		return
	}
	wait, err := time.ParseDuration(q.Get("wait"))
	if err != nil {
		http.Error(w, "wait: "+err.Error(), http.StatusBadRequest)
		return
	}
	rd := g.round(r)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-rd.done:
	case <-t.C:
	case <-req.Context().Done():
		return
	}
	// Read after done (or the timeout): every delay written before done
	// was closed is visible; after a timeout, late ones may be missed.
	micros := make([]int32, 0, g.n)
	for i := range rd.micros {
		if v := atomic.LoadInt32(&rd.micros[i]); v >= 0 {
			micros = append(micros, v)
		}
	}
	writeJSON(w, map[string]any{"received": len(micros), "micros": micros})
}

func (g *gen) handleStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]any{"sessions": g.n, "closed": g.closed.Load(), "pongs": g.pongs.Load()})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// close ends every session and waits for their readers.
func (g *gen) close() {
	g.mu.Lock()
	for _, s := range g.sessions {
		if s != nil {
			_ = s.conn.Close()
		}
	}
	g.mu.Unlock()
	g.readers.Wait()
}
