package eio

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
)

// TestReasonZero: the zero Reason, which every event but a disconnect
// carries and Client.Reason returns before the end, prints as a word.
func TestReasonZero(t *testing.T) {
	if got := fmt.Sprint(Reason(0)); got != "none" {
		t.Errorf("Reason(0) prints %q, want \"none\"", got)
	}
	if got := Reason(200).String(); got != "Reason(200)" {
		t.Errorf("Reason(200) prints %q", got)
	}
}

// TestNilLoggersAgree: a nil Logger means the same on the client as on the
// server: errors go to slog.Default(), nothing else does.
func TestNilLoggersAgree(t *testing.T) {
	srv := (*Options)(nil).withDefaults().Logger
	cl := (*ClientOptions)(nil).withDefaults().Logger
	ctx := context.Background()
	for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
		if s, c := srv.Enabled(ctx, l), cl.Enabled(ctx, l); s != c {
			t.Errorf("level %v: server logger enabled=%v, client logger enabled=%v", l, s, c)
		}
	}
	if !cl.Enabled(ctx, slog.LevelError) {
		t.Error("the client's default logger drops errors")
	}
}
