package interop

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chanio/chanio/internal/testpeer"
)

// Server binaries, built once by TestMain.
var echoBinary, chatBinary, clusterBinary, sioChatBinary string

// TestMain builds the programs the tests run; testpeer.Main ends with
// goleak.VerifyTestMain, so no test may leave a goroutine behind.
func TestMain(m *testing.M) {
	testpeer.Main(m, func(dir string) (err error) {
		for _, b := range []struct {
			bin *string
			pkg string
		}{{&echoBinary, "examples/echo"}, {&chatBinary, "examples/chat"}, {&clusterBinary, "examples/cluster"}, {&sioChatBinary, "examples/sio-chat"}} {
			if *b.bin, err = testpeer.Build(dir, "github.com/chanio/chanio/"+b.pkg, raceEnabled); err != nil {
				return err
			}
		}
		return nil
	}, nil)
}

// jsDir is the directory of the npm packages and the Node scripts.
func jsDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "js")
}

// repoDir is the repository's root.
func repoDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// pythonDir is the directory of the python-engineio scripts.
func pythonDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "python")
}

func missingPeer(t testing.TB, what, install string) {
	t.Helper()
	if os.Getenv("CHANIO_REQUIRE_PEERS") == "1" {
		t.Fatalf("%s is not installed (CHANIO_REQUIRE_PEERS=1): %s", what, install)
	}
	t.Skipf("%s is not installed; install it with: %s", what, install)
}

// requireNode skips (or fails) unless node and the pinned npm packages are
// there.
func requireNode(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		missingPeer(t, "node", "make deps")
	}
	if _, err := os.Stat(filepath.Join(jsDir(), "node_modules", "engine.io-client")); err != nil {
		missingPeer(t, "npm packages engine.io and engine.io-client", "make deps (npm ci in interop/js)")
	}
}

const systemPython = "/usr/bin/python3"

// requirePython skips (or fails) unless Debian's python3-engineio is
// importable by the system Python.
func requirePython(t testing.TB) {
	t.Helper()
	if err := exec.Command(systemPython, "-c", "import engineio, websocket, aiohttp, requests").Run(); err != nil {
		missingPeer(t, "python3-engineio", "make deps (apt-get install python3-engineio python3-websocket python3-aiohttp python3-requests)")
	}
}

// process is a peer started by a test and stopped at its cleanup.
type process = testpeer.Process

// startProcess runs name with args in dir and waits for its "listening on
// URL" line; see testpeer.Start.
func startProcess(t testing.TB, dir, name string, args ...string) (*process, string) {
	t.Helper()
	return testpeer.Start(t, dir, name, args...)
}

// startEcho runs examples/echo on a free loopback port and returns its base
// URL ("http://127.0.0.1:PORT"), without the Engine.IO path.
func startEcho(t testing.TB, args ...string) (*process, string) {
	t.Helper()
	p, url := testpeer.Start(t, "", echoBinary, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	return p, strings.TrimSuffix(url, "/engine.io/")
}

// runNode runs a Node script from js/ to completion and returns its stdout.
func runNode(t testing.TB, timeout time.Duration, script string, args ...string) []byte {
	t.Helper()
	return runIn(t, timeout, jsDir(), "node", append([]string{script}, args...)...)
}

func runIn(t testing.TB, timeout time.Duration, dir, name string, args ...string) []byte {
	t.Helper()
	return testpeer.Run(t, timeout, dir, name, args...)
}
