package interop

import (
	"context"
	"testing"
	"time"

	"github.com/chanio/chanio/internal/backtoback"
)

// TestBackToBackRequests runs issue 12's sequences (requests of one session
// on different connections, fired without waiting for answers) against the
// reference server (Node's engine.io), which proves the sequences' expected
// answers right, and through examples/cluster's round-robin proxy, where
// each request of a session lands on another node. The conformance suite
// runs them against examples/echo.
func TestBackToBackRequests(t *testing.T) {
	requireNode(t)
	rounds := 200
	if raceEnabled {
		rounds = 40
	}
	targets := []struct {
		name  string
		start func(t *testing.T) string
	}{
		{"reference", func(t *testing.T) string {
			_, u := startProcess(t, jsDir(), "node", "server.js", "pingInterval=300", "pingTimeout=200")
			return u
		}},
		{"cluster", func(t *testing.T) string {
			return startCluster(t, "-app", "echo", "-ping-interval", "300ms", "-ping-timeout", "200ms", "-cors", "*")
		}},
	}
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			target := backtoback.Target{URL: tg.start(t) + "/engine.io/"}
			for _, seq := range backtoback.Sequences {
				t.Run(seq.Name, func(t *testing.T) {
					ok, failures := backtoback.Repeat(context.Background(), target, seq.Run, rounds, 10*time.Second)
					for _, err := range failures {
						t.Error(err)
					}
					if ok != rounds {
						t.Errorf("%d of %d rounds gave the reference's answers", ok, rounds)
					}
				})
			}
		})
	}
}
