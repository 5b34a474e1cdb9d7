// Package quietlog makes the logger chanio's packages use when the user
// gives none: silent but for errors the user must know of, which go to
// slog.Default().
package quietlog

import (
	"context"
	"log/slog"
)

// New returns a logger that passes only errors on to slog.Default().
func New() *slog.Logger {
	return slog.New(minLevel{slog.Default().Handler(), slog.LevelError})
}

// minLevel drops records below min.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(attrs), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}
