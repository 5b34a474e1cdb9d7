package eio

import (
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// hookEvents collects what a server's test hooks report (see testHooks),
// so that a test waits on what happened rather than on time.
type hookEvents struct {
	held, pongs, parked, trimmed sightings
}

// hook sets srv's test hooks, before srv serves its first request, and
// returns what they report.
func hook(srv *Server) *hookEvents {
	h := &hookEvents{}
	srv.env.hooks = &testHooks{
		pollHeld: h.held.add,
		pong:     h.pongs.add,
		parked:   h.parked.add,
		trimmed:  h.trimmed.add,
	}
	return h
}

// hookedServer is testServer with its hooks set.
func hookedServer(t *testing.T, opts *Options) (*Server, string, *hookEvents) {
	t.Helper()
	srv := NewServer(opts)
	h := hook(srv)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.CloseClientConnections()
		_ = srv.Close()
		hs.Close()
	})
	return srv, hs.URL, h
}

// sightings counts the times each session was reported, and wakes those
// that wait for a count.
type sightings struct {
	mu   sync.Mutex
	seen map[string]int
	wake chan struct{} // closed and replaced at every report
}

func (s *sightings) add(sid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = make(map[string]int)
	}
	s.seen[sid]++
	if s.wake != nil {
		close(s.wake)
		s.wake = nil
	}
}

// wait waits until sid has been reported n times, failing the test after
// 30s (what a loaded machine under the race detector may need).
func (s *sightings) wait(t *testing.T, what, sid string, n int) {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got := s.seen[sid]
		if got >= n {
			s.mu.Unlock()
			return
		}
		if s.wake == nil {
			s.wake = make(chan struct{})
		}
		wake := s.wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-deadline.C:
			t.Fatalf("session %s: %s %d times, want %d", sid, what, got, n)
		}
	}
}
