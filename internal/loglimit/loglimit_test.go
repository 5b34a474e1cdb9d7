package loglimit_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chanio/chanio/internal/loglimit"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a fake time that moves only when told.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestText(t *testing.T) {
	long := strings.Repeat("a", 1_000_000)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"short", "https://example.com", "https://example.com"},
		{"at the bound", strings.Repeat("b", loglimit.MaxText), strings.Repeat("b", loglimit.MaxText)},
		{"one past", strings.Repeat("c", loglimit.MaxText+1), strings.Repeat("c", loglimit.MaxText) + "...(65 bytes)"},
		{"a megabyte", long, long[:loglimit.MaxText] + "...(1000000 bytes)"},
		// A 3-byte character across the bound is left out whole.
		{"character across the bound", strings.Repeat("d", loglimit.MaxText-1) + "€€", strings.Repeat("d", loglimit.MaxText-1) + "...(69 bytes)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := loglimit.Text(tc.in).LogValue().String()
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if !utf8.ValidString(got) {
				t.Fatalf("%q is not valid UTF-8", got)
			}
		})
	}
	if got := (loglimit.Error{Err: errors.New(long)}).LogValue().String(); len(got) > loglimit.MaxText+32 {
		t.Errorf("error logged as %d bytes", len(got))
	}
	if got := (loglimit.Error{}).LogValue().String(); got != "<nil>" {
		t.Errorf("nil error logged as %q", got)
	}
}

func TestLimiter(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := loglimit.NewLimiter(3, time.Second, c.now)
	for i := 0; i < 3; i++ {
		if ok, n := l.Allow("a"); !ok || n != 0 {
			t.Fatalf("call %d within the burst: %v %d", i, ok, n)
		}
	}
	for i := 0; i < 5; i++ {
		if ok, _ := l.Allow("a"); ok {
			t.Fatalf("call %d past the burst allowed", i)
		}
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another key limited by the first one's burst")
	}
	c.advance(999 * time.Millisecond)
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("allowed before a token came back")
	}
	c.advance(time.Millisecond)
	if ok, n := l.Allow("a"); !ok || n != 6 {
		t.Fatalf("after a second: %v, suppressed %d, want true 6", ok, n)
	}
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("a second pass for one token")
	}
	// A long quiet refills the burst, no more.
	c.advance(time.Hour)
	passed := 0
	for i := 0; i < 10; i++ {
		if ok, _ := l.Allow("a"); ok {
			passed++
		}
	}
	if passed != 3 {
		t.Fatalf("%d passed after an hour, want the burst of 3", passed)
	}
}

func TestHandler(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	var out bytes.Buffer
	inner := slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})
	log := slog.New(loglimit.NewHandler(inner, loglimit.NewLimiter(2, time.Second, c.now)))
	lines := func() []string {
		s := strings.TrimSpace(out.String())
		out.Reset()
		if s == "" {
			return nil
		}
		return strings.Split(s, "\n")
	}
	for i := 0; i < 10; i++ {
		log.Info("refused", "i", i)
		log.Warn("slow", "i", i)
		log.Debug("debug", "i", i)
		log.Error("failed", "i", i)
	}
	got := lines()
	count := map[string]int{}
	for _, l := range got {
		for _, msg := range []string{"refused", "slow", "debug", "failed"} {
			if strings.Contains(l, "msg="+msg+" ") {
				count[msg]++
			}
		}
	}
	if count["refused"] != 2 || count["slow"] != 2 || count["debug"] != 10 || count["failed"] != 10 {
		t.Fatalf("lines per message %v, want 2 refused, 2 slow, 10 debug, 10 failed", count)
	}
	// The limiter is shared by derived loggers.
	log.With("k", "v").Info("refused")
	if l := lines(); len(l) != 0 {
		t.Fatalf("a derived logger passed %q", l)
	}
	c.advance(time.Second)
	log.WithGroup("g").Info("refused", "i", 10)
	l := lines()
	if len(l) != 1 || !strings.Contains(l[0], "suppressed=9") {
		t.Fatalf("after a second: %q, want one line with suppressed=9", l)
	}
}
