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
	echo, base := startEcho(t, "-ping-interval", "300ms", "-ping-timeout", "200ms", "-cors", "*")
	const count = 1000
	cases := []struct {
		mode           string
		open, final    string
		wantUpgradedTo string
	}{
		{mode: "polling", open: "polling", final: "polling"},
		{mode: "websocket", open: "websocket", final: "websocket"},
		{mode: "upgrade", open: "polling", final: "websocket", wantUpgradedTo: "websocket"},
	}
	ends := []struct {
		by, reason string // how the session ends, and engine.io-client's close reason
	}{
		{"client", "forced close"},
		{"server", "transport close"},
		{"nopong", "transport close"},
	}
	for _, tc := range cases {
		for _, end := range ends {
			t.Run(tc.mode+"/ended-by-"+end.by, func(t *testing.T) {
				timeouts := strings.Count(echo.Stderr(), "ping timeout")
				out := runNode(t, 60*time.Second, "client.js", base, tc.mode, strconv.Itoa(count), "900000", end.by)
				var got jsSummary
				if err := json.Unmarshal(out, &got); err != nil {
					t.Fatalf("client output %q: %v", out, err)
				}
				if got.Error != "" {
					t.Fatalf("client error: %s (summary %+v)", got.Error, got)
				}
				if got.OpenTransport != tc.open || got.FinalTransport != tc.final || got.UpgradedTo != tc.wantUpgradedTo {
					t.Errorf("transports: open %q final %q upgraded to %q; want %q %q %q",
						got.OpenTransport, got.FinalTransport, got.UpgradedTo, tc.open, tc.final, tc.wantUpgradedTo)
				}
				if got.Text != "hello é 😀" {
					t.Errorf("text echo = %q", got.Text)
				}
				if want := []int{1, 2, 3, 255}; !equalInts(got.Binary, want) {
					t.Errorf("binary echo = %v, want %v", got.Binary, want)
				}
				if !got.LargeOK {
					t.Error("900 KB message not echoed intact")
				}
				if got.InOrder != count || got.Duplicates != 0 || got.OutOfOrder != 0 {
					t.Errorf("numbered messages: %d in order, %d duplicates, %d out of order; want %d, 0, 0",
						got.InOrder, got.Duplicates, got.OutOfOrder, count)
				}
				if got.UpgradeError != "" {
					t.Errorf("upgrade error: %s", got.UpgradeError)
				}
				if got.CloseReason != end.reason {
					t.Errorf("close reason %q, want %q", got.CloseReason, end.reason)
				}
				if end.by == "nopong" {
					// The server logged the ping timeout it ended the session with.
					deadline := time.Now().Add(5 * time.Second)
					for strings.Count(echo.Stderr(), "ping timeout") == timeouts {
						if time.Now().After(deadline) {
							t.Fatal("the server logged no ping timeout")
						}
						time.Sleep(20 * time.Millisecond)
					}
				}
			})
		}
	}
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
