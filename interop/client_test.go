package interop

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chanio/chanio/eio"
)

// These tests run chanio's eio.Client against the real servers: Node's
// engine.io (js/server.js) and python-engineio (python/server.py), both
// echo servers started on a loopback port by the test.

// clientWait bounds anything a test waits for; no test asserts a tighter
// upper bound.
const clientWait = 30 * time.Second

// echoPeer is a real Engine.IO echo server implementation.
type echoPeer struct {
	name  string
	start func(t *testing.T, args ...string) (*process, string)
}

var echoPeers = []echoPeer{
	{"node", func(t *testing.T, args ...string) (*process, string) {
		t.Helper()
		requireNode(t)
		return startProcess(t, jsDir(), "node", append([]string{"server.js"}, args...)...)
	}},
	{"python", func(t *testing.T, args ...string) (*process, string) {
		t.Helper()
		requirePython(t)
		return startProcess(t, pythonDir(), systemPython, append([]string{"server.py"}, args...)...)
	}},
}

var clientModes = []struct {
	name       string
	transports []string
	final      string
}{
	{"polling", []string{eio.TransportPolling}, eio.TransportPolling},
	{"websocket", []string{eio.TransportWebSocket}, eio.TransportWebSocket},
	{"upgrade", nil, eio.TransportWebSocket},
}

func dialPeer(t *testing.T, base string, transports []string) *eio.Client {
	t.Helper()
	return dialPeerWith(t, base, &eio.ClientOptions{Transports: transports})
}

func dialPeerWith(t *testing.T, base string, opts *eio.ClientOptions) *eio.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientWait)
	defer cancel()
	c, err := eio.Dial(ctx, base, opts)
	if err != nil {
		t.Fatalf("Dial(%s): %v", base, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), clientWait)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("Close at cleanup: %v", err)
		}
	})
	if ev := nextClientEvent(t, c); ev.Type != eio.EventConnect || ev.SID != c.SID() {
		t.Fatalf("first event %+v, want connect", ev)
	}
	return c
}

func nextClientEvent(t *testing.T, c *eio.Client) eio.Event {
	t.Helper()
	select {
	case ev, ok := <-c.Events():
		if !ok {
			t.Fatal("events channel closed")
		}
		return ev
	case <-time.After(clientWait):
		t.Fatal("no client event in time")
	}
	return eio.Event{}
}

func expectClientText(t *testing.T, c *eio.Client, want string) {
	t.Helper()
	ev := nextClientEvent(t, c)
	if ev.Type != eio.EventMessage || ev.Binary || string(ev.Data) != want {
		t.Fatalf("got %v binary=%v %.80q (reason %v, err %v), want text %.80q",
			ev.Type, ev.Binary, ev.Data, ev.Reason, ev.Err, want)
	}
}

// expectClientEnd reads up to the one disconnect and checks the channel
// closes after it.
func expectClientEnd(t *testing.T, c *eio.Client) eio.Event {
	t.Helper()
	var end eio.Event
	for end.Type != eio.EventDisconnect {
		end = nextClientEvent(t, c)
	}
	select {
	case ev, ok := <-c.Events():
		if ok {
			t.Fatalf("event %+v after the disconnect", ev)
		}
	case <-time.After(clientWait):
		t.Fatal("events channel not closed after the disconnect")
	}
	<-c.Done()
	return end
}

func waitClientTransport(t *testing.T, c *eio.Client, want string) {
	t.Helper()
	deadline := time.Now().Add(clientWait)
	for c.Transport() != want {
		if time.Now().After(deadline) {
			t.Fatalf("transport %s, want %s", c.Transport(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sendNumbered sends count messages "n:i", from another goroutine when
// concurrently, and checks each comes back once and in order.
func sendNumbered(t *testing.T, c *eio.Client, count int, concurrently bool) {
	t.Helper()
	errc := make(chan error, 1)
	send := func() {
		for i := range count {
			if err := c.Send([]byte("n:" + strconv.Itoa(i))); err != nil {
				errc <- fmt.Errorf("send %d: %w", i, err)
				return
			}
		}
		errc <- nil
	}
	if concurrently {
		go send()
	} else {
		send()
	}
	for i := range count {
		expectClientText(t, c, "n:"+strconv.Itoa(i))
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestClientAgainstPeers: chanio's client against Node's engine.io and
// python-engineio, each transport mode: text, binary, 1,000 messages in
// order, a message near maxPayload, and a clean close. The short ping
// interval makes the client answer pings throughout.
func TestClientAgainstPeers(t *testing.T) {
	big := strings.Repeat("y", 900_000)
	for _, p := range echoPeers {
		t.Run(p.name, func(t *testing.T) {
			_, base := p.start(t, "pingInterval=200", "pingTimeout=5000", "maxHttpBufferSize=1000000")
			for _, m := range clientModes {
				t.Run(m.name, func(t *testing.T) {
					c := dialPeer(t, base, m.transports)
					if m.name == "upgrade" {
						waitClientTransport(t, c, eio.TransportWebSocket)
					}
					if err := c.Send([]byte("hello é 😀")); err != nil {
						t.Fatal(err)
					}
					expectClientText(t, c, "hello é 😀")
					bin := []byte{1, 2, 3, 0x1e, 255}
					if err := c.SendBinary(bin); err != nil {
						t.Fatal(err)
					}
					if ev := nextClientEvent(t, c); ev.Type != eio.EventMessage || !ev.Binary || !bytes.Equal(ev.Data, bin) {
						t.Fatalf("binary echo: %v binary=%v %v", ev.Type, ev.Binary, ev.Data)
					}
					sendNumbered(t, c, 1000, false)
					if err := c.Send([]byte(big)); err != nil {
						t.Fatal(err)
					}
					expectClientText(t, c, big)
					if got := c.Transport(); got != m.final {
						t.Errorf("Transport() = %s, want %s", got, m.final)
					}
					ctx, cancel := context.WithTimeout(context.Background(), clientWait)
					defer cancel()
					if err := c.Close(ctx); err != nil {
						t.Fatal(err)
					}
					if end := expectClientEnd(t, c); end.Reason != eio.ReasonClientDisconnect || end.Err != nil {
						t.Errorf("disconnect %v (%v), want client disconnect", end.Reason, end.Err)
					}
				})
			}
		})
	}
}

// TestClientDeflateAgainstPeers offers permessage-deflate: Node's ws and
// aiohttp accept it, and large messages round-trip compressed.
func TestClientDeflateAgainstPeers(t *testing.T) {
	big := strings.Repeat("deflate me ", 20_000)
	for _, p := range echoPeers {
		t.Run(p.name, func(t *testing.T) {
			_, base := p.start(t, "perMessageDeflate=1")
			for _, m := range clientModes[1:] {
				t.Run(m.name, func(t *testing.T) {
					var logs bytes.Buffer // slog's handler serialises writes
					c := dialPeerWith(t, base, &eio.ClientOptions{
						Transports:           m.transports,
						WebSocketCompression: true,
						Logger:               slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
					})
					waitClientTransport(t, c, eio.TransportWebSocket)
					for range 3 {
						if err := c.Send([]byte(big)); err != nil {
							t.Fatal(err)
						}
						expectClientText(t, c, big)
					}
					sendNumbered(t, c, 100, false)
					ctx, cancel := context.WithTimeout(context.Background(), clientWait)
					defer cancel()
					if err := c.Close(ctx); err != nil {
						t.Fatal(err)
					}
					if !strings.Contains(logs.String(), "permessage_deflate=true") {
						t.Errorf("permessage-deflate not negotiated; client log:\n%s", logs.String())
					}
				})
			}
		})
	}
}

// TestClientUpgradeAgainstPeers sends while the upgrade is under way.
func TestClientUpgradeAgainstPeers(t *testing.T) {
	for _, p := range echoPeers {
		t.Run(p.name, func(t *testing.T) {
			_, base := p.start(t)
			for i := range 3 {
				t.Run(strconv.Itoa(i), func(t *testing.T) {
					c := dialPeer(t, base, nil)
					sendNumbered(t, c, 1000, true)
					waitClientTransport(t, c, eio.TransportWebSocket)
					if err := c.Send([]byte("after")); err != nil {
						t.Fatal(err)
					}
					expectClientText(t, c, "after")
				})
			}
		})
	}
}

// TestClientPeerCloses: the server closes the session ("close" makes the
// echo servers do it); the client ends once, with server disconnect.
func TestClientPeerCloses(t *testing.T) {
	for _, p := range echoPeers {
		t.Run(p.name, func(t *testing.T) {
			_, base := p.start(t)
			for _, m := range clientModes {
				t.Run(m.name, func(t *testing.T) {
					c := dialPeer(t, base, m.transports)
					if m.name == "upgrade" {
						waitClientTransport(t, c, eio.TransportWebSocket)
					}
					if err := c.Send([]byte("close")); err != nil {
						t.Fatal(err)
					}
					if end := expectClientEnd(t, c); end.Reason != eio.ReasonServerDisconnect {
						t.Errorf("disconnect %v (%v), want server disconnect", end.Reason, end.Err)
					}
				})
			}
		})
	}
}

// TestClientPeerKilled: the server process dies mid-session; the client
// ends once, with transport close.
func TestClientPeerKilled(t *testing.T) {
	for _, p := range echoPeers {
		t.Run(p.name, func(t *testing.T) {
			for _, m := range clientModes {
				t.Run(m.name, func(t *testing.T) {
					proc, base := p.start(t)
					c := dialPeer(t, base, m.transports)
					if m.name == "upgrade" {
						waitClientTransport(t, c, eio.TransportWebSocket)
					}
					if err := c.Send([]byte("before")); err != nil {
						t.Fatal(err)
					}
					expectClientText(t, c, "before")
					proc.Kill()
					end := expectClientEnd(t, c)
					if end.Reason != eio.ReasonTransportClose {
						t.Errorf("disconnect %v (%v), want transport close", end.Reason, end.Err)
					}
				})
			}
		})
	}
}

// TestClientPeerRefuses: a refused handshake is an *eio.HTTPError with
// the server's status (and code, from Node). The echo servers refuse a
// handshake that carries the header X-Refuse, which also shows that
// ClientOptions.Header reaches them.
func TestClientPeerRefuses(t *testing.T) {
	want := map[string]struct {
		status int
		code   eio.ErrorCode
	}{
		// allowRequest refusal: 403 with JSON on polling; on a WebSocket
		// handshake Node answers 400 with the bare message.
		"node polling":   {403, eio.CodeForbidden},
		"node websocket": {400, -1},
		// The connect handler returned False.
		"python polling":   {401, -1},
		"python websocket": {401, -1},
	}
	for _, p := range echoPeers {
		t.Run(p.name, func(t *testing.T) {
			_, base := p.start(t)
			for _, m := range clientModes[:2] {
				t.Run(m.name, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), clientWait)
					defer cancel()
					c, err := eio.Dial(ctx, base, &eio.ClientOptions{
						Transports: m.transports,
						Header:     http.Header{"X-Refuse": {"1"}},
					})
					if c != nil {
						_ = c.Close(ctx)
					}
					var he *eio.HTTPError
					if !errors.As(err, &he) {
						t.Fatalf("Dial: %v, want *HTTPError", err)
					}
					w := want[p.name+" "+m.name]
					if he.Status != w.status || he.Code != w.code {
						t.Errorf("HTTPError %v (status %d code %d), want status %d code %d",
							he, he.Status, he.Code, w.status, w.code)
					}
				})
			}
		})
	}
}

// TestExampleClient runs examples/client: lines of standard input go out as
// messages and come back on standard output; the end of input closes the
// connection and the command exits 0, as it does when the server closes.
func TestExampleClient(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "client")
	build := exec.Command("go", "build", "-o", bin, "github.com/chanio/chanio/examples/client")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building examples/client: %v\n%s", err, out)
	}
	_, echoURL := startEcho(t)
	for _, mode := range []string{"polling", "websocket", "upgrade"} {
		t.Run(mode, func(t *testing.T) {
			lines := []string{"one", "two é", "three"}
			runExampleClient(t, bin, echoURL, mode, lines, lines, true)
		})
	}
	t.Run("server close", func(t *testing.T) {
		requireNode(t)
		_, nodeURL := startProcess(t, jsDir(), "node", "server.js")
		runExampleClient(t, bin, nodeURL, "websocket", []string{"hi", "close"}, []string{"hi"}, false)
	})
}

// runExampleClient feeds input to the client, waits for want on its
// standard output, then (with closeInput) ends its input, and expects exit
// status 0.
func runExampleClient(t *testing.T, bin, url, mode string, input, want []string, closeInput bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-url", url, "-transport", mode)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for _, l := range input {
		if _, err := io.WriteString(stdin, l+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	sc := bufio.NewScanner(stdout)
	var got []string
	for len(got) < len(want) && sc.Scan() {
		got = append(got, sc.Text())
	}
	if closeInput {
		_ = stdin.Close()
	}
	for sc.Scan() {
		got = append(got, sc.Text())
	}
	err = cmd.Wait()
	if !slices.Equal(got, want) {
		t.Errorf("output %q, want %q", got, want)
	}
	if err != nil {
		t.Errorf("client exited with %v; stderr: %s", err, stderr.String())
	}
}
