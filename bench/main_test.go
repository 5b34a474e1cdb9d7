package bench

import (
	"os"
	"testing"

	"github.com/chanio/chanio/internal/testpeer"
)

// Server binaries, built once by TestMain (without the race detector: these
// measure speed).
var (
	chanioBinary   string
	baselineBinary string
	sioBinary      string

	// binDir is where TestMain builds them; programs only some benchmarks
	// need are built there when they run.
	binDir string
)

// TestMain builds the programs the tests run; testpeer.Main ends with
// goleak.VerifyTestMain, so no test may leave a goroutine behind.
func TestMain(m *testing.M) {
	testpeer.Main(m, func(dir string) (err error) {
		binDir = dir
		if chanioBinary, err = testpeer.Build(dir, "github.com/chanio/chanio/examples/echo", false); err != nil {
			return err
		}
		if b := os.Getenv("CHANIO_BENCH_ECHO"); b != "" {
			// Another build of examples/echo, to compare two builds
			// measured alternately on a machine too noisy for one run
			// against another.
			chanioBinary = b
		}
		if baselineBinary, err = testpeer.Build(dir, "github.com/chanio/chanio/bench/baseline", false); err != nil {
			return err
		}
		if sioBinary, err = testpeer.Build(dir, "github.com/chanio/chanio/bench/sioserver", false); err != nil {
			return err
		}
		pinLoad()
		return nil
	}, writeResults)
}
