package eio

import (
	"net/http"
	"testing"
)

// TestPostToClosingStreamSession: a POST for a session that opened on
// WebSocket, sent while that session is closing, is answered as before
// the protocol core: 200 "ok" (what it carries is not heard), and once
// the session has ended, 400 with code 1 (unknown session). The closing
// window of a WebSocket session is one pass of its actor; the test holds
// it open by publishing the closing state itself, as close does first.
func TestPostToClosingStreamSession(t *testing.T) {
	srv, base := testServer(t, nil)
	p := dialWSQuery(t, base, "")
	sid := p.open().SID
	expectEvent(t, srv, EventConnect, sid)
	sess, ok := srv.sessions.Load(sid)
	if !ok {
		t.Fatal("session not registered")
	}
	sess.setClosed()
	if status, body := httpDo(t, http.MethodPost, pollURL(base, sid), "4hello"); status != http.StatusOK || body != "ok" {
		t.Errorf("POST while closing: %d %s, want 200 ok", status, body)
	}
	if err := srv.Disconnect(sid); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, srv, EventDisconnect, sid)
	status, body := httpDo(t, http.MethodPost, pollURL(base, sid), "4hello")
	if status != http.StatusBadRequest || body != `{"code":1,"message":"Session ID unknown"}` {
		t.Errorf("POST after the end: %d %s, want 400 code 1", status, body)
	}
}
