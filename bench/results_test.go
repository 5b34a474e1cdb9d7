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
	baseline float64 // the baseline's figure in the same run (bare gobwas/ws, or Node where the scenario says so), or 0
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

// issueLine is a line of issue 19's table: chanio's figure against the
// bare server (row, whose baseline is the bare server) and against Node's
// engine.io (nodeRow, whose baseline is Node's figure); either may be
// empty.
type issueLine struct {
	work, row, nodeRow string
}

// issue19 lays the figures out as issue 19's table does, with the lines
// its targets add.
var issue19 = []issueLine{
	{"WebSocket echo 32 B", "ws echo text-32B", "ws echo text-32B " + nodeBaseline},
	{"WebSocket echo 1 KiB binary", "ws echo binary-1KiB", "ws echo binary-1KiB " + nodeBaseline},
	{"polling echo 32 B", "", "polling echo text-32B " + nodeBaseline},
	{"polling handshakes", "", "handshakes polling " + nodeBaseline},
	{"WebSocket handshakes", "handshakes websocket", "handshakes websocket " + nodeBaseline},
	{"idle WebSocket session at 10k, RSS", "idle ws sessions 10000 fresh", "idle ws sessions 10000 fresh " + nodeBaseline},
	{"idle WebSocket session at 10k, RSS after one echo", "idle ws sessions 10000 used", "idle ws sessions 10000 used " + nodeBaseline},
	{"idle WebSocket session at 10k, live heap", "idle ws sessions 10000 fresh heap", "idle ws sessions 10000 fresh heap " + nodeBaseline},
	{"idle WebSocket session at 10k, live heap after one echo", "idle ws sessions 10000 used heap", "idle ws sessions 10000 used heap " + nodeBaseline},
	{"sparse echo, 10,000 connections, a message each every 1 s", "ws sparse echo (10000 conns, 1 msg each per 1s)", ""},
	{"sparse echo, 2,000 connections, a message each every 200 ms", "ws sparse echo (2000 conns, 1 msg each per 200ms)", ""},
}

// issueTable renders issue19 as Markdown from the recorded rows; a figure
// not measured in this run is a dash.
func issueTable() string {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	var b strings.Builder
	b.WriteString("| work | unit | chanio | bare gobwas/ws | Node engine.io 6.6.12 | target | met? |\n|---|---|---|---|---|---|---|\n")
	for _, l := range issue19 {
		bare, hasBare := results[l.row]
		node, hasNode := results[l.nodeRow]
		if !hasBare && !hasNode {
			continue
		}
		var chanio float64
		var unit string
		var ratios []string
		bareCell, nodeCell := "—", "—"
		if hasBare {
			chanio, unit = bare.chanio, bare.unit
			if bare.baseline > 0 {
				bareCell = short(bare.baseline, unit)
				ratios = append(ratios, fmt.Sprintf("%.2fx bare", bare.chanio/bare.baseline))
			}
		}
		if hasNode {
			chanio, unit = node.chanio, node.unit
			if node.baseline > 0 {
				nodeCell = short(node.baseline, unit)
				ratios = append(ratios, fmt.Sprintf("%.2fx Node", node.chanio/node.baseline))
			}
		}
		cell := short(chanio, unit)
		if len(ratios) > 0 {
			cell += " (" + strings.Join(ratios, ", ") + ")"
		}
		// The target is the bare server's row's where there is one.
		tr, who := node, "Node"
		if hasBare {
			tr, who = bare, "bare"
		}
		tgt, met := "", ""
		if tr.target.text != measured.text {
			tgt = strings.ReplaceAll(tr.target.text, "baseline", who)
			met = "no"
			if tr.target.check(tr) {
				met = "yes"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", l.work, unit, cell, bareCell, nodeCell, tgt, met)
	}
	return b.String()
}

// short writes a figure as issue 19's table does: thousands as "556k"
// or "17.9k", bytes in full.
func short(v float64, unit string) string {
	switch {
	case strings.Contains(unit, "bytes"):
		return fmt.Sprintf("%.0f B", v)
	case v >= 100000:
		return fmt.Sprintf("%.0fk", v/1000)
	case v >= 1000:
		return fmt.Sprintf("%.1fk", v/1000)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// scaleHeading begins the section of RESULTS.md that `make bench-scale`
// writes; `make bench` keeps it as it is, and the other way round.
const scaleHeading = "## 100,000 WebSocket sessions on six cluster nodes (`make bench-scale`)"

// writeResults prints the tables and, when CHANIO_BENCH_RESULTS names a
// file, writes them there with the machine and the command, keeping the
// file's make bench-scale section.
func writeResults() {
	if len(results) == 0 {
		return
	}
	t, it := table(), issueTable()
	fmt.Println()
	fmt.Print(t)
	fmt.Println()
	fmt.Print(it)
	path := os.Getenv("CHANIO_BENCH_RESULTS")
	if path == "" {
		return
	}
	var doc strings.Builder
	doc.WriteString("# Benchmark results\n\n")
	fmt.Fprintf(&doc, "Written by `make bench` on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	doc.WriteString(machineLines())
	fmt.Fprintf(&doc, "- Command: `%s`\n\n", os.Getenv("CHANIO_BENCH_COMMAND"))
	doc.WriteString("Every figure is per second of the server's CPU time (user+system, from /proc) unless the\n" +
		"unit says otherwise; the baseline is the bare gobwas/ws server in bench/baseline or, in the rows\n" +
		"that say so, Node's engine.io 6.6.12 server (interop/js/eio-bench-server.js, the npm package\n" +
		"pinned in interop/js), each run in the same process run and pinned the same way, so ratios hold\n" +
		"across machines where absolute figures do not. [NOTES.md](NOTES.md) says how the figures are\n" +
		"taken, what the profiles show, and what stands behind a target that is not met.\n\n")
	doc.WriteString(t)
	doc.WriteString("\n## Issue 19's table\n\nThe same figures laid out as issue 19 lays them out: per second of server CPU, or bytes per\n" +
		"idle session; the ratios are chanio's to the bare server and to Node's engine.io.\n\n")
	doc.WriteString(it)
	writeKeeping(path, doc.String(), scaleHeading, true)
}

// machineLines describes the machine and the placement of the processes
// for a results file.
func machineLines() string {
	pin := "not pinned (no taskset)"
	if pinned() {
		pin = "servers pinned to CPU 0 and the load generators to CPU 1 (taskset)"
	}
	return fmt.Sprintf("- Machine: %s, %d cores, %s\n- Placement: %s\n- Load average (1, 5, 15 min) when the run began: %s; when it ended: %s\n",
		cpuModel(), cpuCount(), runtime.Version(), pin, startLoad, loadAverage())
}

// startLoad is the machine's load average when the benchmarks began.
var startLoad = loadAverage()

// loadAverage is the machine's 1, 5 and 15 minute load averages: other
// work on a shared machine moves the figures.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// writeKeeping writes text to path in place of one part of the file: with
// keepTail, everything before heading (keeping heading and what follows
// it); otherwise heading and what follows it (keeping what comes before).
func writeKeeping(path, text, heading string, keepTail bool) {
	old, _ := os.ReadFile(path)
	i := strings.Index(string(old), heading)
	var out string
	switch {
	case keepTail && i >= 0:
		out = strings.TrimRight(text, "\n") + "\n\n" + string(old[i:])
	case keepTail:
		out = text
	case i >= 0:
		out = string(old[:i]) + text
	case len(old) > 0:
		out = strings.TrimRight(string(old), "\n") + "\n\n" + text
	default:
		out = text
	}
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
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
