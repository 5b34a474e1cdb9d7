package conformance

import (
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chanio/chanio/internal/testpeer"
)

var echoBinary string // built once by TestMain

// TestMain builds the programs the tests run; testpeer.Main ends with
// goleak.VerifyTestMain, so no test may leave a goroutine behind.
func TestMain(m *testing.M) {
	testpeer.Main(m, func(dir string) (err error) {
		echoBinary, err = testpeer.Build(dir, "github.com/chanio/chanio/examples/echo", raceEnabled)
		// The race runtime sleeps a second before a process exits, to let
		// reports finish; a server stopped at the end of every test need not.
		os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
		return err
	}, nil)
}

// The suite's server settings (issue 3), as the open packet must announce
// them.
const (
	pingInterval = 300 * time.Millisecond
	pingTimeout  = 200 * time.Millisecond
	maxPayload   = 1_000_000
)

var suiteFlags = []string{
	"-ping-interval", "300ms",
	"-ping-timeout", "200ms",
	"-max-payload", "1000000",
	"-cors", "*",
}

// Deadlines. They are generous on purpose: the suite runs with the race
// detector on busy machines, so timing assertions are orderings and lower
// bounds, and upper bounds are only these.
const (
	waitLong       = 5 * time.Second  // for something that must happen
	requestTimeout = 10 * time.Second // for one HTTP request or dial
)

// server is a running examples/echo.
type server struct {
	httpURL string // http://127.0.0.1:PORT/engine.io/
	wsURL   string // ws://127.0.0.1:PORT/engine.io/
	host    string // 127.0.0.1:PORT
	path    string // /engine.io/
	client  *http.Client
	proc    *testpeer.Process

	// The heartbeat the server was started with, as its open packets
	// must announce it.
	pingInterval, pingTimeout time.Duration
}

// startServer runs examples/echo on a free loopback port with the suite's
// settings; extra flags come after them and so override them. The server
// is stopped when t ends.
func startServer(t testing.TB, extra ...string) *server {
	t.Helper()
	args := append([]string{"-addr", "127.0.0.1:0", "-v"}, suiteFlags...)
	args = append(args, extra...)
	var proc *testpeer.Process
	t.Cleanup(func() { // registered first, so it runs once the server has exited
		if proc != nil && strings.Contains(proc.Stderr(), "WARNING: DATA RACE") {
			t.Errorf("the server reported a data race:\n%s", proc.Stderr())
		}
	})
	proc, raw := testpeer.Start(t, "", echoBinary, args...)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("echo printed a bad URL %q: %v", raw, err)
	}
	// No keep-alive: every request has its own connection, so concurrent
	// long-polls never share one, and no idle connection outlives a test.
	tr := &http.Transport{DisableKeepAlives: true, ExpectContinueTimeout: waitLong}
	t.Cleanup(tr.CloseIdleConnections)
	s := &server{
		httpURL:      raw,
		wsURL:        "ws" + strings.TrimPrefix(raw, "http"),
		host:         u.Host,
		path:         u.Path,
		client:       &http.Client{Transport: tr},
		proc:         proc,
		pingInterval: pingInterval,
		pingTimeout:  pingTimeout,
	}
	for i := 0; i+1 < len(args); i++ { // the last occurrence wins, as in package flag
		var dst *time.Duration
		switch args[i] {
		case "-ping-interval":
			dst = &s.pingInterval
		case "-ping-timeout":
			dst = &s.pingTimeout
		default:
			continue
		}
		if *dst, err = time.ParseDuration(args[i+1]); err != nil {
			t.Fatalf("flag %s %s: %v", args[i], args[i+1], err)
		}
	}
	return s
}

// waitEnded waits until the server's application has been told that
// session sid ended (examples/echo logs it with -v), and returns the reason
// it was given. From then on the server has forgotten the session: a
// request for it is refused with code 1.
func (s *server) waitEnded(t testing.TB, sid string) string {
	t.Helper()
	var reason string
	s.proc.WaitStderr(t, waitLong, "end of session "+sid, func(stderr string) bool {
		reason = endReason(stderr, sid)
		return reason != ""
	})
	return reason
}

// endReason finds the line examples/echo logs when session sid ends
// (msg="echo: session ended" sid=SID reason="ping timeout") and returns
// its reason, or "" if there is no such line yet.
func endReason(stderr, sid string) string {
	lines := strings.Split(stderr, "\n")
	for _, line := range lines[:len(lines)-1] { // whole lines only
		_, rest, ok := strings.Cut(line, `msg="echo: session ended" sid=`+sid+" reason=")
		if !ok {
			continue
		}
		if unq, err := strconv.Unquote(rest); err == nil {
			return unq
		}
		return rest
	}
	return ""
}
