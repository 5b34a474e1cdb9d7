// Package loglimit bounds what a server logs about its peers: text a peer
// chose (an Origin, a query, an error quoting either) is logged as a prefix
// and its length, and lines a peer can make the server repeat (a refused
// request, a slow consumer, a ping timeout) are rate-limited per message,
// so that no peer can turn a request into megabytes of log.
package loglimit

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// MaxText is how many bytes of a peer's text [Text] and [Error] log.
const MaxText = 64

// Text is text a peer chose, as a log value: whole up to [MaxText] bytes,
// else its first MaxText bytes (cut at a character boundary), "...", and
// its length: "https://evil.example/aaaa...(1000000 bytes)".
type Text string

// LogValue implements slog.LogValuer.
func (t Text) LogValue() slog.Value { return slog.StringValue(Prefix(string(t), len(t))) }

// Error is an error whose message may quote a peer, as a log value
// bounded as [Text] is. A nil Error logs as "<nil>".
type Error struct{ Err error }

// LogValue implements slog.LogValuer.
func (e Error) LogValue() slog.Value {
	if e.Err == nil {
		return slog.StringValue("<nil>")
	}
	msg := e.Err.Error()
	return slog.StringValue(Prefix(msg, len(msg)))
}

// Prefix is s as [Text] logs it, for text of n bytes of which s is the
// beginning (or a rewriting of it): s whole if it has at most [MaxText]
// bytes and n is its length; otherwise at most MaxText bytes of it, cut at
// a character boundary, then "...(n bytes)".
func Prefix(s string, n int) string {
	if len(s) <= MaxText && n == len(s) {
		return s
	}
	cut := min(len(s), MaxText)
	for cut > 0 && cut < len(s) && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "...(" + strconv.Itoa(n) + " bytes)"
}

// Limiter is a token bucket per key: each key may pass burst times at
// once, and then once per every. It remembers how many it refused since
// a key last passed. Keys are a program's fixed log messages, so the set
// of them stays small. It is safe for concurrent use.
type Limiter struct {
	burst float64
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	keys map[string]*bucket
}

type bucket struct {
	tokens     float64
	last       time.Time
	suppressed int
}

// NewLimiter returns a limiter that lets burst through at once per key
// and then one per every, reading time from now (time.Now in production,
// a fake clock in tests).
func NewLimiter(burst int, every time.Duration, now func() time.Time) *Limiter {
	return &Limiter{burst: float64(burst), every: every, now: now, keys: make(map[string]*bucket)}
}

// Allow reports whether key may pass now and, if it may, how many times
// it was refused since it last passed.
func (l *Limiter) Allow(key string) (ok bool, suppressed int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.keys[key]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.keys[key] = b
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(l.burst, b.tokens+float64(elapsed)/float64(l.every))
		b.last = now
	}
	if b.tokens < 1 {
		b.suppressed++
		return false, 0
	}
	b.tokens--
	suppressed, b.suppressed = b.suppressed, 0
	return true, suppressed
}

// Handler passes records on to an inner handler, letting through only as
// many Info and Warn records of each message as its Limiter allows; a
// record that passes after others of its message were dropped carries
// their count as "suppressed". Debug and Error records always pass: debug
// logging is asked for, and errors are the server's own failures.
type Handler struct {
	inner slog.Handler
	limit *Limiter
}

// NewHandler returns a Handler over inner that limits with l.
func NewHandler(inner slog.Handler, l *Limiter) *Handler {
	return &Handler{inner: inner, limit: l}
}

// Enabled reports whether the inner handler handles level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

// Handle passes r on to the inner handler if the limiter lets its message
// through.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelInfo || r.Level >= slog.LevelError {
		return h.inner.Handle(ctx, r)
	}
	ok, suppressed := h.limit.Allow(r.Message)
	if !ok {
		return nil
	}
	if suppressed > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("suppressed", suppressed))
	}
	return h.inner.Handle(ctx, r)
}

// WithAttrs returns a Handler over the inner handler with attrs, sharing
// the limiter.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{inner: h.inner.WithAttrs(attrs), limit: h.limit}
}

// WithGroup returns a Handler over the inner handler's group, sharing the
// limiter.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{inner: h.inner.WithGroup(name), limit: h.limit}
}
