package interop

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

const chromium = "/usr/bin/chromium"

// requireBrowser skips (or fails) unless Debian's chromium, playwright-core
// and the chat page's engine.io-client bundle are installed.
func requireBrowser(t testing.TB) {
	t.Helper()
	requireChromium(t)
	if _, err := os.Stat(filepath.Join(repoDir(), "examples", "chat", "web", "node_modules", "engine.io-client")); err != nil {
		missingPeer(t, "the chat page's engine.io-client bundle", "make deps (npm ci in examples/chat/web)")
	}
}

// requireChromium skips (or fails) unless node, Debian's chromium and
// playwright-core are installed.
func requireChromium(t testing.TB) {
	t.Helper()
	requireNode(t)
	if _, err := exec.LookPath(chromium); err != nil {
		missingPeer(t, "chromium", "make deps (apt-get install chromium)")
	}
	if _, err := os.Stat(filepath.Join(jsDir(), "node_modules", "playwright-core")); err != nil {
		missingPeer(t, "npm package playwright-core", "make deps")
	}
}

// browserPage is what js/browser.js reports of one page.
type browserPage struct {
	Transport string `json:"transport"`
	Upgraded  bool   `json:"upgraded"`
}

type browserSummary struct {
	A, B         browserPage
	AGotB        bool   `json:"aGotB"`
	BGotA        bool   `json:"bGotA"`
	Binary       []int  `json:"binary"`
	InOrder      int    `json:"inOrder"`
	LargeOK      bool   `json:"largeOK"`
	LeftByServer string `json:"leftByServer"`
	LeftByClient string `json:"leftByClient"`
	OwnClose     struct {
		A string `json:"a"`
		B string `json:"b"`
	} `json:"ownClose"`
	Screenshot string `json:"screenshot"`
	Error      string `json:"error"`
}

// TestBrowserChat: pages of examples/chat in headless Chromium, using the
// official engine.io-client bundle, chat with each other over polling,
// over WebSocket and across an upgrade: text both ways, an ArrayBuffer
// round trip, 1,000 lines in order, a 900 KB line, and a close from each
// side with the reason the others are told. A screenshot of each run is
// left in testdata/out/.
func TestBrowserChat(t *testing.T) {
	t.Parallel()
	requireBrowser(t)
	_, url := startProcess(t, repoDir(), chatBinary, "-addr", "127.0.0.1:0", "-web", filepath.Join(repoDir(), "examples", "chat", "web"))
	for _, tc := range browserModes {
		t.Run(tc.mode, func(t *testing.T) {
			shot := screenshotPath(t, "chat-"+tc.mode+".png")
			got := runBrowser(t, url, tc.mode, shot, tc.transport, tc.upgraded)
			if got.InOrder != 1000 {
				t.Errorf("1,000 numbered lines: %d arrived in order", got.InOrder)
			}
			if !got.LargeOK {
				t.Error("the 900 KB line did not arrive whole")
			}
			// engine.io-client sends a close packet when it closes over
			// polling; over WebSocket it only closes the socket, so the
			// server (as the Node one) sees a transport close.
			wantClientClose := "client disconnect"
			if tc.transport == "websocket" {
				wantClientClose = "transport close"
			}
			if got.LeftByServer != "server disconnect" || got.LeftByClient != wantClientClose {
				t.Errorf("leave reasons seen by the third page: server-side %q, client-side %q (want %q)", got.LeftByServer, got.LeftByClient, wantClientClose)
			}
			// engine.io-client calls a close by the server "transport
			// close" and its own "forced close".
			if got.OwnClose.B != "transport close" || got.OwnClose.A != "forced close" {
				t.Errorf("pages' own close reasons: shown out %q, closed itself %q", got.OwnClose.B, got.OwnClose.A)
			}
			png, err := os.ReadFile(shot)
			if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
				t.Errorf("screenshot %s: %v", shot, err)
			}
		})
	}
}

// TestBrowserChatWebTransport: the chat of `make run` (examples/chat
// -webtransport-dev) in headless Chromium, forced onto WebTransport and as
// the page opens by default, which is on WebTransport when the server
// offers it: the checks of TestBrowserChat.
func TestBrowserChatWebTransport(t *testing.T) {
	t.Parallel()
	requireBrowser(t)
	_, url := startProcess(t, repoDir(), chatBinary, "-addr", "127.0.0.1:0", "-webtransport-dev",
		"-web", filepath.Join(repoDir(), "examples", "chat", "web"))
	for _, mode := range []string{"webtransport", "webtransport-default"} {
		t.Run(mode, func(t *testing.T) {
			shot := screenshotPath(t, "chat-"+mode+".png")
			got := runBrowser(t, url, mode, shot, "webtransport", false)
			if got.InOrder != 1000 || !got.LargeOK {
				t.Errorf("1,000 numbered lines: %d in order; the 900 KB line whole: %v", got.InOrder, got.LargeOK)
			}
			// As over WebSocket, engine.io-client closes without a close
			// packet: the server sees the transport close.
			if got.LeftByServer != "server disconnect" || got.LeftByClient != "transport close" {
				t.Errorf("leave reasons seen by the third page: server-side %q, client-side %q", got.LeftByServer, got.LeftByClient)
			}
			if got.OwnClose.B != "transport close" || got.OwnClose.A != "forced close" {
				t.Errorf("pages' own close reasons: shown out %q, closed itself %q", got.OwnClose.B, got.OwnClose.A)
			}
		})
	}
}

// browserModes are the chat page's three ways to connect (its query
// string picks one) and the transport each must end on.
var browserModes = []struct {
	mode, transport string
	upgraded        bool
}{
	{"polling", "polling", false},
	{"websocket", "websocket", false},
	{"upgrade", "websocket", true},
}

// screenshotPath returns where a browser run leaves its screenshot, in
// interop/testdata/out/, with the one of an earlier run removed.
func screenshotPath(t *testing.T, name string) string {
	t.Helper()
	outDir := filepath.Join(repoDir(), "interop", "testdata", "out")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(outDir, name)
	_ = os.Remove(shot)
	return shot
}

// runBrowser runs js/browser.js against the chat page at url and checks
// what every run must show: the two pages chatted both ways, on the
// expected transport, and an ArrayBuffer came back whole. It returns the
// summary for the caller's own checks.
func runBrowser(t *testing.T, url, mode, shot, transport string, upgraded bool) browserSummary {
	t.Helper()
	out := runNode(t, 90*time.Second, "browser.js", url, mode, shot)
	var got browserSummary
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("browser output %q: %v", out, err)
	}
	if got.Error != "" {
		t.Fatalf("browser: %s", got.Error)
	}
	if !got.AGotB || !got.BGotA {
		t.Errorf("chat: A got B's message %v, B got A's %v", got.AGotB, got.BGotA)
	}
	for name, p := range map[string]browserPage{"A": got.A, "B": got.B} {
		if p.Transport != transport || p.Upgraded != upgraded {
			t.Errorf("page %s on %q (upgraded %v), want %q (%v)", name, p.Transport, p.Upgraded, transport, upgraded)
		}
	}
	if want := []int{1, 2, 3, 250}; !equalInts(got.Binary, want) {
		t.Errorf("ArrayBuffer came back as %v, want %v", got.Binary, want)
	}
	return got
}
