package interop

import (
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/internal/clienttest"
	"github.com/chanio/chanio/internal/embeddednats"
	"github.com/chanio/chanio/internal/testlb"
)

// startCluster runs examples/cluster (an embedded NATS server, three nodes
// and its round-robin proxy without affinity) and returns the proxy's base
// URL.
func startCluster(t testing.TB, args ...string) string {
	t.Helper()
	_, u := startProcess(t, repoDir(), clusterBinary, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	return strings.TrimSuffix(u, "/")
}

// TestClusterJSClient: the official engine.io-client, run by Node, talks
// through examples/cluster's proxy, which sends every request to the next
// node in turn, so that polls, posts and upgrades of one session land on
// all three nodes: each transport mode round-trips text, binary and 1,000
// numbered messages, once each and in order.
func TestClusterJSClient(t *testing.T) {
	requireNode(t)
	// Pings all through each run, with a timeout a loaded machine's Node
	// process does not miss (see TestJSClientToChanio).
	base := startCluster(t, "-app", "echo", "-ping-interval", "300ms", "-ping-timeout", "2s", "-cors", "*")
	for _, mode := range jsModes {
		t.Run(mode.name, func(t *testing.T) {
			got := runJSClient(t, base, mode, 1000, 0, "client")
			if got.CloseReason != "forced close" {
				t.Errorf("close reason %q, want the client's own %q", got.CloseReason, "forced close")
			}
		})
	}
}

// TestClusterBrowserChat: two pages of the chat, served by
// examples/cluster through its round-robin proxy, chat with each other
// over polling, WebSocket and the upgrade in headless Chromium with the
// official engine.io-client bundle, whichever nodes their sessions and
// requests land on.
func TestClusterBrowserChat(t *testing.T) {
	t.Parallel()
	requireBrowser(t)
	base := startCluster(t, "-web", filepath.Join(repoDir(), "examples", "chat", "web"))
	for _, tc := range browserModes {
		t.Run(tc.mode, func(t *testing.T) {
			shot := screenshotPath(t, "cluster-chat-"+tc.mode+".png")
			runBrowser(t, base+"/", tc.mode, shot, tc.transport, tc.upgraded)
		})
	}
}

// TestClusterNodeKilled: three examples/cluster node processes on one NATS
// server, behind a balancer without affinity. Send crosses processes; then
// one process is killed (SIGKILL): its sessions end, those relayed and
// forwarded through the others included, within the node timeout; the
// others answer requests for its sessions with "Session ID unknown"; the
// other sessions go on, and new clients get in.
func TestClusterNodeKilled(t *testing.T) {
	ns, err := embeddednats.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { embeddednats.Stop(ns) })
	const nodeTimeout = time.Second
	var procs []*process
	var bases []string
	for _, id := range []string{"a", "b", "c"} {
		p, u := startProcess(t, repoDir(), clusterBinary, "-nats", ns.ClientURL(), "-node", id, "-app", "echo",
			"-addr", "127.0.0.1:0", "-node-timeout", nodeTimeout.String(), "-ping-interval", "300ms", "-ping-timeout", "300ms")
		procs, bases = append(procs, p), append(bases, strings.TrimSuffix(u, "/"))
	}
	lb := testlb.New(t, bases...)
	lb.RouteBySID(0, 1)
	aPolling := dialPeer(t, lb.URL, []string{eio.TransportPolling})
	aRelayed := dialPeer(t, lb.URL, nil)
	clienttest.WaitTransport(t, aRelayed, eio.TransportWebSocket)
	lb.RouteBySID(2, 1)
	cRelayed := dialPeer(t, lb.URL, nil)
	clienttest.WaitTransport(t, cRelayed, eio.TransportWebSocket)
	lb.RouteBySID(1, 1)
	bDirect := dialPeer(t, lb.URL, []string{eio.TransportWebSocket})
	for _, c := range []*eio.Client{aPolling, aRelayed, cRelayed, bDirect} {
		if !strings.HasSuffix(c.SID(), map[*eio.Client]string{aPolling: ".a", aRelayed: ".a", cRelayed: ".c", bDirect: ".b"}[c]) {
			t.Fatalf("sid %q on the wrong node", c.SID())
		}
		clienttest.SendNumbered(t, c, 100, false)
	}
	// Send across processes: b's application sends to a session of a.
	if err := bDirect.Send([]byte("send:" + aPolling.SID() + ":from b")); err != nil {
		t.Fatal(err)
	}
	clienttest.ExpectText(t, aPolling, "from b")
	clienttest.ExpectText(t, bDirect, "sent")

	killed := time.Now()
	procs[0].Kill()
	lb.Route(nil)
	lb.SetDown(0, true)
	for _, c := range []*eio.Client{aPolling, aRelayed} {
		select {
		case <-c.Done():
		case <-time.After(nodeTimeout + 3*time.Second):
			t.Fatalf("client %s of the killed node still connected", c.SID())
		}
	}
	t.Logf("the killed node's clients ended within %v", time.Since(killed))
	// The survivors answer for the dead node's sessions within the node
	// timeout (a request sent on a tunnel pooled before the crash waits
	// for the silence to be noticed), and at once after that.
	for _, base := range bases[1:] {
		for _, bound := range []time.Duration{nodeTimeout + 500*time.Millisecond, 200 * time.Millisecond} {
			start := time.Now()
			status, body := httpGet(t, base+"/engine.io/?EIO=4&transport=polling&sid="+url.QueryEscape(aPolling.SID()))
			if status != http.StatusBadRequest || body != `{"code":1,"message":"Session ID unknown"}` {
				t.Errorf("%s answered %d %q", base, status, body)
			}
			if d := time.Since(start); d > bound {
				t.Errorf("%s took %v, over %v", base, d, bound)
			}
		}
	}
	if err := bDirect.Send([]byte("send:" + aRelayed.SID() + ":x")); err != nil {
		t.Fatal(err)
	}
	clienttest.ExpectText(t, bDirect, "send failed: eio: unknown session")
	// The other sessions go on; new clients get in through the survivors.
	for _, c := range []*eio.Client{bDirect, cRelayed} {
		clienttest.SendNumbered(t, c, 100, false)
	}
	for _, mode := range clienttest.Modes {
		fresh := dialPeer(t, lb.URL, mode.Transports)
		clienttest.SendNumbered(t, fresh, 100, false)
	}
}

func httpGet(t testing.TB, u string) (int, string) {
	t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
