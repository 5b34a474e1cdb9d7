package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/chanio/chanio/internal/backtoback"
)

// backToBackRounds is how often each sequence runs: the answers must not
// depend on which goroutine runs first, so every round must give the
// reference's. The race detector slows the server down about tenfold.
func backToBackRounds() int {
	if raceEnabled {
		return 40
	}
	return 200
}

// Requests of one session on different connections, fired back to back
// without waiting for answers in between (issue 12): the server must
// answer them as the reference does, every time. The same sequences run
// against the reference itself and through the cluster in the interop
// suite.
func TestBackToBackRequests(t *testing.T) {
	s := startServer(t)
	target := backtoback.Target{URL: s.httpURL}
	for _, seq := range backtoback.Sequences {
		t.Run(seq.Name, func(t *testing.T) {
			n := backToBackRounds()
			ok, failures := backtoback.Repeat(context.Background(), target, seq.Run, n, requestTimeout)
			for _, err := range failures {
				t.Error(err)
			}
			if ok != n {
				t.Errorf("%d of %d rounds gave the reference's answers", ok, n)
			}
		})
	}
}

var _ = time.Second
