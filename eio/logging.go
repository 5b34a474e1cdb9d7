package eio

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strings"
	"time"

	"github.com/chanio/chanio/internal/loglimit"
)

// What the server logs is bounded against its peers (see
// Options.Logger): text a peer chose is logged as a prefix and its length
// (loglimit.Text), every Info and Warn message is rate-limited, and a
// session id, which is a bearer token, appears only at Debug; Info and
// Warn lines name a session by sidTag instead.

// Every Info or Warn message may be logged logBurst times at once, then
// once per logEvery; a line that follows dropped ones says how many.
const (
	logBurst = 10
	logEvery = time.Second
)

// limitLogger wraps the application's logger in the rate limit.
func limitLogger(l *slog.Logger, now func() time.Time) *slog.Logger {
	return slog.New(loglimit.NewHandler(l.Handler(), loglimit.NewLimiter(logBurst, logEvery, now)))
}

// sidTag names a session in Info and Warn logs without giving its id
// away: the first 12 hex digits of the SHA-256 of the id, computed only
// if the line is logged. `printf %s "$sid" | sha256sum | cut -c1-12` finds
// it from an id.
type sidTag string

// LogValue implements slog.LogValuer.
func (s sidTag) LogValue() slog.Value { return slog.StringValue(sidHash(string(s))) }

func sidHash(sid string) string {
	sum := sha256.Sum256([]byte(sid))
	return hex.EncodeToString(sum[:6])
}

// logQuery is a request's raw query as logged: bounded as loglimit.Text,
// with every sid value in what is shown replaced by its sidTag hash
// ("sid=#3a1f09c2b4e5"), computed only if the line is logged.
type logQuery string

// LogValue implements slog.LogValuer.
func (q logQuery) LogValue() slog.Value {
	raw := string(q)
	head := raw[:min(len(raw), 2*loglimit.MaxText)]
	if !strings.Contains(head, "sid=") {
		return slog.StringValue(loglimit.Prefix(head, len(raw)))
	}
	var b strings.Builder
	for i, pair := range strings.Split(head, "&") {
		if i > 0 {
			b.WriteByte('&')
		}
		if key, val, ok := strings.Cut(pair, "="); ok && key == "sid" {
			b.WriteString("sid=#")
			b.WriteString(sidHash(val))
		} else {
			b.WriteString(pair)
		}
	}
	shown := b.String()
	if len(head) == len(raw) && len(shown) <= loglimit.MaxText {
		return slog.StringValue(shown)
	}
	return slog.StringValue(loglimit.Prefix(shown, len(raw)))
}
