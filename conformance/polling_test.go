package conformance

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"
)

// Spec: Packet encoding > HTTP long-polling. Packets are joined with the
// record separator 0x1E; a binary message is "b" and its base64; text is
// UTF-8, and lengths are not counted any more.
func TestPollingMessages(t *testing.T) {
	s := startServer(t)
	tests := []struct {
		name string
		post string
		want []packet
	}{
		{
			name: "one text message",
			post: "4hello",
			want: []packet{{typ: typeMessage, data: "hello", raw: "4hello"}},
		},
		{
			name: "several text messages",
			post: "4test1\x1e4test2\x1e4test3",
			want: []packet{
				{typ: typeMessage, data: "test1", raw: "4test1"},
				{typ: typeMessage, data: "test2", raw: "4test2"},
				{typ: typeMessage, data: "test3", raw: "4test3"},
			},
		},
		{
			name: "text and binary",
			post: "4hello\x1ebAQIDBA==",
			want: []packet{
				{typ: typeMessage, data: "hello", raw: "4hello"},
				{typ: typeMessage, data: "\x01\x02\x03\x04", binary: true, raw: "bAQIDBA=="},
			},
		},
		{
			name: "binary that looks like text",
			post: "bNGhlbGxv", // "4hello" as bytes
			want: []packet{{typ: typeMessage, data: "4hello", binary: true, raw: "bNGhlbGxv"}},
		},
		{
			name: "utf-8",
			post: "4€ héllo 😀 日本語",
			want: []packet{{typ: typeMessage, data: "€ héllo 😀 日本語", raw: "4€ héllo 😀 日本語"}},
		},
		{
			name: "digits and colons (no v3 length prefix)",
			post: "412:4abc",
			want: []packet{{typ: typeMessage, data: "12:4abc", raw: "412:4abc"}},
		},
		{
			name: "empty message",
			post: "4",
			want: []packet{{typ: typeMessage, data: "", raw: "4"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := s.openPolling(t)
			p.mustPost(t, tt.post)
			got := p.receive(t, len(tt.want))
			if !slices.Equal(got, tt.want) {
				t.Fatalf("received %v, want %v", got, tt.want)
			}
		})
	}
}

// Spec: "Once there are some packets to be sent, the server SHOULD encode
// them and send them in the response body": everything queued goes in one
// payload.
func TestPollingBatching(t *testing.T) {
	s := startServer(t)
	p := s.openPolling(t)
	// The echo server answers asynchronously, one event after another.
	// After the three messages comes a broadcast: once another session
	// has it, the three echoes are queued, and one GET must take them.
	other := s.openPolling(t)
	p.mustPost(t, "4b1\x1e4b2")
	p.mustPost(t, "4b3\x1e4broadcast:marker")
	if m := other.receive(t, 1); m[0].data != "marker" {
		t.Fatalf("the other session received %v, want the broadcast", m)
	}
	r := p.get(t)
	if r.status != http.StatusOK {
		t.Fatalf("GET: %v", r)
	}
	pkts := decodePayload(t, r.body)
	got := messageData(messages(pkts))
	// The broadcast may have reached this session's queue before the GET
	// or after it.
	if !slices.Equal(got, []string{"b1", "b2", "b3"}) && !slices.Equal(got, []string{"b1", "b2", "b3", "marker"}) {
		t.Fatalf("one GET after three queued messages returned %v, want b1, b2, b3 in one payload", pkts)
	}
}

// Spec: "The server MAY not respond right away if there are no packets
// buffered for the given session."
func TestPollingHeldGET(t *testing.T) {
	s := startServer(t)
	p := s.openPolling(t)
	ch := p.pollAsyncT(t)
	expectHeld(t, ch, 100*time.Millisecond)
	p.mustPost(t, "4wake")
	r := await(t, ch)
	if r.status != http.StatusOK {
		t.Fatalf("held GET: %v, want 200", r)
	}
	pkts := decodePayload(t, r.body)
	got := messageData(messages(pkts))
	if len(got) == 0 && len(pkts) == 1 && pkts[0].typ == typePing {
		// The ping came first (the test was slow); the message follows.
		p.mustPost(t, "3")
		got = messageData(p.receive(t, 1))
	}
	if !slices.Equal(got, []string{"wake"}) {
		t.Fatalf("held GET delivered %q, want [wake]", got)
	}
}

// Spec: "a client MUST NOT have more than one active GET request. Should it
// happen, the server MUST return an HTTP 400 error status and close the
// session." The test suite expects the first GET to get the close packet.
func TestPollingConcurrentGET(t *testing.T) {
	s := startServer(t)
	p := s.openPolling(t)
	first := p.pollAsyncT(t)
	expectHeld(t, first, 100*time.Millisecond)

	checkError(t, p.get(t), http.StatusBadRequest, 3, "Bad request")
	if r := await(t, first); r.status != http.StatusOK || string(r.body) != "1" {
		t.Errorf("first GET: %v, want 200 \"1\" (close)", r)
	}
	checkError(t, p.get(t), http.StatusBadRequest, 1, "Session ID unknown")
}

// A close packet from the client ends the session.
func TestPollingClientClose(t *testing.T) {
	s := startServer(t)

	t.Run("close packet", func(t *testing.T) {
		p := s.openPolling(t)
		p.mustPost(t, "1")
		checkError(t, p.get(t), http.StatusBadRequest, 1, "Session ID unknown")
		checkError(t, p.post(t, "4late"), http.StatusBadRequest, 1, "Session ID unknown")
	})

	t.Run("close packet after a message", func(t *testing.T) {
		p := s.openPolling(t)
		p.mustPost(t, "4bye\x1e1")
		p.expectEnded(t)
	})

	// The test suite's "forcefully closes the session": a GET held while
	// the close packet is posted is released with a noop, "6".
	t.Run("held GET is released", func(t *testing.T) {
		p := s.openPolling(t)
		held := p.pollAsyncT(t)
		expectHeld(t, held, 100*time.Millisecond)
		p.mustPost(t, "1")
		r := await(t, held)
		checkError(t, p.get(t), http.StatusBadRequest, 1, "Session ID unknown")
		if r.status != http.StatusOK || string(r.body) != "6" {
			t.Fatalf("held GET: %v, want 200 \"6\"", r)
		}
	})
}

// The test suite's "closes the session upon cancelled polling request": the
// reference treats a long-poll the client abandons as a transport error
// (polling.ts: "poll connection closed prematurely").
func TestPollingCancelledGET(t *testing.T) {
	s := startServer(t)
	p := s.openPolling(t)
	ctx, cancel := context.WithCancel(context.Background())
	held := p.pollAsync(ctx)
	expectHeld(t, held, 50*time.Millisecond)
	cancel()
	if res := <-held; !errors.Is(res.err, context.Canceled) {
		t.Fatalf("cancelled GET: %v %v, want it cancelled", res.r, res.err)
	}
	// The server sees the connection go, and ends the session for it.
	if reason := s.waitEnded(t, p.sid); reason != "transport error" {
		t.Errorf("session ended with %q, want \"transport error\"", reason)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r, err := p.getCtx(ctx)
	if err != nil {
		t.Fatalf("GET after a cancelled one: %v, want 400", err)
	}
	checkError(t, r, http.StatusBadRequest, 1, "Session ID unknown")
}

// Noop and upgrade packets sent over polling outside an upgrade change
// nothing.
func TestPollingIgnoredPackets(t *testing.T) {
	s := startServer(t)
	p := s.openPolling(t)
	p.mustPost(t, "6")
	p.mustPost(t, "5\x1e6\x1e4after")
	if m := p.receive(t, 1); m[0].data != "after" {
		t.Fatalf("echo %v, want \"after\"", m)
	}
}
