package bench

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chanio/chanio/internal/testpeer"
)

// server is a server under test, running in its own process.
type server struct {
	name string // "chanio", "baseline" (bare gobwas/ws) or "node" (Node's engine.io)
	proc *testpeer.Process
	url  string // ws://host:port/path?query for a WebSocket session
	base string // http://host:port
	eio  bool   // speaks Engine.IO (expects an open packet, pings)

	debug string // http://host:port of its pprof and expvar, if started with one
}

// startServer starts the named server pinned to CPU 0 (when taskset is
// there), so that the load generator has the other core.
func startServer(b testing.TB, name string, args ...string) *server {
	b.Helper()
	if name == "node" {
		return startNode(b, args...)
	}
	bin := baselineBinary
	if name == "chanio" {
		bin = chanioBinary
		args = append([]string{"-addr", "127.0.0.1:0"}, args...)
		if dir := os.Getenv("CHANIO_BENCH_PROFILE"); dir != "" {
			// A CPU profile of this server, for the profile-driven work on
			// the hot paths: go tool pprof <file>.
			args = append(args, "-cpuprofile", filepath.Join(dir, strings.ReplaceAll(b.Name(), "/", "_")+".pprof"))
		}
	}
	cmd, cmdArgs := bin, args
	if pinned() {
		cmd, cmdArgs = "taskset", append([]string{"-c", "0", bin}, args...)
	}
	proc, url := testpeer.Start(b, "", cmd, cmdArgs...)
	s := &server{name: name, proc: proc}
	if name == "chanio" {
		s.base = strings.TrimSuffix(url, "/engine.io/")
		s.url = "ws" + strings.TrimPrefix(s.base, "http") + "/engine.io/?EIO=4&transport=websocket"
		s.eio = true
	} else {
		s.url = url
		s.base = "http" + strings.TrimSuffix(strings.TrimPrefix(url, "ws"), "/")
	}
	return s
}

// startNode starts Node's engine.io server (interop/js/eio-bench-server.js,
// the npm engine.io pinned there) pinned to CPU 0, as startServer does
// the others. Of args it understands "-debug-addr ADDR" alone; it skips
// the benchmark when node or the npm package is missing (make deps).
func startNode(b testing.TB, args ...string) *server {
	b.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		b.Skip("node is not installed: make deps")
	}
	js := filepath.Join(repoDir(), "interop", "js")
	if _, err := os.Stat(filepath.Join(js, "node_modules", "engine.io")); err != nil {
		b.Skip("the npm package engine.io is not installed: make deps")
	}
	cmdArgs := []string{"--expose-gc", filepath.Join(js, "eio-bench-server.js")}
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-debug-addr" {
			cmdArgs = append(cmdArgs, "debug="+args[i+1])
		}
	}
	cmd := "node"
	if pinned() {
		cmd, cmdArgs = "taskset", append([]string{"-c", "0", cmd}, cmdArgs...)
	}
	proc, url := testpeer.Start(b, "", cmd, cmdArgs...)
	s := &server{name: "node", proc: proc, eio: true, base: strings.TrimSuffix(url, "/engine.io/")}
	s.url = "ws" + strings.TrimPrefix(s.base, "http") + "/engine.io/?EIO=4&transport=websocket"
	return s
}

// pinned reports whether servers can be pinned to CPU 0, apart from the
// load generator.
var pinned = sync.OnceValue(func() bool {
	_, err := exec.LookPath("taskset")
	return err == nil && cpuCount() >= 2
})

func cpuCount() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 1
	}
	return strings.Count(string(b), "processor\t:")
}

// cpuTime returns the CPU time (user+system) the server process has used.
func (s *server) cpuTime(b testing.TB) time.Duration {
	b.Helper()
	return processCPU(b, s.proc.Pid())
}

const clockTicks = 100 // USER_HZ on Linux

func processCPU(b testing.TB, pid int) time.Duration {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Fatalf("reading server CPU time: %v", err)
	}
	// Fields after the command name in parentheses: utime and stime are
	// the 12th and 13th.
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// startServerWithDebug is startServer with the server's pprof and expvar
// served on a loopback port of their own, for runtimeStats.
func startServerWithDebug(b testing.TB, name string, args ...string) *server {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // the server takes the port over
	s := startServer(b, name, append([]string{"-debug-addr", addr}, args...)...)
	s.debug = "http://" + addr
	ctx := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(s.debug + "/debug/vars")
		if err == nil {
			_ = resp.Body.Close()
			return s
		}
		if time.Now().After(ctx) {
			b.Fatalf("%s debug endpoint: %v", name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runtimeStats forces a garbage collection in the server (through its
// pprof heap endpoint) and returns its live heap and goroutine count. It
// changes what RSS shows, so read RSS first.
func (s *server) runtimeStats(b testing.TB) (heap int64, goroutines int) {
	b.Helper()
	get := func(path string) []byte {
		resp, err := http.Get(s.debug + path)
		if err != nil {
			b.Fatalf("%s %s: %v", s.name, path, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("%s %s: %s %v", s.name, path, resp.Status, err)
		}
		return body
	}
	get("/debug/pprof/heap?gc=1")
	var vars struct {
		Goroutines int `json:"goroutines"`
		MemStats   struct {
			HeapAlloc int64
		} `json:"memstats"`
	}
	if err := json.Unmarshal(get("/debug/vars"), &vars); err != nil {
		b.Fatalf("%s /debug/vars: %v", s.name, err)
	}
	return vars.MemStats.HeapAlloc, vars.Goroutines
}

// rss returns the server process's resident set size in bytes.
func (s *server) rss(b testing.TB) int64 { return processRSS(b, s.proc.Pid()) }

// processRSS returns the resident set size of process pid in bytes.
func processRSS(b testing.TB, pid int) int64 {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatalf("reading server RSS: %v", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	b.Fatal("no VmRSS in /proc status")
	return 0
}
