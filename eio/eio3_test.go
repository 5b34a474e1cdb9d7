package eio

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chanio/chanio/codec"
	"github.com/gobwas/ws"
)

// Protocol 3 as the Node engine.io 3.6.2 server speaks it to the
// engine.io-client 3.x of the Socket.IO 2 era, and JSONP polling in both
// protocols. interop/eio3_test.go runs the real clients, and the same raw
// exchanges against the Node servers.

// v3URL is the server's Engine.IO URL for protocol 3 with query appended.
func v3URL(base, query string) string { return base + "/engine.io/?EIO=3&" + query }

// toWS turns an http:// URL into its ws:// form.
func toWS(u string) string { return "ws" + strings.TrimPrefix(u, "http") }

// decodeV3Open decodes a protocol 3 payload that starts with an open
// packet and returns that packet's JSON.
func decodeV3Open(t *testing.T, payload string) []byte {
	t.Helper()
	pkts, err := codec.DecodePayload([]byte(payload), codec.V3, codec.Limits{}, nil)
	if err != nil || len(pkts) == 0 || pkts[0].Type != codec.Open {
		t.Fatalf("handshake payload %q: %v %v", payload, pkts, err)
	}
	return pkts[0].Data
}

// openKeys returns the sorted keys of an open packet's JSON object.
func openKeys(t *testing.T, data []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("open packet %q: %v", data, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// v3PollOpen performs a protocol 3 polling handshake with the extra query
// (JSONP when it has j) and returns the sid.
func v3PollOpen(t *testing.T, base, query string) string {
	t.Helper()
	resp, body := request(t, http.MethodGet, v3URL(base, "transport=polling&"+query), nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("handshake: %d %s", resp.StatusCode, body)
	}
	if j, ok := mustParseQuery(t, query)["j"]; ok {
		body = jsonpPayload(t, resp, body, j[0])
	}
	var o openBody
	if err := json.Unmarshal(decodeV3Open(t, body), &o); err != nil || o.SID == "" {
		t.Fatalf("open packet in %q: %v", body, err)
	}
	return o.SID
}

// v3WSOpen opens a protocol 3 WebSocket-only session with the extra query
// ("&b64=1") and waits for its connect event.
func v3WSOpen(t *testing.T, srv *Server, base, query string) (*wsPeer, string) {
	t.Helper()
	p := dialWSURL(t, toWS(v3URL(base, "transport=websocket"+query)))
	sid := p.open().SID
	expectEvent(t, srv, EventConnect, sid)
	return p, sid
}

func mustParseQuery(t *testing.T, query string) url.Values {
	t.Helper()
	q, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// TestEIO3OpenPacket: a protocol 3 open packet has the keys of the Node 3.x
// server's, without maxPayload; protocol 4 keeps it.
func TestEIO3OpenPacket(t *testing.T) {
	_, base := testServer(t, &Options{AllowEIO3: true})
	v3Keys := []string{"pingInterval", "pingTimeout", "sid", "upgrades"}
	t.Run("polling", func(t *testing.T) {
		_, body := httpDo(t, http.MethodGet, v3URL(base, "transport=polling"), "")
		if keys := openKeys(t, decodeV3Open(t, body)); !slices.Equal(keys, v3Keys) {
			t.Fatalf("open packet keys %v, want %v", keys, v3Keys)
		}
	})
	t.Run("websocket", func(t *testing.T) {
		p := dialWSURL(t, toWS(v3URL(base, "transport=websocket")))
		data, _, err := p.recv()
		if err != nil || len(data) == 0 || data[0] != '0' {
			t.Fatalf("open frame %q: %v", data, err)
		}
		if keys := openKeys(t, data[1:]); !slices.Equal(keys, v3Keys) {
			t.Fatalf("open packet keys %v, want %v", keys, v3Keys)
		}
	})
	t.Run("protocol 4", func(t *testing.T) {
		_, body := httpDo(t, http.MethodGet, eioURL(base, "transport=polling"), "")
		if keys := openKeys(t, []byte(body[1:])); !slices.Contains(keys, "maxPayload") {
			t.Fatalf("protocol 4 open packet keys %v lack maxPayload", keys)
		}
	})
}

// TestEIO3StrayPong: a pong from a protocol 3 client, which only the
// server may send, is ignored as the Node 3.x server ignores it; the
// session goes on.
func TestEIO3StrayPong(t *testing.T) {
	t.Run("polling", func(t *testing.T) {
		srv, base := testServer(t, &Options{AllowEIO3: true})
		sid := v3PollOpen(t, base, "")
		expectEvent(t, srv, EventConnect, sid)
		u := v3URL(base, "transport=polling&sid="+sid)
		for _, body := range []string{"1:3", "1:32:4x"} {
			if status, got := httpDo(t, http.MethodPost, u, body); status != 200 || got != "ok" {
				t.Fatalf("POST %q: %d %q", body, status, got)
			}
		}
		if ev := expectEvent(t, srv, EventMessage, sid); string(ev.Data) != "x" {
			t.Fatalf("message %q after the stray pongs", ev.Data)
		}
		if err := srv.Send(sid, []byte("y")); err != nil {
			t.Fatal(err)
		}
		if _, body := httpDo(t, http.MethodGet, u, ""); body != "2:4y" {
			t.Fatalf("GET after the stray pongs: %q", body)
		}
	})
	t.Run("websocket", func(t *testing.T) {
		srv, base := testServer(t, &Options{AllowEIO3: true})
		p, sid := v3WSOpen(t, srv, base, "")
		p.send("3")
		p.send("3probe")
		p.send("4z")
		if ev := expectEvent(t, srv, EventMessage, sid); string(ev.Data) != "z" {
			t.Fatalf("message %q after the stray pongs", ev.Data)
		}
		if err := srv.Send(sid, []byte("w")); err != nil {
			t.Fatal(err)
		}
		p.expect("4w")
	})
}

// expectBinaryEvent reads the next event and checks that it is the binary
// message want.
func expectBinaryEvent(t *testing.T, srv *Server, sid string, want []byte) {
	t.Helper()
	ev := expectEvent(t, srv, EventMessage, sid)
	if !ev.Binary || !bytes.Equal(ev.Data, want) {
		t.Fatalf("message binary=%v %.40q, want binary %.40q", ev.Binary, ev.Data, want)
	}
}

// TestEIO3WebSocketBase64: a protocol 3 client that cannot take binary
// frames (forceBase64) sends binary as "b4<base64>" text frames and asks
// for the same with b64=1; without b64 it gets binary frames. Both hold on
// a WebSocket of its own and on one it upgraded to.
func TestEIO3WebSocketBase64(t *testing.T) {
	large := bytes.Repeat([]byte{0, 1, 2, 0xfe, 0xff}, 100_000) // 500 KB
	largeB64 := "b4" + base64.StdEncoding.EncodeToString(large)
	for _, tc := range []struct {
		name, query string
		base64      bool
	}{
		{"b64=1", "&b64=1", true},
		{"no b64", "", false},
		{"empty b64", "&b64=", false}, // the reference reads an empty value as false
	} {
		for _, upgrade := range []bool{false, true} {
			name := tc.name + "/websocket"
			if upgrade {
				name = tc.name + "/upgrade"
			}
			t.Run(name, func(t *testing.T) {
				srv, base := testServer(t, &Options{AllowEIO3: true})
				var p *wsPeer
				var sid string
				if upgrade {
					sid = v3PollOpen(t, base, "b64=1")
					expectEvent(t, srv, EventConnect, sid)
					p = dialWSURL(t, toWS(v3URL(base, "transport=websocket&sid="+sid+tc.query)))
					p.send("2probe")
					p.expect("3probe")
					p.send("5")
					if ev := expectEvent(t, srv, EventUpgrade, sid); ev.Transport != TransportWebSocket {
						t.Fatalf("upgrade event to %q", ev.Transport)
					}
				} else {
					p, sid = v3WSOpen(t, srv, base, tc.query)
				}
				// What a forceBase64 client sends, and what any other does.
				p.send("b4AQID")
				p.sendBinary([]byte{4, 5})
				p.send("4text")
				p.send(largeB64)
				expectBinaryEvent(t, srv, sid, []byte{1, 2, 3})
				expectBinaryEvent(t, srv, sid, []byte{5})
				if ev := expectEvent(t, srv, EventMessage, sid); ev.Binary || string(ev.Data) != "text" {
					t.Fatalf("text message: binary=%v %q", ev.Binary, ev.Data)
				}
				expectBinaryEvent(t, srv, sid, large)

				for _, b := range [][]byte{{1, 2, 3}, large} {
					if err := srv.SendBinary(sid, b); err != nil {
						t.Fatal(err)
					}
					data, op, err := p.recv()
					if err != nil {
						t.Fatal(err)
					}
					want, wantOp := append([]byte{4}, b...), ws.OpBinary
					if tc.base64 {
						want, wantOp = codec.AppendBase64Frame(nil, codec.Packet{Type: codec.Message, Data: b, Binary: true}), ws.OpText
					}
					if op != wantOp || !bytes.Equal(data, want) {
						t.Fatalf("binary message sent as %v %.40q, want %v %.40q", op, data, wantOp, want)
					}
				}
				if err := srv.Send(sid, []byte("hi")); err != nil {
					t.Fatal(err)
				}
				p.expect("4hi")
			})
		}
	}
}

// TestEIO3WebSocketBadBase64: a base64 frame that does not decode ends the
// session, as the reference's parse error does, after the messages that
// came before it.
func TestEIO3WebSocketBadBase64(t *testing.T) {
	srv, base := testServer(t, &Options{AllowEIO3: true})
	p, sid := v3WSOpen(t, srv, base, "&b64=1")
	p.send("4before")
	p.send("b4!!!!")
	if ev := expectEvent(t, srv, EventMessage, sid); string(ev.Data) != "before" {
		t.Fatalf("message %q", ev.Data)
	}
	if ev := expectEvent(t, srv, EventDisconnect, sid); ev.Reason != ReasonTransportError {
		t.Fatalf("reason %v, want transport error", ev.Reason)
	}
}

// jsonpPayload checks that body is a JSONP answer for index ("___eio[3]("...");")
// and returns the payload it carries.
func jsonpPayload(t *testing.T, resp *http.Response, body, index string) string {
	t.Helper()
	head, foot := "___eio["+index+"](", ");"
	if !strings.HasPrefix(body, head) || !strings.HasSuffix(body, foot) {
		t.Fatalf("JSONP answer %q, want %s\"...\"%s", body, head, foot)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Fatalf("JSONP answer with Content-Type %q", ct)
	}
	var payload string
	if err := json.Unmarshal([]byte(body[len(head):len(body)-len(foot)]), &payload); err != nil {
		t.Fatalf("JSONP answer %q: %v", body, err)
	}
	return payload
}

// TestEIO3PollingPayloads: what a protocol 3 polling GET answers with.
// Binary goes as a binary payload (application/octet-stream) to a client
// that can read one, as the Node 3.x server does for XHR2 clients; as
// base64 text to one that asked for it with b64 at the handshake, or polls
// with JSONP. Protocol 4 always answers text.
func TestEIO3PollingPayloads(t *testing.T) {
	// "hé" as a text packet, then bytes 1, 2, 3 as a binary one.
	binaryPayload := string([]byte{0, 4, 0xff, '4', 'h', 0xc3, 0xa9, 1, 4, 0xff, 4, 1, 2, 3})
	tests := []struct {
		name, handshake, poll string
		v4                    bool
		binary                bool
		want                  string
	}{
		{"xhr2", "", "", false, true, binaryPayload},
		{"b64", "b64=1", "", false, false, "3:4hé6:b4AQID"},
		{"b64 given later", "", "&b64=1", false, true, binaryPayload}, // only the handshake's counts
		{"jsonp", "j=0&b64=1", "&j=0", false, false, "3:4hé6:b4AQID"},
		{"jsonp without b64", "j=0", "&j=0", false, false, "3:4hé6:b4AQID"},
		{"jsonp poll of an xhr2 session", "", "&j=1", false, false, "3:4hé6:b4AQID"},
		{"protocol 4", "", "", true, false, "4hé\x1ebAQID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, base := testServer(t, &Options{AllowEIO3: true})
			var sid, u string
			if tc.v4 {
				sid = pollOpen(t, base)
				u = pollURL(base, sid)
			} else {
				sid = v3PollOpen(t, base, tc.handshake)
				u = v3URL(base, "transport=polling&sid="+sid)
			}
			expectEvent(t, srv, EventConnect, sid)
			if err := srv.Send(sid, []byte("hé")); err != nil {
				t.Fatal(err)
			}
			if err := srv.SendBinary(sid, []byte{1, 2, 3}); err != nil {
				t.Fatal(err)
			}
			resp, body := request(t, http.MethodGet, u+tc.poll, nil, "")
			if resp.StatusCode != 200 {
				t.Fatalf("GET: %d %q", resp.StatusCode, body)
			}
			ct := resp.Header.Get("Content-Type")
			switch {
			case strings.Contains(tc.poll, "j="):
				body = jsonpPayload(t, resp, body, tc.poll[len("&j="):])
			case tc.binary && ct != "application/octet-stream",
				!tc.binary && ct != "text/plain; charset=UTF-8":
				t.Fatalf("Content-Type %q (binary payload wanted: %v)", ct, tc.binary)
			}
			if body != tc.want {
				t.Fatalf("payload %q, want %q", body, tc.want)
			}
			// Text alone is a text payload, whatever the client reads.
			if err := srv.Send(sid, []byte("x")); err != nil {
				t.Fatal(err)
			}
			if resp, body := request(t, http.MethodGet, u, nil, ""); !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
				t.Fatalf("text-only GET: %q %q", resp.Header.Get("Content-Type"), body)
			}
		})
	}
}

// TestEIO3BinaryPost: an XHR2 client posts binary payloads as
// application/octet-stream.
func TestEIO3BinaryPost(t *testing.T) {
	srv, base := testServer(t, &Options{AllowEIO3: true})
	sid := v3PollOpen(t, base, "")
	expectEvent(t, srv, EventConnect, sid)
	body := string([]byte{0, 4, 0xff, '4', 'h', 0xc3, 0xa9, 1, 3, 0xff, 4, 9, 9})
	resp, got := request(t, http.MethodPost, v3URL(base, "transport=polling&sid="+sid),
		http.Header{"Content-Type": {"application/octet-stream"}}, body)
	if resp.StatusCode != 200 || got != "ok" {
		t.Fatalf("POST: %d %q", resp.StatusCode, got)
	}
	if ev := expectEvent(t, srv, EventMessage, sid); ev.Binary || string(ev.Data) != "hé" {
		t.Fatalf("text message binary=%v %q", ev.Binary, ev.Data)
	}
	expectBinaryEvent(t, srv, sid, []byte{9, 9})
}

// TestJSONPSession: a JSONP client, in either protocol, from its handshake
// (answered as a script, as the reference does) through messages both ways
// to its close.
func TestJSONPSession(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		url                     func(base, query string) string
		v                       codec.Version
		handshakeExtra, closeIt string
	}{
		{"protocol 4", eioURL, codec.V4, "", "1"},
		{"protocol 3", v3URL, codec.V3, "&b64=1", "1:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, base := testServer(t, &Options{AllowEIO3: true, PingInterval: time.Hour})
			enc := func(pkts ...codec.Packet) string { return string(codec.AppendPayload(nil, pkts, tc.v)) }
			resp, body := request(t, http.MethodGet, tc.url(base, "transport=polling&j=3"+tc.handshakeExtra), nil, "")
			if resp.StatusCode != 200 {
				t.Fatalf("handshake: %d %q", resp.StatusCode, body)
			}
			pkts, err := codec.DecodePayload([]byte(jsonpPayload(t, resp, body, "3")), tc.v, codec.Limits{}, nil)
			if err != nil || len(pkts) != 1 || pkts[0].Type != codec.Open {
				t.Fatalf("handshake payload %v: %v", pkts, err)
			}
			var o openBody
			if err := json.Unmarshal(pkts[0].Data, &o); err != nil {
				t.Fatal(err)
			}
			sid := o.SID
			expectEvent(t, srv, EventConnect, sid)
			u := tc.url(base, "transport=polling&j=3&sid="+sid)
			form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
			post := func(pkts ...codec.Packet) {
				t.Helper()
				resp, body := request(t, http.MethodPost, u, form, url.Values{"d": {enc(pkts...)}}.Encode())
				if resp.StatusCode != 200 || body != "ok" {
					t.Fatalf("POST: %d %q", resp.StatusCode, body)
				}
			}
			post(codec.Packet{Type: codec.Message, Data: []byte("hello é")},
				codec.Packet{Type: codec.Message, Data: []byte{1, 2}, Binary: true})
			if ev := expectEvent(t, srv, EventMessage, sid); string(ev.Data) != "hello é" {
				t.Fatalf("message %q", ev.Data)
			}
			expectBinaryEvent(t, srv, sid, []byte{1, 2})
			if err := srv.Send(sid, []byte("back")); err != nil {
				t.Fatal(err)
			}
			if err := srv.SendBinary(sid, []byte{3}); err != nil {
				t.Fatal(err)
			}
			resp, body = request(t, http.MethodGet, u, nil, "")
			want := enc(codec.Packet{Type: codec.Message, Data: []byte("back")},
				codec.Packet{Type: codec.Message, Data: []byte{3}, Binary: true})
			if got := jsonpPayload(t, resp, body, "3"); got != want {
				t.Fatalf("GET payload %q, want %q", got, want)
			}
			resp, body = request(t, http.MethodPost, u, form, url.Values{"d": {tc.closeIt}}.Encode())
			if resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("close POST: %d %q", resp.StatusCode, body)
			}
			if ev := expectEvent(t, srv, EventDisconnect, sid); ev.Reason != ReasonClientDisconnect {
				t.Fatalf("reason %v, want client disconnect", ev.Reason)
			}
		})
	}
}
