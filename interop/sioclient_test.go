package interop

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/internal/siotest"
	"github.com/chanio/chanio/internal/testlb"
	"github.com/chanio/chanio/sio"
)

// sioSummary is what js/sio-checks.js reports.
type sioSummary struct {
	Transport        string          `json:"transport"`
	FinalTransport   string          `json:"finalTransport"`
	Welcome          bool            `json:"welcome"`
	Echo             bool            `json:"echo"`
	ClientAck        bool            `json:"clientAck"`
	ServerAck        bool            `json:"serverAck"`
	ClientAckTimeout string          `json:"clientAckTimeout"`
	ServerAckTimeout string          `json:"serverAckTimeout"`
	Refused          json.RawMessage `json:"refused"`
	UnknownNamespace string          `json:"unknownNamespace"`
	AdminWelcome     string          `json:"adminWelcome"`
	Multiplexed      bool            `json:"multiplexed"`
	CustomEcho       string          `json:"customEcho"`
	AfterLeaving     bool            `json:"afterLeaving"`
	Rooms            map[string]int  `json:"rooms"`
	RoomAck          json.RawMessage `json:"roomAck"`
	ServerInOrder    int             `json:"serverInOrder"`
	ClientInOrder    int             `json:"clientInOrder"`
	NumInOrder       int             `json:"numInOrder"`
	ServerDisconnect string          `json:"serverDisconnect"`

	DropReason string `json:"dropReason"`
	Recovered  bool   `json:"recovered"`
	SameID     bool   `json:"sameID"`
	Missed     []int  `json:"missed"`
	RoomAfter  string `json:"roomAfter"`

	Error string `json:"error"`
}

func requireSioClient(t *testing.T) {
	t.Helper()
	requireNode(t)
	if _, err := os.Stat(filepath.Join(jsDir(), "node_modules", "socket.io-client")); err != nil {
		missingPeer(t, "npm package socket.io-client", "make deps (npm ci in interop/js)")
	}
}

var sioModes = []struct{ mode, transport string }{
	{"polling", "polling"},
	{"websocket", "websocket"},
	{"upgrade", "websocket"},
}

// TestSioNodeClient: the official socket.io-client 4.8, run by Node, against
// chanio's sio server over each transport mode: auth accepted and refused,
// namespaces multiplexed on one connection, events with text, numbers,
// nested JSON, Buffer and ArrayBuffer (nested too), acknowledgements both
// ways and their timeouts, rooms and a broadcast with acknowledgements,
// 1,000 numbered events each way in order, and a server-side disconnect.
func TestSioNodeClient(t *testing.T) {
	t.Parallel()
	requireSioClient(t)
	app := startSioApp(t, nil)
	for _, m := range sioModes {
		t.Run(m.mode, func(t *testing.T) {
			got := runSioNode(t, app.url, m.mode, false)
			checkSioSummary(t, got, m.transport)
		})
	}
}

// TestSioNodeClientRecovery: with connection state recovery on, the server
// drops a client's connection; the client reconnects with its id and its
// room, and gets the three events broadcast to the room while it was away,
// once each.
func TestSioNodeClientRecovery(t *testing.T) {
	requireSioClient(t)
	app := startSioApp(t, &sio.Options{Recovery: &sio.Recovery{}})
	for _, m := range sioModes {
		t.Run(m.mode, func(t *testing.T) {
			got := runSioNode(t, app.url, m.mode, true)
			checkRecoverySummary(t, got)
		})
	}
}

func runSioNode(t *testing.T, url, mode string, recovery bool) sioSummary {
	t.Helper()
	args := []string{url, mode}
	if recovery {
		args = append(args, "recovery")
	}
	out := runNode(t, 90*time.Second, "sio-client.js", args...)
	var got sioSummary
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("client output %q: %v", out, err)
	}
	if got.Error != "" {
		t.Fatalf("client error: %s\nsummary: %s", got.Error, out)
	}
	return got
}

func checkSioSummary(t *testing.T, got sioSummary, transport string) {
	t.Helper()
	if got.Transport != transport || got.FinalTransport != transport {
		t.Errorf("transport %q, final %q, want %q", got.Transport, got.FinalTransport, transport)
	}
	for name, ok := range map[string]bool{
		"welcome (id, namespace, auth)":           got.Welcome,
		"echo of text, numbers, JSON and binary":  got.Echo,
		"client's ack with binary":                got.ClientAck,
		"server's ack, answered with binary":      got.ServerAck,
		"namespaces multiplexed on one engine":    got.Multiplexed,
		"a namespace left, the others still used": got.AfterLeaving,
	} {
		if !ok {
			t.Errorf("failed: %s", name)
		}
	}
	if got.ClientAckTimeout != "timeout" || got.ServerAckTimeout != "timeout" {
		t.Errorf("ack timeouts: client %q, server %q", got.ClientAckTimeout, got.ServerAckTimeout)
	}
	var refused any
	_ = json.Unmarshal(got.Refused, &refused)
	if want := map[string]any{"message": "forbidden", "data": map[string]any{"code": 403.0}}; !reflect.DeepEqual(refused, want) {
		t.Errorf("refused connect_error %s", got.Refused)
	}
	if got.UnknownNamespace != "Invalid namespace" || got.AdminWelcome != "/admin" || got.CustomEcho != "in custom" {
		t.Errorf("namespaces: unknown %q, admin %q, custom %q", got.UnknownNamespace, got.AdminWelcome, got.CustomEcho)
	}
	if !reflect.DeepEqual(got.Rooms, map[string]int{"a": 1, "b": 1, "c": 0}) {
		t.Errorf("room message reached %v", got.Rooms)
	}
	var roomAck any
	_ = json.Unmarshal(got.RoomAck, &roomAck)
	if !reflect.DeepEqual(roomAck, []any{2.0, []any{"a", "b"}}) {
		t.Errorf("broadcast acks %s", got.RoomAck)
	}
	if got.ServerInOrder != 1000 || got.ClientInOrder != 1000 || got.NumInOrder != 1000 {
		t.Errorf("numbered in order: server %d, echoed back %d, sent by the server %d", got.ServerInOrder, got.ClientInOrder, got.NumInOrder)
	}
	if got.ServerDisconnect != "io server disconnect" {
		t.Errorf("server disconnect seen as %q", got.ServerDisconnect)
	}
}

func checkRecoverySummary(t *testing.T, got sioSummary) {
	t.Helper()
	if got.DropReason != "transport close" || !got.Recovered || !got.SameID {
		t.Errorf("drop %q, recovered %v, same id %v", got.DropReason, got.Recovered, got.SameID)
	}
	if !reflect.DeepEqual(got.Missed, []int{0, 1, 2}) {
		t.Errorf("missed events %v, want [0 1 2] once each", got.Missed)
	}
	if got.RoomAfter != "back" {
		t.Errorf("room message after recovery %q", got.RoomAfter)
	}
}

// TestSioBrowser: the official socket.io-client bundle in headless Chromium
// runs the same checks as TestSioNodeClient (ArrayBuffers for binary), and
// the recovery checks, over each transport mode. A screenshot of each run
// is left in testdata/out/.
func TestSioBrowser(t *testing.T) {
	t.Parallel()
	requireSioClient(t)
	requireChromium(t)
	app := startSioApp(t, nil)
	rec := startSioApp(t, &sio.Options{Recovery: &sio.Recovery{}})
	for _, m := range sioModes {
		t.Run(m.mode, func(t *testing.T) {
			got := runSioBrowser(t, app.url, m.mode, false)
			checkSioSummary(t, got, m.transport)
		})
		t.Run(m.mode+"/recovery", func(t *testing.T) {
			checkRecoverySummary(t, runSioBrowser(t, rec.url, m.mode, true))
		})
	}
}

func runSioBrowser(t *testing.T, url, mode string, recovery bool) sioSummary {
	t.Helper()
	flag, name := "0", "sio-"+mode+".png"
	if recovery {
		flag, name = "1", "sio-"+mode+"-recovery.png"
	}
	out := runNode(t, 90*time.Second, "sio-browser.js", url, mode, flag, screenshotPath(t, name))
	var got sioSummary
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("browser output %q: %v", out, err)
	}
	if got.Error != "" {
		t.Fatalf("browser: %s\nsummary: %s", got.Error, out)
	}
	return got
}

// TestSioNodeClientCluster: three sio nodes on a NATS cluster behind a
// round-robin balancer without affinity; three socket.io-client sockets
// (on three nodes) join a room: a room message from one reaches all three,
// a broadcast with acknowledgements gets all three answers across the
// nodes, and 1,000 numbered events go through the balancer in order.
func TestSioNodeClientCluster(t *testing.T) {
	requireSioClient(t)
	nodes := siotest.StartCluster(t, 3, eio.Options{AllowedOrigins: []string{"*"}}, nil, func(srv *sio.Server) func() {
		return serveSioApp(srv).stop
	})
	var bases []string
	for _, n := range nodes {
		bases = append(bases, n.URL)
	}
	lb := testlb.New(t, bases...)
	// Handshakes go to a, b, c in turn, so that the three sockets of each
	// run are on three nodes; every other request rotates on its own, so
	// that a session's polls and upgrade mostly reach nodes that forward
	// them to its owner.
	var handshakes, rest atomic.Uint64
	lb.Route(func(r *http.Request) int {
		if r.URL.Query().Get("sid") == "" {
			return int((handshakes.Add(1) - 1) % 3)
		}
		return int((rest.Add(1) - 1) % 3)
	})
	for _, m := range sioModes {
		t.Run(m.mode, func(t *testing.T) {
			out := runNode(t, 90*time.Second, "sio-client.js", lb.URL, m.mode, "cluster")
			var got struct {
				Nodes         []string        `json:"nodes"`
				RoomMsgs      []string        `json:"roomMsgs"`
				RoomAck       json.RawMessage `json:"roomAck"`
				InOrder       int             `json:"inOrder"`
				ServerInOrder int             `json:"serverInOrder"`
				Error         string          `json:"error"`
			}
			if err := json.Unmarshal(out, &got); err != nil || got.Error != "" {
				t.Fatalf("client output %s: %v", out, err)
			}
			if !reflect.DeepEqual(got.Nodes, []string{"a", "b", "c"}) {
				t.Errorf("the sockets landed on nodes %v, want one on each", got.Nodes)
			}
			if !reflect.DeepEqual(got.RoomMsgs, []string{"hi", "hi", "hi"}) {
				t.Errorf("room messages %v", got.RoomMsgs)
			}
			var ack any
			_ = json.Unmarshal(got.RoomAck, &ack)
			if !reflect.DeepEqual(ack, []any{3.0, []any{"s0", "s1", "s2"}}) {
				t.Errorf("broadcast acks %s", got.RoomAck)
			}
			if got.InOrder != 1000 || got.ServerInOrder != 1000 {
				t.Errorf("numbered: %d back in order, %d in order at the server", got.InOrder, got.ServerInOrder)
			}
		})
	}
}

// TestSioChatBrowser: two pages of examples/sio-chat in headless Chromium
// chat in the lobby; one moves to another room, where the other no longer
// hears it; a page whose connection drops comes back recovered, in its
// room. Screenshots are left in testdata/out/.
func TestSioChatBrowser(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	web := filepath.Join(repoDir(), "examples", "sio-chat", "web")
	if _, err := os.Stat(filepath.Join(web, "node_modules", "socket.io-client")); err != nil {
		missingPeer(t, "the sio-chat page's socket.io-client bundle", "make deps (npm ci in examples/sio-chat/web)")
	}
	_, url := startProcess(t, repoDir(), sioChatBinary, "-addr", "127.0.0.1:0", "-web", web)
	for _, m := range sioModes {
		t.Run(m.mode, func(t *testing.T) {
			out := runNode(t, 90*time.Second, "sio-chat-browser.js", url, m.mode, screenshotPath(t, "sio-chat-"+m.mode+".png"))
			var got struct {
				Transport      string `json:"transport"`
				BobHeardAda    bool   `json:"bobHeardAda"`
				AdaHeardGarden bool   `json:"adaHeardGarden"`
				Recovered      bool   `json:"recovered"`
				AdaRoom        string `json:"adaRoom"`
				Error          string `json:"error"`
			}
			if err := json.Unmarshal(out, &got); err != nil || got.Error != "" {
				t.Fatalf("browser output %s: %v", out, err)
			}
			if got.Transport != m.transport || !got.BobHeardAda || got.AdaHeardGarden || !got.Recovered || got.AdaRoom != "lobby" {
				t.Errorf("summary %s", out)
			}
		})
	}
}
