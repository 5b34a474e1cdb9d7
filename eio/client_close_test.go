package eio_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/internal/clienttest"
	"github.com/gobwas/ws"
)

// logMessages is a slog.Handler that keeps each record's message, for a
// test that waits on what the client logged.
type logMessages struct{ log *clienttest.Log[string] }

func (h logMessages) Enabled(context.Context, slog.Level) bool { return true }
func (h logMessages) Handle(_ context.Context, r slog.Record) error {
	h.log.Add(r.Message)
	return nil
}
func (h logMessages) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h logMessages) WithGroup(string) slog.Handler      { return h }

func logged(msg string) func([]string) bool {
	return func(msgs []string) bool { return slices.Contains(msgs, msg) }
}

// TestClientCloseDuringUpgrade: a Close while the probe is out gives the
// upgrade up as any failed upgrade is given up: the probe gets a normal
// close (1000, not 1001) and the client logs the upgrade abandoned.
func TestClientCloseDuringUpgrade(t *testing.T) {
	for round := 0; round < 5; round++ {
		codes := make(chan ws.StatusCode, 1)
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			switch {
			case q.Get("transport") == "websocket":
				conn, _, _, err := ws.UpgradeHTTP(r, w)
				if err != nil {
					return
				}
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(clienttest.Wait))
				for {
					// The probe is never answered: the client's Close
					// comes while it is out.
					h, err := ws.ReadHeader(conn)
					if err != nil || h.Length > 1<<16 {
						codes <- 0
						return
					}
					payload := make([]byte, h.Length)
					if _, err := io.ReadFull(conn, payload); err != nil {
						codes <- 0
						return
					}
					if h.Masked {
						ws.Cipher(payload, h.Mask, 0)
					}
					if h.OpCode == ws.OpClose {
						code, _ := ws.ParseCloseFrameData(payload)
						codes <- code
						return
					}
				}
			case q.Get("sid") == "":
				_, _ = io.WriteString(w, clOpen("up", 25000, 20000, `"websocket"`))
			case r.Method == http.MethodPost:
				_, _ = io.WriteString(w, "ok")
			default:
				<-r.Context().Done() // the long-poll, held
			}
		}))
		var log clienttest.Log[string]
		c := clienttest.Dial(t, hs.URL, &eio.ClientOptions{Logger: slog.New(logMessages{&log})})
		log.Wait(t, "probe sent", logged("eio: websocket probe sent"))
		ctx, cancel := context.WithTimeout(context.Background(), clienttest.Wait)
		if err := c.Close(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		if code := <-codes; code != ws.StatusNormalClosure {
			t.Errorf("round %d: the probe was closed with %d, want %d", round, code, ws.StatusNormalClosure)
		}
		if !slices.ContainsFunc(log.All(), func(m string) bool { return strings.Contains(m, "upgrade abandoned") }) {
			t.Errorf("round %d: no \"upgrade abandoned\" in the log: %q", round, log.All())
		}
		if c.Reason() != eio.ReasonClientDisconnect {
			t.Errorf("round %d: reason %v, want client disconnect", round, c.Reason())
		}
		hs.Close()
	}
}

// TestClientStuckCloseTimesOut: a Close whose close packet cannot go out
// (the POST carrying it is never answered) still ends when the server's
// heartbeat is overdue, as a ping timeout, not when Close's ctx gives up.
func TestClientStuckCloseTimesOut(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Query().Get("sid") == "":
			_, _ = io.WriteString(w, clOpen("stuck", 300, 300, ""))
		case r.Method == http.MethodPost:
			body, _ := io.ReadAll(r.Body)
			if strings.Contains(string(body), "1") {
				<-r.Context().Done() // the close packet's POST, stuck
				return
			}
			_, _ = io.WriteString(w, "ok")
		default:
			<-r.Context().Done() // no ping ever comes
		}
	}))
	defer hs.Close()
	c := clienttest.Dial(t, hs.URL, &eio.ClientOptions{Transports: []string{eio.TransportPolling}})
	ctx, cancel := context.WithTimeout(context.Background(), clienttest.Wait)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close: %v (the stuck close was not ended by the heartbeat)", err)
	}
	if c.Reason() != eio.ReasonPingTimeout {
		t.Errorf("reason %v (%v), want ping timeout", c.Reason(), c.Err())
	}
}

// TestClientDialErrorNamesTransportOnce: a WebSocket dial that fails says
// "websocket" once, not "eio: websocket: transport: websocket: ...".
func TestClientDialErrorNamesTransportOnce(t *testing.T) {
	hs := httptest.NewServer(http.NotFoundHandler())
	u := hs.URL
	hs.Close() // nothing listens there now: the dial is refused
	ctx, cancel := context.WithTimeout(context.Background(), clienttest.Wait)
	defer cancel()
	c, err := eio.Dial(ctx, u, &eio.ClientOptions{Transports: []string{eio.TransportWebSocket}})
	if err == nil {
		_ = c.Close(ctx)
		t.Fatal("Dial to a closed port succeeded")
	}
	if n := strings.Count(err.Error(), "websocket:"); n != 1 {
		t.Errorf("error %q names the transport %d times, want once", err, n)
	}
}
