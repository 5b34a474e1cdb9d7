package sio

import (
	"errors"
	"fmt"
	"testing"

	"github.com/chanio/chanio/eio"
)

func TestReasonFromEngine(t *testing.T) {
	closed := fmt.Errorf("session ended by Shutdown: %w", eio.ErrServerClosed)
	for _, tc := range []struct {
		r    eio.Reason
		err  error
		want Reason
	}{
		{eio.ReasonClientDisconnect, nil, ReasonTransportClose},
		{eio.ReasonTransportClose, nil, ReasonTransportClose},
		{eio.ReasonServerDisconnect, nil, ReasonForcedClose},
		{eio.ReasonServerDisconnect, errors.New("other"), ReasonForcedClose},
		{eio.ReasonServerDisconnect, closed, ReasonServerShuttingDown},
		{eio.ReasonPingTimeout, nil, ReasonPingTimeout},
		{eio.ReasonSlowConsumer, nil, ReasonSlowConsumer},
		{eio.ReasonTransportError, errors.New("bad frame"), ReasonTransportError},
	} {
		if got := reasonFromEngine(tc.r, tc.err); got != tc.want {
			t.Errorf("reasonFromEngine(%v, %v) = %v, want %v", tc.r, tc.err, got, tc.want)
		}
	}
}
