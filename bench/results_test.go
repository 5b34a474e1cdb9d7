package bench

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

// A row of the results table: one scenario, chanio's figure, the
// baseline's (0 when there is none), and the target it must meet.
type row struct {
	scenario string
	unit     string  // what the figures count, e.g. "msgs/cpu-s"
	chanio   float64 // chanio's figure
	baseline float64 // the bare gobwas/ws figure in the same run, or 0
	target   target
}

// target is what a figure must reach: a ratio to the baseline (more is
// better), a ratio that must stay under a bound (latency), or an absolute
// figure.
type target struct {
	text  string
	check func(r row) bool
}

func atLeastRatio(x float64) target {
	return target{fmt.Sprintf(">= %.2gx baseline", x), func(r row) bool { return r.baseline > 0 && r.chanio/r.baseline >= x }}
}

func atMostRatio(x float64) target {
	return target{fmt.Sprintf("<= %.2gx baseline", x), func(r row) bool { return r.baseline > 0 && r.chanio/r.baseline <= x }}
}

func atLeast(v float64, why string) target {
	return target{fmt.Sprintf(">= %s (%s)", humanize(v), why), func(r row) bool { return r.chanio >= v }}
}

// measured is the target of figures the issue sets no bound for.
var measured = target{"(measured)", func(row) bool { return true }}

func atMost(v float64, why string) target {
	return target{fmt.Sprintf("<= %s (%s)", humanize(v), why), func(r row) bool { return r.chanio <= v }}
}

var (
	resultsMu sync.Mutex
	results   = map[string]row{}
)

// record keeps the latest figures of a scenario (the last b.N round wins).
func record(r row) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	results[r.scenario] = r
}

func humanize(v float64) string {
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.0f", v)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// table renders the results as Markdown.
func table() string {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	names := make([]string, 0, len(results))
	for n := range results {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("| scenario | unit | chanio | baseline | ratio | target | met? |\n|---|---|---|---|---|---|---|\n")
	for _, n := range names {
		r := results[n]
		base, ratio := "n/a", "n/a"
		if r.baseline > 0 {
			base = humanize(r.baseline)
			ratio = fmt.Sprintf("%.2fx", r.chanio/r.baseline)
		}
		met := "no"
		if r.target.check(r) {
			met = "yes"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", r.scenario, r.unit, humanize(r.chanio), base, ratio, r.target.text, met)
	}
	return b.String()
}

// writeResults prints the table and, when CHANIO_BENCH_RESULTS names a
// file, writes it there with the machine and the command.
func writeResults() {
	if len(results) == 0 {
		return
	}
	t := table()
	fmt.Println()
	fmt.Print(t)
	path := os.Getenv("CHANIO_BENCH_RESULTS")
	if path == "" {
		return
	}
	var doc strings.Builder
	doc.WriteString("# Benchmark results\n\n")
	fmt.Fprintf(&doc, "Written by `make bench` on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&doc, "- Machine: %s, %d cores, %s\n", cpuModel(), cpuCount(), runtime.Version())
	pin := "not pinned (no taskset)"
	if pinned() {
		pin = "server pinned to CPU 0 and the load generator to CPU 1 (taskset)"
	}
	fmt.Fprintf(&doc, "- Placement: %s\n", pin)
	fmt.Fprintf(&doc, "- Command: `%s`\n\n", os.Getenv("CHANIO_BENCH_COMMAND"))
	doc.WriteString("Every figure is per second of the server's CPU time (user+system, from /proc) unless the\n" +
		"unit says otherwise; the baseline is the bare gobwas/ws server in bench/baseline, run in the same\n" +
		"process run, so ratios hold across machines where absolute figures do not. Absolute targets are\n" +
		"the issue's multiples of the Node engine.io 6.6 figures measured on the reference machine.\n" +
		"[NOTES.md](NOTES.md) says how the figures are taken, what the profiles show, and what stands\n" +
		"behind a target that is not met.\n\n")
	doc.WriteString(t)
	if err := os.WriteFile(path, []byte(doc.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "writing results:", err)
	}
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return runtime.GOARCH
}

// pinLoad moves this process (the load generator) to CPU 1, away from the
// servers on CPU 0.
func pinLoad() {
	if !pinned() {
		return
	}
	_ = exec.Command("taskset", "-a", "-p", "-c", "1", fmt.Sprint(os.Getpid())).Run()
}
