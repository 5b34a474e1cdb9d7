package interop

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

// jsSummary is what js/client.js prints after its session.
type jsSummary struct {
	OpenTransport  string `json:"openTransport"`
	UpgradedTo     string `json:"upgradedTo"`
	Text           string `json:"text"`
	Binary         []int  `json:"binary"`
	InOrder        int    `json:"inOrder"`
	Duplicates     int    `json:"duplicates"`
	OutOfOrder     int    `json:"outOfOrder"`
	FinalTransport string `json:"finalTransport"`
	LargeOK        bool   `json:"largeOK"`
	CloseReason    string `json:"closeReason"`
	UpgradeError   string `json:"upgradeError"`
	Error          string `json:"error"`
}

// TestJSClientToChanio: the official engine.io-client, run by Node, talks
// to examples/echo over each transport mode: text, binary, a 900 KB
// message and 1,000 numbered messages (sent while the upgrade is under
// way) must come back once each and in order; then the session ends each
// way: the client closes, the server disconnects it, or it stops
// answering pings and the server's ping timeout ends it.
func TestJSClientToChanio(t *testing.T) {
	requireNode(t)
	// Pings every 300ms all through each run; the timeout is long enough
	// that a Node process which a loaded machine keeps off the CPU for a
	// while is not timed out (at 200ms one was, ending a run early with
	// "transport close"). The slow server below tests the timeout itself.
	quick, quickBase := startEcho(t, "-ping-interval", "300ms", "-ping-timeout", "2s", "-cors", "*")
	// The server ends a session that stops answering pings pingTimeout
	// after the ping left unanswered; the client ends it itself, as "ping
	// timeout", interval+timeout after that ping. With 300ms and 200ms the
	// server's close leads by 300ms, which a loaded machine can eat; this
	// server gives it a whole second.
	slow, slowBase := startEcho(t, "-ping-interval", "1s", "-ping-timeout", "200ms", "-cors", "*")
	ends := []struct {
		by, reason string // how the session ends, and engine.io-client's close reason
	}{
		{"client", "forced close"},
		{"server", "transport close"},
		{"nopong", "transport close"},
	}
	for _, mode := range jsModes {
		for _, end := range ends {
			t.Run(mode.name+"/ended-by-"+end.by, func(t *testing.T) {
				echo, base := quick, quickBase
				if end.by == "nopong" {
					echo, base = slow, slowBase
				}
				timeouts := strings.Count(echo.Stderr(), "ping timeout")
				got := runJSClient(t, base, mode, 1000, 900_000, end.by)
				if got.CloseReason != end.reason {
					t.Errorf("close reason %q, want %q", got.CloseReason, end.reason)
				}
				if end.by == "nopong" {
					// The server logged the ping timeout it ended the session with.
					echo.WaitStderr(t, 5*time.Second, "ping timeout logged", func(stderr string) bool {
						return strings.Count(stderr, "ping timeout") > timeouts
					})
				}
			})
		}
	}
}

// jsMode is a transport mode of js/client.js and the transports it must
// show: where the session opens, where it ends, what it upgraded to.
type jsMode struct {
	name, open, final, upgradedTo string
}

var jsModes = []jsMode{
	{name: "polling", open: "polling", final: "polling"},
	{name: "websocket", open: "websocket", final: "websocket"},
	{name: "upgrade", open: "polling", final: "websocket", upgradedTo: "websocket"},
}

// runJSClient runs js/client.js against base and checks what every run
// must show: the mode's transports, the text and binary echoes, the large
// message (when large > 0) and count numbered messages once each, in
// order. It returns the summary for the caller's own checks.
func runJSClient(t *testing.T, base string, mode jsMode, count, large int, end string) jsSummary {
	t.Helper()
	out := runNode(t, 60*time.Second, "client.js", base, mode.name, strconv.Itoa(count), strconv.Itoa(large), end)
	var got jsSummary
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("client output %q: %v", out, err)
	}
	if got.Error != "" {
		t.Fatalf("client error: %s (summary %+v)", got.Error, got)
	}
	if got.OpenTransport != mode.open || got.FinalTransport != mode.final || got.UpgradedTo != mode.upgradedTo {
		t.Errorf("transports: open %q final %q upgraded to %q; want %q %q %q",
			got.OpenTransport, got.FinalTransport, got.UpgradedTo, mode.open, mode.final, mode.upgradedTo)
	}
	if got.Text != "hello é 😀" {
		t.Errorf("text echo = %q", got.Text)
	}
	if want := []int{1, 2, 3, 255}; !equalInts(got.Binary, want) {
		t.Errorf("binary echo = %v, want %v", got.Binary, want)
	}
	if !got.LargeOK {
		t.Errorf("%d-byte message not echoed intact", large)
	}
	if got.InOrder != count || got.Duplicates != 0 || got.OutOfOrder != 0 {
		t.Errorf("numbered messages: %d in order, %d duplicates, %d out of order; want %d, 0, 0",
			got.InOrder, got.Duplicates, got.OutOfOrder, count)
	}
	if got.UpgradeError != "" {
		t.Errorf("upgrade error: %s", got.UpgradeError)
	}
	return got
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
