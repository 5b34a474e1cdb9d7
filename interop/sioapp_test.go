package interop

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/sio"
)

// sioApp is the Socket.IO application the real clients talk to. On "/",
// "/custom" and "/admin" (whose middleware wants the token "secret"):
//
//   - connect: emits "welcome" {id, ns, auth, recovered};
//   - "echo" args... : emits "echo" with the same arguments;
//   - "ack" args... : acknowledges with the same arguments;
//   - "silent": never acknowledges;
//   - "ask" q: asks the client "question" q with an acknowledgement (2s),
//     then emits "answer-was" with the answer's arguments, or "timeout";
//   - "ask-silent": the same with "question-silent" and 300ms;
//   - "join" room: joins, acknowledges;
//   - "to-room" room, payload: emits "room-msg" payload to the room,
//     acknowledges;
//   - "room-ack" room: asks the room "room-question" with acknowledgements
//     and emits "room-ack-result" count, answers (sorted);
//   - "numbered" i: emits "numbered-back" i, and counts those in order;
//     "numbered-done": acknowledges with how many came in order;
//   - "send-numbered" n: emits "num" 0..n-1;
//   - "disconnect-me": disconnects the socket from the namespace;
//   - "drop-me": closes the Engine.IO connection under it (a transport
//     close for the client, which reconnects); with recovery, the room
//     "r" then gets "missed" 0, 1, 2 while the client is away.
type sioApp struct {
	srv *sio.Server
	url string
	wg  sync.WaitGroup
}

// startSioApp runs the application on a test HTTP server, which also
// serves interop/js at /js/ for the browser page.
func startSioApp(t *testing.T, opts *sio.Options) *sioApp {
	t.Helper()
	if opts == nil {
		opts = &sio.Options{}
	}
	if opts.Engine == nil {
		opts.Engine = &eio.Options{AllowedOrigins: []string{"*"}, PingInterval: 2 * time.Second, PingTimeout: 2 * time.Second}
	}
	app := serveSioApp(sio.NewServer(opts))
	static := eio.StaticFiles{"/js/": {Path: jsDir() + string(filepath.Separator)}}
	hs := httptest.NewServer(app.srv.Handler(static, http.NotFoundHandler()))
	app.url = hs.URL
	t.Cleanup(func() {
		hs.CloseClientConnections()
		app.stop()
		hs.Close()
	})
	return app
}

// serveSioApp runs the application on srv until srv stops.
func serveSioApp(srv *sio.Server) *sioApp {
	app := &sioApp{srv: srv}
	admin := app.srv.Of("/admin")
	admin.Use(func(ctx context.Context, s *sio.Socket) error {
		var auth struct{ Token string }
		_ = json.Unmarshal(s.Handshake().Auth, &auth)
		if auth.Token != "secret" {
			return &sio.ConnectError{Message: "forbidden", Data: map[string]any{"code": 403}}
		}
		s.SetData(auth.Token)
		return nil
	})
	for _, n := range []*sio.Namespace{app.srv.Of("/"), app.srv.Of("/custom"), admin} {
		app.wg.Add(1)
		go func() {
			defer app.wg.Done()
			app.serve(n)
		}()
	}
	return app
}

// stop shuts the server down and waits for the application.
func (app *sioApp) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := app.srv.Shutdown(ctx); err != nil {
		_ = app.srv.Close()
	}
	app.wg.Wait()
}

func (app *sioApp) serve(n *sio.Namespace) {
	inOrder := map[*sio.Socket]int{}
	for ev := range n.Events() {
		s := ev.Socket
		switch ev.Type {
		case sio.EventConnect:
			_ = s.Emit("welcome", map[string]any{"id": s.ID(), "ns": n.Name(), "auth": rawOrNull(s.Handshake().Auth), "recovered": s.Recovered()})
			continue
		case sio.EventDisconnect:
			delete(inOrder, s)
			if ev.Reason == sio.ReasonForcedClose && n.Name() == "/" {
				for i := range 3 {
					_ = n.To("r").Emit("missed", i)
				}
			}
			continue
		}
		args, err := ev.Args.Values()
		if err != nil {
			continue
		}
		str := func(i int) string {
			if i < len(args) {
				v, _ := args[i].(string)
				return v
			}
			return ""
		}
		switch ev.Name {
		case "echo":
			_ = s.Emit("echo", args...)
		case "ack":
			_ = ev.Ack(args...)
		case "silent":
		case "ask", "ask-silent":
			q, wait, event := str(0), 2*time.Second, "question"
			if ev.Name == "ask-silent" {
				wait, event = 300*time.Millisecond, "question-silent"
			}
			app.goWait(func() {
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				reply, err := s.EmitWithAck(ctx, event, q)
				if errors.Is(err, context.DeadlineExceeded) {
					_ = s.Emit("answer-was", "timeout")
					return
				}
				vals, _ := reply.Values()
				_ = s.Emit("answer-was", vals...)
			})
		case "join":
			s.Join(str(0))
			_ = ev.Ack(true)
		case "to-room":
			_ = n.To(str(0)).Emit("room-msg", args[1:]...)
			_ = ev.Ack(true)
		case "room-ack":
			room := str(0)
			app.goWait(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				replies, _ := n.To(room).EmitWithAck(ctx, "room-question")
				var answers []string
				for _, r := range replies {
					var a string
					_ = r.Args.Decode(&a)
					answers = append(answers, a)
				}
				slices.Sort(answers)
				_ = s.Emit("room-ack-result", len(replies), answers)
			})
		case "numbered":
			var i int
			_ = ev.Args.Decode(&i)
			if i == inOrder[s] {
				inOrder[s]++
			}
			_ = s.Emit("numbered-back", i)
		case "numbered-done":
			_ = ev.Ack(inOrder[s])
		case "send-numbered":
			var count int
			_ = ev.Args.Decode(&count)
			for i := range count {
				_ = s.Emit("num", i)
			}
		case "disconnect-me":
			_ = s.Disconnect(false)
		case "drop-me":
			_ = app.srv.Engine().Disconnect(s.EngineID())
		}
	}
}

// goWait runs f on a goroutine the app waits for at its end: a wait for
// an acknowledgement must not block the loop that reads the events.
func (app *sioApp) goWait(f func()) {
	app.wg.Add(1)
	go func() {
		defer app.wg.Done()
		f()
	}()
}

func rawOrNull(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}
