package interop

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chanio/chanio/codec"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// Protocol 3 (the Socket.IO 2 era) and JSONP, with the real clients of that
// era. Every client script and raw exchange here runs against chanio
// (examples/echo -eio3) and against the Node reference server that speaks
// the same (engine.io 3.6.2 for protocol 3, js/server.js version=3;
// engine.io 6.6 for protocol 4 JSONP, js/server.js): passing against the reference is
// what shows that the script asks for the right thing.

// refServer is a server that a protocol test runs against: its name and
// how to start it, returning its base URL (no Engine.IO path).
type refServer struct {
	name  string
	start func(t *testing.T) string
}

// The ping interval is short so that every client session runs through
// several pings; the timeout is long so that a loaded machine does not
// end a session on its own.
var eio3Servers = []refServer{
	{"node-engine.io-3.6.2", func(t *testing.T) string {
		requireNode(t)
		_, base := startProcess(t, jsDir(), "node", "server.js", "version=3", "pingInterval=200", "pingTimeout=5000")
		return base
	}},
	{"chanio", func(t *testing.T) string {
		_, base := startEcho(t, "-eio3", "-ping-interval", "200ms", "-ping-timeout", "5s", "-cors", "*")
		return base
	}},
}

var eio4JSONPServers = []refServer{
	{"node-engine.io-6.6", func(t *testing.T) string {
		requireNode(t)
		_, base := startProcess(t, jsDir(), "node", "server.js")
		return base
	}},
	{"chanio", func(t *testing.T) string {
		_, base := startEcho(t)
		return base
	}},
}

// eio3Summary is what js/eio3-session.js reports of one session.
type eio3Summary struct {
	OpenTransport  string `json:"openTransport"`
	UpgradedTo     string `json:"upgradedTo"`
	FinalTransport string `json:"finalTransport"`
	Echoed         int    `json:"echoed"`
	LargeText      bool   `json:"largeText"`
	LargeBinary    bool   `json:"largeBinary"`
	Pongs          int    `json:"pongs"`
	// Received counts, per transport, what it delivered before the client
	// decoded it: binary frames or payloads, text, and text carrying
	// binary as base64.
	Received    map[string]struct{ Binary, Text, Base64 int } `json:"received"`
	CloseReason string                                        `json:"closeReason"`
	Error       string                                        `json:"error"`
	// Requests is what Chromium saw of the requests to the server, by kind
	// (browser3.js only).
	Requests struct {
		Get        map[string]int `json:"get"`
		Post       map[string]int `json:"post"`
		BinaryGets int            `json:"binaryGets"`
		CloseSent  bool           `json:"closeSent"`
	} `json:"requests"`
}

const (
	eio3Count = 110     // numbered messages, text and binary by turns
	eio3Large = 500_000 // the large text and binary messages
	eio3Pongs = 8       // pings answered before the session ends: 1.6 s at 200 ms
)

// checkSession checks what every session must show: no error, the
// transports, every message back in order, the large ones intact, the
// pings answered and the close.
func checkSession(t *testing.T, got eio3Summary, open, final string, upgrade bool, pongs int) {
	t.Helper()
	if got.Error != "" {
		t.Fatalf("client: %s (summary %+v)", got.Error, got)
	}
	wantUpgrade := ""
	if upgrade {
		wantUpgrade = "websocket"
	}
	if got.OpenTransport != open || got.FinalTransport != final || got.UpgradedTo != wantUpgrade {
		t.Errorf("transports: open %q final %q upgraded to %q; want %q %q %q",
			got.OpenTransport, got.FinalTransport, got.UpgradedTo, open, final, wantUpgrade)
	}
	if got.Echoed != eio3Count || !got.LargeText || !got.LargeBinary {
		t.Errorf("echoes: %d of %d in order, large text %v, large binary %v", got.Echoed, eio3Count, got.LargeText, got.LargeBinary)
	}
	if got.Pongs < pongs {
		t.Errorf("%d pongs, want at least %d", got.Pongs, pongs)
	}
	if got.CloseReason != "forced close" {
		t.Errorf("close reason %q, want forced close", got.CloseReason)
	}
}

// TestEIO3NodeClients: engine.io-client 3.5.3 and 3.4.4 in Node, over
// polling, WebSocket and the upgrade, with and without forceBase64: 110
// text and binary messages by turns, 500 KB of text and of binary, client
// pings, and the close. In Node the 3.x client has no XHR2, so its polling
// always asks for base64 (b64=1); on a WebSocket it does so only with
// forceBase64, and then it also sends binary as base64 text frames.
func TestEIO3NodeClients(t *testing.T) {
	t.Parallel()
	modes := []struct {
		version, mode string
		forceBase64   bool
	}{
		{"3.5", "polling", false},
		{"3.5", "websocket", false},
		{"3.5", "websocket", true},
		{"3.5", "upgrade", false},
		{"3.5", "upgrade", true},
		{"3.4", "polling", false},
		{"3.4", "upgrade", true},
	}
	for _, srv := range eio3Servers {
		t.Run(srv.name, func(t *testing.T) {
			requireNode(t)
			base := srv.start(t)
			for _, m := range modes {
				name := m.version + "/" + m.mode
				if m.forceBase64 {
					name += "/forceBase64"
				}
				t.Run(name, func(t *testing.T) {
					force := "0"
					if m.forceBase64 {
						force = "1"
					}
					out := runNode(t, 60*time.Second, "client3.js", base, m.version, m.mode, force,
						strconv.Itoa(eio3Count), strconv.Itoa(eio3Large), strconv.Itoa(eio3Pongs))
					var got eio3Summary
					if err := json.Unmarshal(out, &got); err != nil {
						t.Fatalf("client output %q: %v", out, err)
					}
					open, final := "polling", "polling"
					switch m.mode {
					case "websocket":
						open, final = "websocket", "websocket"
					case "upgrade":
						final = "websocket"
					}
					checkSession(t, got, open, final, m.mode == "upgrade", eio3Pongs)
					// What each transport delivered: polling, base64 text
					// (never a binary payload: this client asked for
					// base64); a WebSocket, binary frames, or base64 text
					// frames and none binary when the client asked for
					// base64 with forceBase64.
					if p := got.Received["polling"]; p.Binary != 0 || m.mode == "polling" && p.Base64 == 0 {
						t.Errorf("polling delivered %+v: want base64 text only", p)
					}
					if w, ok := got.Received["websocket"]; ok {
						if m.forceBase64 && (w.Binary != 0 || w.Base64 == 0) || !m.forceBase64 && (w.Binary == 0 || w.Base64 != 0) {
							t.Errorf("websocket delivered %+v (forceBase64 %v)", w, m.forceBase64)
						}
					} else if m.mode != "polling" {
						t.Error("nothing seen on the WebSocket")
					}
				})
			}
		})
	}
}

// TestEIO3BrowserClients: the engine.io-client 3.5.3 and 3.4.4 browser
// bundles in Chromium, against a server of another origin: JSONP polling
// (jsonp and forceJSONP: script tags and form posts) from handshake to
// close, XHR2 polling with binary payloads both ways, and the upgrade.
func TestEIO3BrowserClients(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	for _, srv := range eio3Servers {
		t.Run(srv.name, func(t *testing.T) {
			base := srv.start(t)
			out := runNode(t, 180*time.Second, "browser3.js", base, strconv.Itoa(eio3Count), strconv.Itoa(eio3Large), "3")
			var got struct {
				Runs  map[string]eio3Summary `json:"runs"`
				Error string                 `json:"error"`
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("browser output %q: %v", out, err)
			}
			if got.Error != "" {
				t.Fatalf("browser: %s", got.Error)
			}
			for _, version := range []string{"3.5", "3.4"} {
				for _, mode := range []string{"jsonp", "polling", "upgrade"} {
					t.Run(version+"/"+mode, func(t *testing.T) {
						s, ok := got.Runs[version+"/"+mode]
						if !ok {
							t.Fatal("no run")
						}
						final := "polling"
						if mode == "upgrade" {
							final = "websocket"
						}
						checkSession(t, s, "polling", final, mode == "upgrade", 3)
						if !s.Requests.CloseSent {
							t.Error("the client's close never reached the server")
						}
						r, p := s.Requests, s.Received["polling"]
						switch mode {
						case "jsonp":
							// Script tags and form posts only; binary as base64.
							if r.Get["script"] == 0 || r.Post["document"] == 0 || len(r.Get) != 1 || len(r.Post) != 1 {
								t.Errorf("JSONP requests: GETs %v, POSTs %v", r.Get, r.Post)
							}
							if p.Binary != 0 || p.Base64 == 0 {
								t.Errorf("JSONP delivered %+v: want base64 text only", p)
							}
						case "polling":
							// XHR2 reads binary payloads: the server sends them.
							if r.BinaryGets == 0 || p.Binary == 0 || p.Base64 != 0 {
								t.Errorf("XHR2 polling: %d binary GETs, delivered %+v; want binary payloads, no base64", r.BinaryGets, p)
							}
						case "upgrade":
							if w := s.Received["websocket"]; w.Binary == 0 || w.Base64 != 0 {
								t.Errorf("websocket delivered %+v: want binary frames", w)
							}
						}
					})
				}
			}
		})
	}
}

// rawClient makes plain HTTP requests and lets go of its connections at
// the end of the test.
type rawClient struct {
	t *testing.T
	c *http.Client
}

func newRawClient(t *testing.T) *rawClient {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &rawClient{t: t, c: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// do sends one request and returns the status, the Content-Type and the
// body.
func (c *rawClient) do(method, u, contentType, body string) (int, string, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// post sends a text payload and checks the "ok".
func (c *rawClient) post(u, body string) {
	c.t.Helper()
	if status, _, got := c.do(http.MethodPost, u, "text/plain;charset=UTF-8", body); status != 200 || got != "ok" {
		c.t.Fatalf("POST %q: %d %q", body, status, got)
	}
}

// expectText GETs u and checks that it answers the text payload want.
func (c *rawClient) expectText(u, want string) {
	c.t.Helper()
	if _, ct, body := c.do(http.MethodGet, u, "", ""); !strings.HasPrefix(ct, "text/plain") || body != want {
		c.t.Fatalf("GET: %q %q, want text %q", ct, body, want)
	}
}

// jsonpPost sends a payload as a JSONP client does, form-encoded in d.
func (c *rawClient) jsonpPost(u, payload string) {
	c.t.Helper()
	form := url.Values{"d": {payload}}.Encode()
	if status, _, got := c.do(http.MethodPost, u, "application/x-www-form-urlencoded", form); status != 200 || got != "ok" {
		c.t.Fatalf("JSONP POST %q: %d %q", payload, status, got)
	}
}

// unJSONP checks that body is the JSONP call ___eio[index]("...") and
// returns the payload it carries.
func unJSONP(t *testing.T, body, index string) string {
	t.Helper()
	head, foot := "___eio["+index+"](", ");"
	if !strings.HasPrefix(body, head) || !strings.HasSuffix(body, foot) {
		t.Fatalf("JSONP answer %q, want %s\"...\"%s", body, head, foot)
	}
	var payload string
	if err := json.Unmarshal([]byte(body[len(head):len(body)-len(foot)]), &payload); err != nil {
		t.Fatalf("JSONP answer %q: %v", body, err)
	}
	return payload
}

// openPacketOf decodes a polling payload of protocol v that starts with an
// open packet and returns its sid and its keys, sorted.
func openPacketOf(t *testing.T, payload string, v codec.Version) (string, []string) {
	t.Helper()
	pkts, err := codec.DecodePayload([]byte(payload), v, codec.Limits{}, nil)
	if err != nil || len(pkts) == 0 {
		t.Fatalf("handshake payload %q: %v %v", payload, pkts, err)
	}
	return openFields(t, pkts[0])
}

// openFields returns the sid of the open packet p and its keys, sorted.
func openFields(t *testing.T, p codec.Packet) (string, []string) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(p.Data, &m); p.Type != codec.Open || err != nil {
		t.Fatalf("open packet %v: %v", p, err)
	}
	var sid string
	_ = json.Unmarshal(m["sid"], &sid)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return sid, keys
}

// rawWS is a raw WebSocket client.
type rawWS struct {
	t    *testing.T
	conn net.Conn
}

func dialRawWS(t *testing.T, u string) *rawWS {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, br, _, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(u, "http"))
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if br != nil {
		// The open packet may have come with the handshake's answer.
		conn = &bufferedConn{Conn: conn, r: io.MultiReader(br, conn)}
	}
	return &rawWS{t: t, conn: conn}
}

type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *rawWS) send(op ws.OpCode, data string) {
	c.t.Helper()
	if err := wsutil.WriteClientMessage(c.conn, op, []byte(data)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// recv reads the next data frame.
func (c *rawWS) recv() ([]byte, ws.OpCode) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	data, op, err := wsutil.ReadServerData(c.conn)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return data, op
}

// expect reads the next data frame and checks it.
func (c *rawWS) expect(op ws.OpCode, want string) {
	c.t.Helper()
	if data, gotOp := c.recv(); gotOp != op || string(data) != want {
		c.t.Fatalf("read %v %q, want %v %q", gotOp, data, op, want)
	}
}

// TestEIO3Raw: what no 3.x client does on its own, in raw requests, to
// chanio and to the Node 3.6.2 server alike: the keys of the open packet
// (no maxPayload), a stray pong ignored, base64 text frames both ways on a
// WebSocket with b64 and binary frames without, binary polling payloads
// for a client without b64 and base64 for one with it, and the JSONP
// handshake.
func TestEIO3Raw(t *testing.T) {
	for _, srv := range eio3Servers {
		t.Run(srv.name, func(t *testing.T) {
			base := srv.start(t) + "/engine.io/?EIO=3&"
			handshake := func(t *testing.T, c *rawClient, query string) string {
				t.Helper()
				status, _, body := c.do(http.MethodGet, base+"transport=polling"+query, "", "")
				if status != 200 {
					t.Fatalf("handshake: %d %q", status, body)
				}
				if strings.Contains(query, "j=") {
					body = unJSONP(t, body, "0")
				}
				sid, keys := openPacketOf(t, body, codec.V3)
				if want := []string{"pingInterval", "pingTimeout", "sid", "upgrades"}; !slices.Equal(keys, want) {
					t.Fatalf("open packet keys %v, want %v", keys, want)
				}
				return base + "transport=polling&sid=" + sid
			}

			t.Run("xhr2 polling", func(t *testing.T) {
				c := newRawClient(t)
				u := handshake(t, c, "")
				c.post(u, "1:3")      // a stray pong
				c.post(u, "6:b4AQID") // binary, as base64 in a text payload
				status, ct, body := c.do(http.MethodGet, u, "", "")
				if want := "\x01\x04\xff\x04\x01\x02\x03"; status != 200 || ct != "application/octet-stream" || body != want {
					t.Fatalf("GET: %d %q %q, want a binary payload %q", status, ct, body, want)
				}
				c.post(u, "2:4x")
				c.expectText(u, "2:4x")
				c.post(u, "1:1")
			})
			t.Run("b64 polling", func(t *testing.T) {
				c := newRawClient(t)
				u := handshake(t, c, "&b64=1")
				c.post(u, "6:b4AQID")
				c.expectText(u, "6:b4AQID")
				c.post(u, "1:1")
			})
			t.Run("jsonp", func(t *testing.T) {
				c := newRawClient(t)
				u := handshake(t, c, "&j=0&b64=1") + "&j=0"
				c.jsonpPost(u, "7:4hé\nllo6:b4AQID")
				if _, _, body := c.do(http.MethodGet, u, "", ""); unJSONP(t, body, "0") != "7:4hé\nllo6:b4AQID" {
					t.Fatalf("JSONP GET %q", body)
				}
				c.jsonpPost(u, "1:1")
			})
			for _, tc := range []struct {
				name, query       string
				binOp             ws.OpCode
				binary, binaryTwo string // the echoes of 0x01 0x02 0x03 and of 0x05
			}{
				{"websocket b64", "&b64=1", ws.OpText, "b4AQID", "b4BQ=="},
				{"websocket", "", ws.OpBinary, "\x04\x01\x02\x03", "\x04\x05"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					p := dialRawWS(t, base+"transport=websocket"+tc.query)
					data, op := p.recv()
					open, err := codec.DecodeFrame(data, op == ws.OpBinary, codec.V3)
					if err != nil {
						t.Fatal(err)
					}
					if _, keys := openFields(t, open); slices.Contains(keys, "maxPayload") {
						t.Fatalf("open packet keys %v", keys)
					}
					p.send(ws.OpText, "3")
					p.send(ws.OpText, "b4AQID") // forceBase64
					p.expect(tc.binOp, tc.binary)
					p.send(ws.OpBinary, "\x04\x05")
					p.expect(tc.binOp, tc.binaryTwo)
					p.send(ws.OpText, "4é")
					p.expect(ws.OpText, "4é")
				})
			}
		})
	}
}

// TestJSONPProtocol4Raw: protocol 4 JSONP, which no engine.io-client 6.x
// speaks any more, in raw requests to chanio and the Node engine.io 6.6
// server: the handshake answered as a script, messages both ways, the
// close.
func TestJSONPProtocol4Raw(t *testing.T) {
	for _, srv := range eio4JSONPServers {
		t.Run(srv.name, func(t *testing.T) {
			base := srv.start(t) + "/engine.io/?EIO=4&transport=polling&j=1"
			c := newRawClient(t)
			status, _, body := c.do(http.MethodGet, base, "", "")
			if status != 200 {
				t.Fatalf("handshake: %d %q", status, body)
			}
			sid, keys := openPacketOf(t, unJSONP(t, body, "1"), codec.V4)
			if !slices.Contains(keys, "maxPayload") {
				t.Errorf("protocol 4 open packet keys %v", keys)
			}
			u := base + "&sid=" + sid
			c.jsonpPost(u, "4hé\nllo\x1ebAQID")
			if _, _, body := c.do(http.MethodGet, u, "", ""); unJSONP(t, body, "1") != "4hé\nllo\x1ebAQID" {
				t.Fatalf("JSONP GET %q", body)
			}
			c.jsonpPost(u, "1")
		})
	}
}
