package interop

import (
	"encoding/json"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// pySummary is what python/client.py prints after its session.
type pySummary struct {
	OpenTransport  string `json:"openTransport"`
	FinalTransport string `json:"finalTransport"`
	Text           string `json:"text"`
	Binary         []int  `json:"binary"`
	LargeOK        bool   `json:"largeOK"`
	InOrder        int    `json:"inOrder"`
	Duplicates     int    `json:"duplicates"`
	OutOfOrder     int    `json:"outOfOrder"`
	Disconnected   bool   `json:"disconnected"`
	Error          string `json:"error"`
}

// TestPythonClientToChanio: python-engineio's client (Debian's
// python3-engineio) talks to examples/echo over each transport mode:
// text, binary, a 900 KB message, 1,000 numbered messages once each and in
// order, and a close from either side.
func TestPythonClientToChanio(t *testing.T) {
	t.Parallel()
	requirePython(t)
	// The Python client answers pings from the same thread that decodes a
	// 900 KB payload: give it a heartbeat it can keep on a loaded machine.
	_, base := startEcho(t, "-ping-interval", "2s", "-ping-timeout", "5s")
	const count, large = 1000, 900_000
	for _, mode := range []string{"polling", "websocket", "upgrade"} {
		for _, closer := range []string{"client", "server"} {
			t.Run(mode+"/closed-by-"+closer, func(t *testing.T) {
				out := runPython(t, 90*time.Second, "client.py", base, mode, strconv.Itoa(count), strconv.Itoa(large), closer)
				var got pySummary
				if err := json.Unmarshal(out, &got); err != nil {
					t.Fatalf("client output %q: %v", out, err)
				}
				if got.Error != "" {
					t.Fatalf("client error: %s (summary %+v)", got.Error, got)
				}
				wantFinal := map[string]string{"polling": "polling", "websocket": "websocket", "upgrade": "websocket"}[mode]
				if got.FinalTransport != wantFinal {
					t.Errorf("transport %q, want %q", got.FinalTransport, wantFinal)
				}
				wantText := "hello é 😀"
				if mode == "polling" {
					wantText = "hello ascii" // see client.py: the peer's polling is Latin-1 only
				}
				if got.Text != wantText {
					t.Errorf("text echo %q", got.Text)
				}
				if want := []int{1, 2, 3, 255}; !equalInts(got.Binary, want) {
					t.Errorf("binary echo %v, want %v", got.Binary, want)
				}
				if !got.LargeOK {
					t.Error("900 KB message not echoed intact")
				}
				if got.InOrder != count || got.Duplicates != 0 || got.OutOfOrder != 0 {
					t.Errorf("numbered: %d in order, %d duplicates, %d out of order", got.InOrder, got.Duplicates, got.OutOfOrder)
				}
				if !got.Disconnected {
					t.Error("the client saw no disconnect")
				}
			})
		}
	}
}

// runPython runs a script from python/ with the system Python (where
// Debian's python3-engineio lives) and returns its stdout.
func runPython(t testing.TB, timeout time.Duration, script string, args ...string) []byte {
	t.Helper()
	return runIn(t, timeout, pythonDir(), systemPython, append([]string{script}, args...)...)
}

// requirePythonSocketIO skips (or fails) unless Debian's python3-socketio is
// importable by the system Python.
func requirePythonSocketIO(t testing.TB) {
	t.Helper()
	if err := exec.Command(systemPython, "-c", "import socketio").Run(); err != nil {
		missingPeer(t, "python3-socketio", "make deps (apt-get install python3-socketio)")
	}
}

// TestSioPythonClient: python-socketio's client (Debian's python3-socketio)
// against chanio's sio server over each transport mode: auth accepted and
// refused, three namespaces on one connection, events with text, numbers,
// nested JSON and bytes, acknowledgements both ways with timeouts, rooms
// and a broadcast with acknowledgements, 1,000 numbered events each way in
// order, and a disconnect by the server.
func TestSioPythonClient(t *testing.T) {
	t.Parallel()
	requirePythonSocketIO(t)
	app := startSioApp(t, nil)
	for _, m := range sioModes {
		t.Run(m.mode, func(t *testing.T) {
			out := runPython(t, 90*time.Second, "sio_client.py", app.url, m.mode)
			var got sioSummary
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("client output %q: %v", out, err)
			}
			if got.Error != "" {
				t.Fatalf("client error: %s\nsummary: %s", got.Error, out)
			}
			got.FinalTransport, got.AfterLeaving, got.AdminWelcome, got.UnknownNamespace = got.Transport, true, "/admin", "Invalid namespace"
			checkSioSummary(t, got, m.transport)
		})
	}
}
