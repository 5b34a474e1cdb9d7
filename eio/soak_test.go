package eio

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chanio/chanio/codec"
)

// TestSoakChurn is the churn soak: 2,000 clients arriving over 55 seconds,
// about a minute with the warm-up and the wait for the last sessions to
// time out (200 over 3 seconds under -short), at most 150 at once, each
// picking at random a transport (WebSocket, polling, polling upgraded to
// WebSocket), a number of numbered messages that the application echoes,
// and an end (close packet, dropped connection, silent disappearance,
// Server.Disconnect, or an upgrade cut half-way and then a close).
//
// Checked: every client saw its echoes in order, none twice (and all of
// them when its session ended cleanly); the application saw, per session,
// one connect, the messages in order with none twice, and one disconnect;
// at the end the registry is empty, the goroutine count is back to its
// baseline and the heap within 10% of it. The baseline is taken after a
// warm-up round of clients at the same concurrency, so that what the
// runtime and the test's own HTTP client keep for good (goroutine
// descriptors, connection pools, map buckets) is in both measurements.
func TestSoakChurn(t *testing.T) {
	clients, duration, live := 2000, 55*time.Second, 150
	if testing.Short() {
		clients, duration, live = 200, 3*time.Second, 50
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	e := newLoadEnv(t, &Options{
		PingInterval:   500 * time.Millisecond,
		PingTimeout:    time.Second,
		UpgradeTimeout: time.Second,
	}, true)
	e.hc = loadClient(live)
	ctx, cancel := context.WithTimeout(context.Background(), duration+2*time.Minute)
	defer cancel()

	run := func(n int, over time.Duration, results []soakClient) {
		sem := make(chan struct{}, live)
		var wg sync.WaitGroup
		start := time.Now()
		for i := 0; i < n; i++ {
			// Arrivals spread evenly over the duration.
			if d := time.Until(start.Add(time.Duration(i) * over / time.Duration(n))); d > 0 {
				time.Sleep(d)
			}
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				c := &results[i]
				c.run(ctx, e, rand.New(rand.NewPCG(seed, uint64(i))))
			}()
		}
		wg.Wait()
	}
	settle := func() {
		// Silent clients end by ping timeout; then every event is read.
		deadline := time.Now().Add(30 * time.Second)
		for e.srv.Len() > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if !e.app.waitFor(10*time.Second, func() bool {
			for _, s := range e.app.sessions {
				if s.disconnects == 0 {
					return false
				}
			}
			return true
		}) {
			t.Error("the application did not see every disconnect")
		}
		e.hc.CloseIdleConnections()
	}

	// Warm-up at full concurrency, then the baseline.
	warm := make([]soakClient, 2*live)
	run(len(warm), time.Second, warm)
	settle()
	e.app.reset()
	results := make([]soakClient, clients)
	g0 := waitGoroutines(0, 200*time.Millisecond)
	h0 := heapInuse()

	began := time.Now()
	run(clients, duration, results)
	ran := time.Since(began)
	settle()

	// What every client saw. On a loaded machine (the race detector, a
	// busy second core) a live client may answer a ping after the soak's
	// one-second PingTimeout, or finish an upgrade after its one-second
	// UpgradeTimeout: the server then ends the session with "ping timeout",
	// or abandons the upgrade and goes on polling. Both are outcomes the
	// protocol provides for; they are counted, not failed, and what the
	// client saw of such a session is judged by what the protocol
	// promises: echoes in order and none twice, up to the end.
	bad, timedOut, abandoned := 0, 0, 0
	kinds := map[string]int{}
	var sent, echoed int
	for i := range results {
		c := &results[i]
		kinds[c.kind+"/"+c.end]++
		sent += c.sent
		echoed += c.echoed
		if c.abandoned {
			abandoned++
		}
		if c.problem == "" {
			continue
		}
		// A client that vanishes ends by ping timeout in any case, so
		// that its session's end cannot tell whether the timeout came
		// early, under load, before a failed upgrade (seen twice with a
		// load average of 11-17: the upgrade refused with 400, the
		// session gone) or after it: such an upgrade problem is excused
		// as the others are. Upgrades of clients that end otherwise
		// still fail on any problem, and the excuses stay bounded below.
		if s := e.app.get(c.sid); !c.disordered && s.disconnects == 1 && s.reason == ReasonPingTimeout &&
			(c.end != "vanish" || c.upgradeFailed) {
			timedOut++
			continue
		}
		if bad++; bad <= 10 {
			t.Errorf("client %d (%s, %s, sid %s): %s", i, c.kind, c.end, c.sid, c.problem)
		}
	}
	if bad > 10 {
		t.Errorf("... %d clients in all saw problems", bad)
	}
	t.Logf("under load: %d live sessions ended by ping timeout, %d upgrades abandoned by the server", timedOut, abandoned)
	if timedOut+abandoned > clients/4 {
		// Not load: a quarter of the clients cannot be that slow.
		t.Errorf("%d ping timeouts and %d abandoned upgrades among %d clients", timedOut, abandoned, clients)
	}
	// What the application saw.
	if n := e.srv.Len(); n != 0 {
		t.Errorf("%d sessions still registered", n)
	}
	if got := e.app.count(); got != clients {
		t.Errorf("the application saw %d sessions, want %d", got, clients)
	}
	e.app.checkComplete(t)
	e.checkNoErrors(t)
	reasons := e.app.reasons()
	e.app.reset() // the test's own records, not the server's, are let go

	g1 := waitGoroutines(g0, 10*time.Second)
	h1 := heapInuse()
	st := e.srv.Stats()
	t.Logf("%d clients in %v (at most %d at once): %v", clients, ran.Round(time.Millisecond), live, kinds)
	t.Logf("ends: %v", reasons)
	t.Logf("messages: clients sent %d, echoes received %d; server in %d, out %d, undelivered %d; handshakes %d, upgrades %d (%d failed)",
		sent, echoed, st.MessagesIn, st.MessagesOut, st.Undelivered, st.Handshakes, st.Upgrades, st.UpgradesFailed)
	t.Logf("goroutines: %d at the baseline, %d after", g0, g1)
	t.Logf("heap in use: %s at the baseline, %s after (%+.1f%%)", mib(h0), mib(h1), 100*(float64(h1)/float64(h0)-1))
	if g1 > g0 {
		t.Errorf("%d goroutines after the soak, %d at the baseline", g1, g0)
		buf := make([]byte, 1<<20)
		t.Logf("%s", buf[:runtime.Stack(buf, true)])
	}
	// 10% of the baseline plus 256 bytes a client: the runtime's caches
	// and pools move a baseline of a few megabytes by a few hundred KiB
	// from run to run (2.1 MiB then 2.5 MiB, in CI). A leak of a session's
	// memory (a few KiB) for each client is far above it.
	if slack := h0/10 + uint64(clients)*256; h1 > h0+slack {
		t.Errorf("heap %s after the soak, over the baseline %s by more than %s", mib(h1), mib(h0), mib(slack))
	}
	if st.Handshakes != uint64(len(warm)+clients) {
		t.Errorf("%d handshakes, want %d", st.Handshakes, len(warm)+clients)
	}
}

// soakClient is one client of the soak and what it saw. Its fields are
// set by the client's own goroutine and read once all have finished.
type soakClient struct {
	kind, end string
	sid       string
	sent      int
	echoed    int
	problem   string
	// disordered: echoes came out of order or twice, which no end of the
	// session excuses.
	disordered bool
	// abandoned: the server gave up the upgrade (its UpgradeTimeout) and
	// the session went on polling.
	abandoned bool
	// upgradeFailed: the problem is the upgrade's (dial, probe, packet).
	upgradeFailed bool
}

func (c *soakClient) fail(format string, args ...any) {
	if c.problem == "" {
		c.problem = fmt.Sprintf(format, args...)
	}
}

// echoes checks the echoes a client receives: 1, 2, 3... none twice.
type echoes struct {
	mu   sync.Mutex
	got  int
	bad  string
	more chan struct{} // closed and replaced on each echo
}

func newEchoes() *echoes { return &echoes{more: make(chan struct{})} }

func (e *echoes) add(data []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, ok := seqOf(data)
	if !ok || n != e.got+1 {
		if e.bad == "" {
			e.bad = fmt.Sprintf("echo %q after %d", data, e.got)
		}
		return
	}
	e.got = n
	close(e.more)
	e.more = make(chan struct{})
}

// wait waits until n echoes have come, or until timeout.
func (e *echoes) wait(n int, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		e.mu.Lock()
		got, more := e.got, e.more
		e.mu.Unlock()
		if got >= n {
			return true
		}
		select {
		case <-more:
		case <-deadline.C:
			return false
		}
	}
}

func (e *echoes) result() (int, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.got, e.bad
}

// run plays one client: pick a transport and an end, open, exchange, end,
// and wait (up to 10s) for the server to let the session go.
func (c *soakClient) run(ctx context.Context, e *loadEnv, r *rand.Rand) {
	c.kind = [...]string{"websocket", "websocket", "polling", "upgrade"}[r.IntN(4)]
	ends := []string{"close", "close", "drop", "vanish", "disconnect"}
	if c.kind == "upgrade" {
		ends = append(ends, "cut upgrade")
	}
	c.end = ends[r.IntN(len(ends))]
	want := 1 + r.IntN(20)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if c.kind == "websocket" {
		c.runWebSocket(cctx, e, r, want)
	} else {
		c.runPolling(cctx, cancel, e, r, want)
	}
	// The session goes: at once, or after a ping timeout for a client that
	// vanished.
	if c.sid != "" {
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := e.srv.Transport(c.sid); err != nil {
				break
			}
			if time.Now().After(deadline) {
				c.fail("session still registered 10s after the client ended (%s)", c.end)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// wsReader reads a WebSocket until it ends: echoes are checked, pings
// answered (unless the client is silent), the close packet noted.
func wsReader(conn *wsClient, ech *echoes, silent *atomic.Bool, closed *atomic.Bool) {
	for {
		data, _, err := conn.read(30 * time.Second)
		switch {
		case err != nil:
			return
		case data == "1":
			closed.Store(true)
		case data == "2":
			if !silent.Load() {
				_ = conn.write("3")
			}
		case strings.HasPrefix(data, "4"):
			ech.add([]byte(data[1:]))
		}
	}
}

func pad(r *rand.Rand) int { return r.IntN(200) }

func (c *soakClient) runWebSocket(ctx context.Context, e *loadEnv, r *rand.Rand, want int) {
	conn, err := wsDial(ctx, e.base, "", nil)
	if err != nil {
		c.fail("dial: %v", err)
		return
	}
	defer conn.close()
	if c.sid, err = conn.open(); err != nil {
		c.fail("open: %v", err)
		return
	}
	ech := newEchoes()
	var silent, closed atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		wsReader(conn, ech, &silent, &closed)
	}()
	if c.end == "drop" {
		want = 1 + r.IntN(want) // dropped part-way
	}
	for i := 1; i <= want; i++ {
		if conn.write("4"+numbered(i, pad(r))) != nil {
			break
		}
		c.sent = i
		time.Sleep(time.Duration(r.IntN(30)) * time.Millisecond)
	}
	c.finish(e, ech, want, func() {
		switch c.end {
		case "close":
			_ = conn.write("1")
		case "drop":
			conn.close()
		case "vanish":
			silent.Store(true)
		case "disconnect":
			_ = e.srv.Disconnect(c.sid)
		}
	})
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		c.fail("connection still open 20s after the end (%s)", c.end)
		conn.close()
		<-done
	}
	if (c.end == "disconnect" || c.end == "vanish") && !closed.Load() {
		c.fail("no close packet after %s", c.end)
	}
	c.echoed, _ = ech.result()
	if _, bad := ech.result(); bad != "" {
		c.disordered = true
		c.fail("%s", bad)
	}
}

// finish waits for every echo when the end is a clean one, then ends.
func (c *soakClient) finish(e *loadEnv, ech *echoes, want int, end func()) {
	if c.end != "drop" && c.end != "vanish" && !ech.wait(want, 10*time.Second) {
		got, _ := ech.result()
		c.fail("%d of %d echoes before the %s", got, want, c.end)
	}
	end()
}

func (c *soakClient) runPolling(ctx context.Context, cancel context.CancelFunc, e *loadEnv, r *rand.Rand, want int) {
	p, _, err := pollHandshake(ctx, e.hc, e.base)
	if err != nil {
		c.fail("handshake: %v", err)
		return
	}
	c.sid = p.sid
	ech := newEchoes()
	var postMu sync.Mutex
	post := func(pkts ...codec.Packet) error {
		postMu.Lock()
		defer postMu.Unlock()
		status, err := p.post(ctx, pkts...)
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("POST: %d", status)
		}
		return err
	}
	var silent, closed, pause atomic.Bool
	polling := make(chan struct{})
	startPolling := func() {
		ch := make(chan struct{})
		polling = ch
		go func() {
			defer close(ch)
			for !pause.Load() && !silent.Load() {
				pkts, status, err := p.get(ctx)
				if err != nil || status != http.StatusOK {
					return
				}
				for _, pkt := range pkts {
					switch pkt.Type {
					case codec.Message:
						ech.add(pkt.Data)
					case codec.Ping:
						if !silent.Load() {
							go func() { _ = post(codec.Packet{Type: codec.Pong}) }()
						}
					case codec.Close:
						closed.Store(true)
						return
					}
				}
			}
		}()
	}
	startPolling()
	defer func() { <-polling }()

	var ws *wsClient
	wsDone := make(chan struct{})
	send := func(i int) error {
		msg := numbered(i, pad(r))
		if ws != nil {
			return ws.write("4" + msg)
		}
		return post(textMsg(msg))
	}
	if c.end == "drop" {
		want = 1 + r.IntN(want)
	}
	upgradeAt := 1 + r.IntN(want)
	for i := 1; i <= want; i++ {
		if c.kind == "upgrade" && i == upgradeAt {
			ws = c.upgrade(ctx, e, p, ech, &pause, &silent, &closed, wsDone, startPolling, &polling)
		}
		if send(i) != nil {
			break
		}
		c.sent = i
		time.Sleep(time.Duration(r.IntN(30)) * time.Millisecond)
	}
	c.finish(e, ech, want, func() {
		switch c.end {
		case "close", "cut upgrade":
			if ws != nil {
				_ = ws.write("1")
			} else {
				_ = post(codec.Packet{Type: codec.Close})
			}
		case "drop":
			cancel()
			if ws != nil {
				ws.close()
			}
		case "vanish":
			silent.Store(true)
		case "disconnect":
			_ = e.srv.Disconnect(c.sid)
		}
	})
	if ws != nil {
		select {
		case <-wsDone:
		case <-time.After(20 * time.Second):
			c.fail("websocket still open 20s after the end (%s)", c.end)
			ws.close()
			<-wsDone
		}
		ws.close()
	} else {
		select {
		case <-polling:
		case <-time.After(20 * time.Second):
			c.fail("still polling 20s after the end (%s)", c.end)
			cancel()
		}
	}
	if c.end == "disconnect" && !closed.Load() {
		c.fail("no close packet after Disconnect")
	}
	c.echoed, _ = ech.result()
	if _, bad := ech.result(); bad != "" {
		c.disordered = true
		c.fail("%s", bad)
	}
}

// upgrade runs the probe on a new WebSocket; with the end "cut upgrade"
// it cuts the WebSocket after the probe and goes on polling. It returns
// the WebSocket once upgraded, or nil.
func (c *soakClient) upgrade(ctx context.Context, e *loadEnv, p *pollClient, ech *echoes,
	pause, silent, closed *atomic.Bool, done chan struct{}, startPolling func(), polling *chan struct{}) *wsClient {
	ws, err := wsDial(ctx, e.base, p.sid, nil)
	if err != nil {
		c.upgradeFailed = c.problem == ""
		c.fail("upgrade dial: %v", err)
		return nil
	}
	_ = ws.write("2probe")
	if data, _, err := ws.read(10 * time.Second); err != nil || data != "3probe" {
		if err != nil && c.upgradeAbandoned(e) {
			ws.close()
			return nil
		}
		c.upgradeFailed = c.problem == ""
		c.fail("probe answer %q %v", data, err)
		ws.close()
		return nil
	}
	if c.end == "cut upgrade" {
		ws.close()
		return nil
	}
	// Pause polling: the held GET comes back with a noop.
	pause.Store(true)
	<-*polling
	if closed.Load() {
		ws.close()
		return nil
	}
	if err := ws.write("5"); err != nil {
		if !c.upgradeAbandoned(e) {
			c.upgradeFailed = c.problem == ""
			c.fail("upgrade packet: %v", err)
		}
		ws.close()
		pause.Store(false)
		startPolling()
		return nil
	}
	go func() {
		defer close(done)
		wsReader(ws, ech, silent, closed)
	}()
	return ws
}

// upgradeAbandoned reports whether the server gave up the client's upgrade
// and the session goes on polling, as after an UpgradeTimeout, and notes
// it.
func (c *soakClient) upgradeAbandoned(e *loadEnv) bool {
	if tr, err := e.srv.Transport(c.sid); err != nil || tr != TransportPolling {
		return false
	}
	c.abandoned = true
	return true
}
