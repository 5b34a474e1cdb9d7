package eio

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// benchWriter is a reusable http.ResponseWriter that keeps the status and
// discards the body: the handler's own cost, without a recorder's.
type benchWriter struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (w *benchWriter) Header() http.Header { return w.h }

func (w *benchWriter) WriteHeader(status int) { w.status = status }

func (w *benchWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(p)
}

func (w *benchWriter) reset() {
	clear(w.h)
	w.status = 0
	w.body.Reset()
}

// BenchmarkPollingHandler measures the server's own work for a long-poll
// round trip, with net/http and the network left out: a POST of one
// message, its echo by the application, and the GET that takes it. One op
// is one round trip (two requests); cpu-ns/op is the process's CPU time
// per round trip, which a shared machine disturbs less than ns/op.
func BenchmarkPollingHandler(b *testing.B) {
	srv := NewServer(nil)
	var wg sync.WaitGroup
	defer wg.Wait() // after Close, which ends Events
	defer func() { _ = srv.Close() }()
	wg.Add(1)
	go func() { // the application: echo every message
		defer wg.Done()
		for ev := range srv.Events() {
			if ev.Type == EventMessage {
				_ = srv.Send(ev.SID, ev.Data)
			}
		}
	}()

	hw := &benchWriter{h: http.Header{}}
	srv.ServeHTTP(hw, httpRequest(b, http.MethodGet, "/engine.io/?EIO=4&transport=polling", nil))
	var open struct {
		SID string `json:"sid"`
	}
	if hw.status != http.StatusOK || json.Unmarshal(hw.body.Bytes()[1:], &open) != nil {
		b.Fatalf("handshake: %d %q", hw.status, hw.body.Bytes())
	}
	url := "/engine.io/?EIO=4&transport=polling&t=PZ3x9Qa&sid=" + open.SID

	const msg = "4hello, this is thirty-two bytes"
	post := httpRequest(b, http.MethodPost, url, nil)
	post.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	body := strings.NewReader(msg)
	post.Body = io.NopCloser(body)
	get := httpRequest(b, http.MethodGet, url, nil)
	pw, gw := &benchWriter{h: http.Header{}}, &benchWriter{h: http.Header{}}
	done := make(chan struct{})
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for range b.N {
		gw.reset()
		go func() {
			srv.ServeHTTP(gw, get)
			done <- struct{}{}
		}()
		pw.reset()
		body.Reset(msg)
		post.ContentLength = int64(len(msg))
		srv.ServeHTTP(pw, post)
		<-done
		if pw.status != http.StatusOK || gw.status != http.StatusOK {
			b.Fatalf("POST %d %q, GET %d %q", pw.status, pw.body.Bytes(), gw.status, gw.body.Bytes())
		}
	}
	b.StopTimer()
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

func httpRequest(b *testing.B, method, url string, body io.Reader) *http.Request {
	b.Helper()
	r, err := http.NewRequest(method, url, body)
	if err != nil {
		b.Fatal(err)
	}
	return r
}
