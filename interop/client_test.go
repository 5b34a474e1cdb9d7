package interop

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/internal/clienttest"
)

// These tests run chanio's eio.Client against the real servers: Node's
// engine.io (js/server.js) and python-engineio (python/server.py), both
// echo servers started on a loopback port by the test.

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

func dialPeer(t *testing.T, base string, transports []string) *eio.Client {
	t.Helper()
	return clienttest.Dial(t, base, &eio.ClientOptions{Transports: transports})
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
			for _, m := range clienttest.Modes {
				t.Run(m.Name, func(t *testing.T) {
					c := dialPeer(t, base, m.Transports)
					clienttest.WaitTransport(t, c, m.Final) // upgrade: until the switch
					if err := c.Send([]byte("hello é 😀")); err != nil {
						t.Fatal(err)
					}
					clienttest.ExpectText(t, c, "hello é 😀")
					bin := []byte{1, 2, 3, 0x1e, 255}
					if err := c.SendBinary(bin); err != nil {
						t.Fatal(err)
					}
					if ev := clienttest.NextMessage(t, c); ev.Type != eio.EventMessage || !ev.Binary || !bytes.Equal(ev.Data, bin) {
						t.Fatalf("binary echo: %v binary=%v %v", ev.Type, ev.Binary, ev.Data)
					}
					clienttest.SendNumbered(t, c, 1000, false)
					if err := c.Send([]byte(big)); err != nil {
						t.Fatal(err)
					}
					clienttest.ExpectText(t, c, big)
					if got := c.Transport(); got != m.Final {
						t.Errorf("Transport() = %s, want %s", got, m.Final)
					}
					ctx, cancel := context.WithTimeout(context.Background(), clienttest.Wait)
					defer cancel()
					if err := c.Close(ctx); err != nil {
						t.Fatal(err)
					}
					if end := clienttest.ExpectEnd(t, c); end.Reason != eio.ReasonClientDisconnect || end.Err != nil {
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
			for _, m := range clienttest.Modes[1:] {
				t.Run(m.Name, func(t *testing.T) {
					var logs bytes.Buffer // slog's handler serialises writes
					c := clienttest.Dial(t, base, &eio.ClientOptions{
						Transports:           m.Transports,
						WebSocketCompression: true,
						Logger:               slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
					})
					clienttest.WaitTransport(t, c, eio.TransportWebSocket)
					for range 3 {
						if err := c.Send([]byte(big)); err != nil {
							t.Fatal(err)
						}
						clienttest.ExpectText(t, c, big)
					}
					clienttest.SendNumbered(t, c, 100, false)
					ctx, cancel := context.WithTimeout(context.Background(), clienttest.Wait)
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
					clienttest.SendNumbered(t, c, 1000, true)
					clienttest.WaitTransport(t, c, eio.TransportWebSocket)
					if err := c.Send([]byte("after")); err != nil {
						t.Fatal(err)
					}
					clienttest.ExpectText(t, c, "after")
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
			for _, m := range clienttest.Modes {
				t.Run(m.Name, func(t *testing.T) {
					c := dialPeer(t, base, m.Transports)
					clienttest.WaitTransport(t, c, m.Final) // upgrade: until the switch
					if err := c.Send([]byte("close")); err != nil {
						t.Fatal(err)
					}
					if end := clienttest.ExpectEnd(t, c); end.Reason != eio.ReasonServerDisconnect {
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
			for _, m := range clienttest.Modes {
				t.Run(m.Name, func(t *testing.T) {
					proc, base := p.start(t)
					c := dialPeer(t, base, m.Transports)
					clienttest.WaitTransport(t, c, m.Final) // upgrade: until the switch
					if err := c.Send([]byte("before")); err != nil {
						t.Fatal(err)
					}
					clienttest.ExpectText(t, c, "before")
					proc.Kill()
					end := clienttest.ExpectEnd(t, c)
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
			for _, m := range clienttest.Modes[:2] {
				t.Run(m.Name, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), clienttest.Wait)
					defer cancel()
					c, err := eio.Dial(ctx, base, &eio.ClientOptions{
						Transports: m.Transports,
						Header:     http.Header{"X-Refuse": {"1"}},
					})
					if c != nil {
						_ = c.Close(ctx)
					}
					var he *eio.HTTPError
					if !errors.As(err, &he) {
						t.Fatalf("Dial: %v, want *HTTPError", err)
					}
					w := want[p.name+" "+m.Name]
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
	got, err := runCommand(t, bin, []string{"-url", url, "-transport", mode}, input,
		func(got []string) bool { return len(got) >= len(want) }, closeInput)
	if !slices.Equal(got, want) {
		t.Errorf("output %q, want %q", got, want)
	}
	if err != nil {
		t.Errorf("client exited with %v", err)
	}
}

// runCommand runs bin with args, writes the input lines to its standard
// input, reads its standard output by line until enough says so, then
// (with closeInput) ends its input, and returns every line it wrote and
// how it exited. Its standard error is logged when it fails.
func runCommand(t *testing.T, bin string, args, input []string, enough func(got []string) bool, closeInput bool) ([]string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clienttest.Wait)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
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
	for !enough(got) && sc.Scan() {
		got = append(got, sc.Text())
	}
	if closeInput {
		_ = stdin.Close()
	}
	for sc.Scan() {
		got = append(got, sc.Text())
	}
	err = cmd.Wait()
	if err != nil {
		t.Logf("%s exited with %v; stderr: %s", filepath.Base(bin), err, stderr.String())
	}
	return got, err
}
