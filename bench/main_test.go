package bench

import (
	"fmt"
	"os"
	"testing"

	"github.com/chanio/chanio/internal/testpeer"
	"go.uber.org/goleak"
)

// Server binaries, built once by TestMain (without the race detector: these
// measure speed).
var (
	chanioBinary   string
	baselineBinary string
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "chanio-bench")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if chanioBinary, err = testpeer.Build(dir, "github.com/chanio/chanio/examples/echo", false); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if baselineBinary, err = testpeer.Build(dir, "github.com/chanio/chanio/bench/baseline", false); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	pinLoad()
	code := m.Run()
	writeResults()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}
