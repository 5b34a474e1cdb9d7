package eio

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// TestAuthorizeSessionData: what AuthorizeSession learns from the
// handshake becomes the session's data: in the connect event, from
// Session, and in the disconnect event, on either transport. Its error
// refuses the handshake as Authorize's does, and Authorize, when both are
// set, runs first.
func TestAuthorizeSessionData(t *testing.T) {
	type user struct{ name string }
	var calls atomic.Int32
	srv, base := testServer(t, &Options{
		Authorize: func(r *http.Request) error {
			if r.URL.Query().Get("token") == "banned" {
				return &Rejection{Status: http.StatusForbidden}
			}
			return nil
		},
		AuthorizeSession: func(r *http.Request) (any, error) {
			calls.Add(1)
			token := r.URL.Query().Get("token")
			if !strings.HasPrefix(token, "user-") {
				return nil, errors.New("bad or missing token")
			}
			return &user{strings.TrimPrefix(token, "user-")}, nil
		},
	})
	ctx := context.Background()
	t.Run("polling", func(t *testing.T) {
		status, body := httpDo(t, http.MethodGet, eioURL(base, "transport=polling&token=user-ada"), "")
		if status != http.StatusOK {
			t.Fatalf("handshake: %d %s", status, body)
		}
		sid := parseOpen(t, body).SID
		if u, ok := expectEvent(t, srv, EventConnect, sid).Session.(*user); !ok || u.name != "ada" {
			t.Fatalf("connect event Session %v, want user ada", u)
		}
		if v, err := srv.Session(ctx, sid); err != nil || v.(*user).name != "ada" {
			t.Fatalf("Session: %v %v", v, err)
		}
		httpDo(t, http.MethodPost, pollURL(base, sid), "1")
		if u, ok := expectEvent(t, srv, EventDisconnect, sid).Session.(*user); !ok || u.name != "ada" {
			t.Fatalf("disconnect event Session %v, want user ada", u)
		}
	})
	t.Run("websocket", func(t *testing.T) {
		p := dialWSQuery(t, base, "token=user-bob")
		sid := p.open().SID
		if u, ok := expectEvent(t, srv, EventConnect, sid).Session.(*user); !ok || u.name != "bob" {
			t.Fatalf("connect event Session %v, want user bob", u)
		}
		if v, err := srv.Session(ctx, sid); err != nil || v.(*user).name != "bob" {
			t.Fatalf("Session: %v %v", v, err)
		}
		p.send("1")
		if u, ok := expectEvent(t, srv, EventDisconnect, sid).Session.(*user); !ok || u.name != "bob" {
			t.Fatalf("disconnect event Session %v, want user bob", u)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		calls.Store(0)
		if status, body := httpDo(t, http.MethodGet, eioURL(base, "transport=polling&token=nobody"), ""); status != http.StatusUnauthorized || body != `{"message":"bad or missing token"}` {
			t.Fatalf("AuthorizeSession's refusal: %d %s", status, body)
		}
		if status, _ := httpDo(t, http.MethodGet, eioURL(base, "transport=polling&token=banned"), ""); status != http.StatusForbidden {
			t.Fatalf("Authorize's refusal: %d", status)
		}
		if n := calls.Load(); n != 1 {
			t.Fatalf("AuthorizeSession ran %d times, want once (not after Authorize refused)", n)
		}
		if n := srv.Len(); n != 0 {
			t.Fatalf("refused handshakes made %d sessions", n)
		}
	})
}
