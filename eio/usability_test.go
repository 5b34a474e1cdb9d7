package eio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chanio/chanio/codec"
	"github.com/gobwas/ws"
)

// TestReasonZero: the zero Reason, which every event but a disconnect
// carries and Client.Reason returns before the end, prints as a word.
func TestReasonZero(t *testing.T) {
	if got := fmt.Sprint(Reason(0)); got != "none" {
		t.Errorf("Reason(0) prints %q, want \"none\"", got)
	}
	if got := Reason(200).String(); got != "Reason(200)" {
		t.Errorf("Reason(200) prints %q", got)
	}
}

// TestNilLoggersAgree: a nil Logger means the same on the client as on the
// server: errors go to slog.Default(), nothing else does.
func TestNilLoggersAgree(t *testing.T) {
	srv := (*Options)(nil).withDefaults().Logger
	cl := (*ClientOptions)(nil).withDefaults().Logger
	ctx := context.Background()
	for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
		if s, c := srv.Enabled(ctx, l), cl.Enabled(ctx, l); s != c {
			t.Errorf("level %v: server logger enabled=%v, client logger enabled=%v", l, s, c)
		}
	}
	if !cl.Enabled(ctx, slog.LevelError) {
		t.Error("the client's default logger drops errors")
	}
}

// TestSendInvalidUTF8: a text message that is not UTF-8 is refused with
// ErrInvalidUTF8 before anything is queued, on either transport, and the
// session goes on: the next message is the first the peer sees, and no
// disconnect follows. Binary sends are not checked.
func TestSendInvalidUTF8(t *testing.T) {
	bad := []byte("ok\xff")
	sends := []struct {
		name string
		send func(srv *Server, sid string) error
	}{
		{"Send", func(srv *Server, sid string) error { return srv.Send(sid, bad) }},
		{"SendPacket", func(srv *Server, sid string) error {
			return srv.SendPacket(sid, codec.Packet{Type: codec.Message, Data: bad})
		}},
		{"SendPacket noop with data", func(srv *Server, sid string) error {
			return srv.SendPacket(sid, codec.Packet{Type: codec.Noop, Data: bad})
		}},
		{"JSON codec output", func(srv *Server, sid string) error { return srv.SendJSON(sid, "raw") }},
	}
	for _, sc := range sends {
		t.Run(sc.name+"/websocket", func(t *testing.T) {
			t.Parallel()
			srv, base := testServer(t, &Options{JSON: rawBytesJSON{bad}})
			p := dialWS(t, base, "")
			sid := p.open().SID
			expectEvent(t, srv, EventConnect, sid)
			if err := sc.send(srv, sid); !errors.Is(err, ErrInvalidUTF8) {
				t.Fatalf("send of invalid UTF-8: %v, want ErrInvalidUTF8", err)
			}
			if err := srv.SendBinary(sid, bad); err != nil {
				t.Fatalf("SendBinary: %v", err)
			}
			if err := srv.Send(sid, []byte("next")); err != nil {
				t.Fatalf("Send after the refusal: %v", err)
			}
			if data, op, err := p.recv(); err != nil || op != ws.OpBinary || !bytes.Equal(data, bad) {
				t.Fatalf("first frame %v %q %v, want the binary message", op, data, err)
			}
			p.expect("4next")
			p.send("1")
			if ev := expectEvent(t, srv, EventDisconnect, sid); ev.Reason != ReasonClientDisconnect {
				t.Fatalf("session ended with %v (%v), want the client's close", ev.Reason, ev.Err)
			}
		})
		t.Run(sc.name+"/polling", func(t *testing.T) {
			t.Parallel()
			srv, base := testServer(t, &Options{JSON: rawBytesJSON{bad}})
			sid := pollOpen(t, base)
			expectEvent(t, srv, EventConnect, sid)
			if err := sc.send(srv, sid); !errors.Is(err, ErrInvalidUTF8) {
				t.Fatalf("send of invalid UTF-8: %v, want ErrInvalidUTF8", err)
			}
			if err := srv.Send(sid, []byte("next")); err != nil {
				t.Fatalf("Send after the refusal: %v", err)
			}
			if status, body := httpDo(t, http.MethodGet, pollURL(base, sid), ""); status != 200 || body != "4next" {
				t.Fatalf("GET: %d %q, want \"4next\" alone", status, body)
			}
			if tr, err := srv.Transport(sid); err != nil || tr != TransportPolling {
				t.Fatalf("session after the refusal: %q %v", tr, err)
			}
		})
	}
}

// rawBytesJSON is a JSONCodec whose Marshal returns fixed bytes, valid
// UTF-8 or not.
type rawBytesJSON struct{ out []byte }

func (j rawBytesJSON) Marshal(any) ([]byte, error) { return j.out, nil }
func (j rawBytesJSON) Unmarshal([]byte, any) error { return nil }

// TestServerPathMismatch: a server mounted at a path other than its
// Options.Path answers Engine.IO requests with a 404 that names the path it
// expects, and logs a warning once, not once per request.
func TestServerPathMismatch(t *testing.T) {
	var out lockedWriter
	srv := NewServer(&Options{Logger: slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	mux := http.NewServeMux()
	mux.Handle("/realtime/", srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		hs.Close()
		_ = srv.Close()
	})
	for range 3 {
		status, body := httpDo(t, http.MethodGet, hs.URL+"/realtime/?EIO=4&transport=polling", "")
		if status != http.StatusNotFound || !strings.Contains(body, `"/engine.io/"`) || !strings.Contains(body, "Options.Path") {
			t.Fatalf("request at the wrong path: %d %q, want 404 naming Options.Path \"/engine.io/\"", status, body)
		}
	}
	logged := out.String()
	if n := strings.Count(logged, "level=WARN"); n != 1 || !strings.Contains(logged, "/realtime/") || !strings.Contains(logged, "/engine.io/") {
		t.Fatalf("log %q: want one warning naming both paths", logged)
	}
	// A request that is not Engine.IO's gets a 404 too, and no warning.
	if status, _ := httpDo(t, http.MethodGet, hs.URL+"/realtime/favicon.ico", ""); status != http.StatusNotFound {
		t.Fatalf("other request: %d", status)
	}
	if out.String() != logged {
		t.Fatalf("logged more: %q", strings.TrimPrefix(out.String(), logged))
	}
}
