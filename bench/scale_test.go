package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chanio/chanio/internal/testpeer"
)

// BenchmarkScale is `make bench-scale`: 100,000 concurrent WebSocket
// sessions on one machine, held by six `examples/cluster -app echo` nodes
// joined over an external nats-server, each node its own process, the
// sessions opened and held by six bench/scaleload processes, so that no
// process holds more than the 20,000 open files a process may have here.
// Servers (the nodes and nats-server) are pinned to CPU 0, the load
// generators and this process to CPU 1.
//
// It measures, in this order:
//   - the ramp: every load generator opens its sessions at once (32 at a
//     time each); handshakes per second of wall time and per second of
//     the servers' CPU;
//   - the CPU left idle once all are connected (after idleSettle, over
//     scaleIdleWindow): the idle share of CPU 0 and of the machine from
//     /proc/stat, and the servers' and the load generators' own use (the
//     protocol's heartbeat: a ping every 25 s per session);
//   - RSS per session across all nodes (their growth over the empty
//     nodes, divided by the sessions);
//   - the time a Broadcast from one node (the cluster's Node.Broadcast,
//     sent by examples/cluster's "broadcast:" command) takes to reach all
//     sessions: a warm-up round and then scaleRounds rounds, one at a
//     time; for each, the time until the last session had it, and the
//     delay of every delivery.
//
// It runs only when CHANIO_NATS_SERVER names a nats-server binary (the
// Makefile builds one from the module in go.mod). CHANIO_SCALE_SESSIONS,
// CHANIO_SCALE_NODES and CHANIO_SCALE_LOADGENS change the sizes, for a
// small trial run. One iteration is the whole measurement: run it with
// -benchtime 1x. With CHANIO_BENCH_RESULTS it writes its section of
// RESULTS.md, leaving `make bench`'s tables as they are.
func BenchmarkScale(b *testing.B) {
	natsBin := os.Getenv("CHANIO_NATS_SERVER")
	if natsBin == "" {
		b.Skip("make bench-scale runs it: CHANIO_NATS_SERVER names a nats-server binary")
	}
	cfg := scaleConfig{
		sessions: envInt(b, "CHANIO_SCALE_SESSIONS", 100000),
		nodes:    envInt(b, "CHANIO_SCALE_NODES", 6),
		gens:     envInt(b, "CHANIO_SCALE_LOADGENS", 6),
		rounds:   scaleRounds,
	}
	cfg.check(b)
	clusterBin, err := testpeer.Build(binDir, "github.com/chanio/chanio/examples/cluster", false)
	if err != nil {
		b.Fatal(err)
	}
	loadBin, err := testpeer.Build(binDir, "github.com/chanio/chanio/bench/scaleload", false)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(controlClient.CloseIdleConnections)
	var f scaleFigures
	for range b.N {
		f = runScale(b, cfg, natsBin, clusterBin, loadBin)
	}
	b.ReportMetric(f.rssPerSession, "RSS-bytes/session")
	b.ReportMetric(f.rampPerSec, "handshakes/s")
	b.ReportMetric(f.rampPerCPU, "handshakes/cpu-s")
	b.ReportMetric(f.idleCPU0*100, "cpu0-idle-%")
	b.ReportMetric(f.reachAll.p50, "reach-all-p50-ms")
	b.ReportMetric(f.reachAll.p99, "reach-all-p99-ms")
	section := f.section(cfg)
	fmt.Println()
	fmt.Print(section)
	if path := os.Getenv("CHANIO_BENCH_RESULTS"); path != "" {
		writeKeeping(path, section, scaleHeading, false)
	}
}

// scaleRounds is how many broadcasts BenchmarkScale times, after one to
// warm up.
const scaleRounds = 20

// scaleIdleWindow is how long BenchmarkScale watches the CPU once every
// session is open and settled.
const scaleIdleWindow = 20 * time.Second

// scaleConfig is the size of a scale run.
type scaleConfig struct {
	sessions, nodes, gens, rounds int
}

// check fails the run when a process would need more open files than it
// may have, or the ephemeral ports could not give every node its share of
// connections from 127.0.0.1.
func (c scaleConfig) check(b *testing.B) {
	b.Helper()
	if c.sessions < 1 || c.nodes < 1 || c.gens < 1 {
		b.Fatalf("sizes must be positive: %+v", c)
	}
	perNode := (c.sessions + c.nodes - 1) / c.nodes
	perGen := (c.sessions + c.gens - 1) / c.gens
	files := openFilesLimit()
	if need := max(perNode, perGen) + 200; need > files {
		b.Fatalf("a process would hold %d open files and may hold %d: raise `ulimit -n` (the hard limit is the most without root) or add nodes and load generators", need, files)
	}
	lo, hi := portRange()
	// connect() picks a local port free for the destination: one source
	// address can hold a port range's worth of connections to each node.
	if ports := hi - lo + 1; ports < perNode*11/10 {
		b.Fatalf("net.ipv4.ip_local_port_range %d-%d gives %d ports; %d connections to a node need more (as root: sysctl -w net.ipv4.ip_local_port_range='1024 65535'), or add nodes", lo, hi, ports, perNode)
	}
}

// openFilesLimit is the soft limit of open files the processes this one
// starts get. (Go raises its own soft limit to the hard one, and gives its
// children the limit it started with, which is what Getrlimit cannot see
// afterwards; the Makefile raises the shell's before it starts go.)
func openFilesLimit() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 1024
	}
	if v, err := strconv.Atoi(os.Getenv("CHANIO_SCALE_NOFILE")); err == nil && v > 0 {
		return v
	}
	return int(lim.Cur)
}

func portRange() (lo, hi int) {
	raw, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768, 60999
	}
	f := strings.Fields(string(raw))
	if len(f) != 2 {
		return 32768, 60999
	}
	lo, _ = strconv.Atoi(f[0])
	hi, _ = strconv.Atoi(f[1])
	return lo, hi
}

func envInt(b *testing.B, name string, def int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		b.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}

// scaleFigures is what a scale run measured.
type scaleFigures struct {
	sessions int

	rampSeconds, rampPerSec, rampPerCPU float64
	rampServersCPU, rampLoadgensCPU     float64 // share of one core they used
	rampIdleCPU0, rampIdleCPU1          float64 // share of each CPU idle, 0 to 1

	idleCPU0, idleMachine   float64 // share of the CPU idle, 0 to 1
	serversCPU, loadgensCPU float64 // share of one core they used
	idleLoadavg             string

	rssPerSession, nodesRSS, natsRSS float64 // bytes

	reachAll, delivery             percentiles // milliseconds
	deliveries, deliveriesExpected int
	rounds                         []float64 // time to reach all of each round, ms
}

// percentiles are the p50 and p99 of a set of figures.
type percentiles struct{ p50, p99 float64 }

func percentilesOf(v []float64) percentiles {
	if len(v) == 0 {
		return percentiles{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return percentiles{p50: s[len(s)/2], p99: s[(len(s)*99)/100]}
}

// runScale starts nats-server, the nodes and the load generators, and
// measures.
func runScale(b *testing.B, cfg scaleConfig, natsBin, clusterBin, loadBin string) scaleFigures {
	b.Helper()
	b.StopTimer()
	natsURL, natsPid := startNATS(b, natsBin)
	servers := []int{natsPid}
	nodes := make([]*server, cfg.nodes)
	var urls []string
	for i := range nodes {
		args := []string{clusterBin, "-nats", natsURL, "-node", string(rune('a' + i)), "-addr", "127.0.0.1:0",
			"-app", "echo", "-node-timeout", "30s"}
		cmd := args[0]
		if pinned() {
			cmd, args = "taskset", append([]string{"-c", "0"}, args...)
		} else {
			args = args[1:]
		}
		proc, url := testpeer.Start(b, "", cmd, args...)
		nodes[i] = &server{name: "node " + string(rune('a'+i)), proc: proc}
		servers = append(servers, proc.Pid())
		urls = append(urls, "ws"+strings.TrimPrefix(strings.TrimSuffix(url, "/"), "http")+"/engine.io/?EIO=4&transport=websocket")
	}
	rssBefore := int64(0)
	for _, n := range nodes {
		rssBefore += n.rss(b)
	}
	gens := make([]*loadGen, cfg.gens)
	var loadPids []int
	for i := range gens {
		n := cfg.sessions / cfg.gens
		if i < cfg.sessions%cfg.gens {
			n++
		}
		args := []string{loadBin, "-n", strconv.Itoa(n), "-urls", strings.Join(rotate(urls, i), ",")}
		cmd := args[0]
		if pinned() {
			cmd, args = "taskset", append([]string{"-c", "1"}, args...)
		} else {
			args = args[1:]
		}
		proc, url := testpeer.Start(b, "", cmd, args...)
		gens[i] = &loadGen{base: strings.TrimSuffix(url, "/"), n: n}
		loadPids = append(loadPids, proc.Pid())
	}

	f := scaleFigures{sessions: cfg.sessions}
	// The ramp: every generator opens its sessions at once.
	rampStat0, cpu0, rampLoad0 := readProcStat(b), sumCPU(b, servers), sumCPU(b, loadPids)
	start := time.Now()
	eachGen(b, gens, func(g *loadGen) error { return g.post("/dial") })
	f.rampSeconds = time.Since(start).Seconds()
	f.rampPerSec = float64(cfg.sessions) / f.rampSeconds
	rampStat1, cpu1, rampLoad1 := readProcStat(b), sumCPU(b, servers), sumCPU(b, loadPids)
	if cpu := cpu1 - cpu0; cpu > 0 {
		f.rampPerCPU = float64(cfg.sessions) / cpu.Seconds()
	}
	// How much of the machine the ramp had: what limits the rate on a
	// machine shared with other work.
	f.rampServersCPU = (cpu1 - cpu0).Seconds() / f.rampSeconds
	f.rampLoadgensCPU = (rampLoad1 - rampLoad0).Seconds() / f.rampSeconds
	f.rampIdleCPU0 = rampStat1["cpu0"].idleSince(rampStat0["cpu0"])
	f.rampIdleCPU1 = rampStat1["cpu1"].idleSince(rampStat0["cpu1"])

	// Idle: the readers park, the runtime collects the ramp's garbage;
	// then the CPU is watched while nothing but heartbeats happens.
	time.Sleep(idleSettle)
	stat0, srv0, load0 := readProcStat(b), sumCPU(b, servers), sumCPU(b, loadPids)
	time.Sleep(scaleIdleWindow)
	stat1, srv1, load1 := readProcStat(b), sumCPU(b, servers), sumCPU(b, loadPids)
	f.idleCPU0 = stat1["cpu0"].idleSince(stat0["cpu0"])
	f.idleMachine = stat1["cpu"].idleSince(stat0["cpu"])
	f.serversCPU = (srv1 - srv0).Seconds() / scaleIdleWindow.Seconds()
	f.loadgensCPU = (load1 - load0).Seconds() / scaleIdleWindow.Seconds()
	f.idleLoadavg = loadAverage()

	var rssAfter int64
	for _, n := range nodes {
		rssAfter += n.rss(b)
	}
	f.nodesRSS = float64(rssAfter)
	f.rssPerSession = float64(rssAfter-rssBefore) / float64(cfg.sessions)
	f.natsRSS = float64(processRSS(b, natsPid))
	for _, g := range gens {
		if st := g.stats(b); st.Closed > 0 {
			b.Fatalf("%d sessions of a load generator closed while idle", st.Closed)
		}
	}

	// Broadcasts, one at a time: round 0 warms up.
	var deliveries []float64
	for r := 0; r <= cfg.rounds; r++ {
		got := broadcastRound(b, gens, r)
		if r == 0 {
			continue
		}
		f.deliveriesExpected += cfg.sessions
		f.deliveries += len(got)
		if len(got) == cfg.sessions {
			f.rounds = append(f.rounds, slices.Max(got))
		}
		deliveries = append(deliveries, got...)
		time.Sleep(time.Second) // the sessions go quiet again between rounds
	}
	f.reachAll, f.delivery = percentilesOf(f.rounds), percentilesOf(deliveries)
	b.StartTimer()
	return f
}

// rotate returns urls starting at the i-th, so that each generator's
// sessions start on a different node. Generator 0's start on the first
// node, where its first session sends the broadcasts.
func rotate(urls []string, i int) []string {
	i %= len(urls)
	return append(slices.Clone(urls[i:]), urls[:i]...)
}

// broadcastRound has generator 0 send round r's broadcast and returns
// every session's delay in milliseconds (those that had it within a
// minute).
func broadcastRound(b *testing.B, gens []*loadGen, r int) []float64 {
	b.Helper()
	var mu sync.Mutex
	var all []float64
	var wg sync.WaitGroup
	errs := make(chan error, len(gens)+1)
	for _, g := range gens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var res struct{ Micros []int32 }
			if err := g.get(fmt.Sprintf("/round?round=%d&wait=60s", r), &res); err != nil {
				errs <- err
				return
			}
			mu.Lock()
			for _, v := range res.Micros {
				all = append(all, float64(v)/1000)
			}
			mu.Unlock()
		}()
	}
	if err := gens[0].post(fmt.Sprintf("/broadcast?round=%d", r)); err != nil {
		errs <- err
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return all
}

// loadGen is a running bench/scaleload process, reached over its control
// address.
type loadGen struct {
	base string // http://host:port
	n    int
}

var controlClient = &http.Client{Timeout: 10 * time.Minute}

func (g *loadGen) post(path string) error {
	resp, err := controlClient.Post(g.base+path, "text/plain", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("scaleload %s: %s %s", path, resp.Status, body)
	}
	return nil
}

func (g *loadGen) get(path string, v any) error {
	resp, err := controlClient.Get(g.base + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("scaleload %s: %s %s", path, resp.Status, body)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

type genStats struct{ Sessions, Closed, Pongs int64 }

func (g *loadGen) stats(b *testing.B) genStats {
	b.Helper()
	var st genStats
	if err := g.get("/stats", &st); err != nil {
		b.Fatal(err)
	}
	return st
}

// eachGen runs do on every generator at once and fails on the first
// error.
func eachGen(b *testing.B, gens []*loadGen, do func(*loadGen) error) {
	b.Helper()
	errs := make(chan error, len(gens))
	for _, g := range gens {
		go func() { errs <- do(g) }()
	}
	var first error
	for range gens {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		b.Fatal(first)
	}
}

// startNATS runs nats-server on a free loopback port, pinned with the
// servers, until the benchmark ends.
func startNATS(b *testing.B, bin string) (url string, pid int) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close() // nats-server takes the port over
	args := []string{bin, "-a", "127.0.0.1", "-p", strconv.Itoa(port)}
	name := args[0]
	if pinned() {
		name, args = "taskset", append([]string{"-c", "0"}, args...)
	} else {
		args = args[1:]
	}
	cmd := exec.Command(name, args...)
	var stderr testpeer.LockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if b.Failed() {
			b.Logf("nats-server stderr:\n%s", stderr.String())
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_ = c.Close()
			return "nats://" + addr, cmd.Process.Pid
		}
		if time.Now().After(deadline) {
			b.Fatalf("nats-server did not listen on %s: %v\n%s", addr, err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sumCPU(b *testing.B, pids []int) time.Duration {
	b.Helper()
	var sum time.Duration
	for _, pid := range pids {
		sum += processCPU(b, pid)
	}
	return sum
}

// cpuTimes are a CPU's counters from /proc/stat, in ticks.
type cpuTimes struct{ idle, total int64 }

func (c cpuTimes) idleSince(before cpuTimes) float64 {
	if c.total <= before.total {
		return 0
	}
	return float64(c.idle-before.idle) / float64(c.total-before.total)
}

// readProcStat returns the counters of the machine ("cpu") and of each
// CPU ("cpu0", ...): idle is idle plus iowait.
func readProcStat(b *testing.B) map[string]cpuTimes {
	b.Helper()
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]cpuTimes{}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		var t cpuTimes
		for i, v := range f[1:] {
			n, _ := strconv.ParseInt(v, 10, 64)
			if i < 8 { // user nice system idle iowait irq softirq steal
				t.total += n
			}
			if i == 3 || i == 4 {
				t.idle += n
			}
		}
		out[f[0]] = t
	}
	return out
}

// section renders the figures as RESULTS.md's scale section.
func (f scaleFigures) section(cfg scaleConfig) string {
	var s strings.Builder
	s.WriteString(scaleHeading + "\n\n")
	fmt.Fprintf(&s, "Written by `make bench-scale` on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	s.WriteString(machineLines())
	lo, hi := portRange()
	fmt.Fprintf(&s, "- Limits: %d open files per process (`ulimit -n`), ephemeral ports %d-%d (one client address, %d connections to each node's port)\n",
		openFilesLimit(), lo, hi, (cfg.sessions+cfg.nodes-1)/cfg.nodes)
	fmt.Fprintf(&s, "- Setup: %d `examples/cluster -app echo` nodes and nats-server (built from the module in go.mod) on CPU 0; %d bench/scaleload processes of %d sessions each on CPU 1; Engine.IO heartbeat every 25 s\n\n",
		cfg.nodes, cfg.gens, cfg.sessions/cfg.gens)
	s.WriteString("| figure | value | how |\n|---|---|---|\n")
	row := func(name, value, how string) { fmt.Fprintf(&s, "| %s | %s | %s |\n", name, value, how) }
	row("concurrent WebSocket sessions", strconv.Itoa(f.sessions), fmt.Sprintf("%d per node", (f.sessions+cfg.nodes-1)/cfg.nodes))
	row("RSS per session, all nodes", fmt.Sprintf("%.0f B", f.rssPerSession), fmt.Sprintf("nodes' RSS growth over the empty nodes (%.0f MiB in all now), after %v settled and %v idle; nats-server %.0f MiB", f.nodesRSS/(1<<20), idleSettle, scaleIdleWindow, f.natsRSS/(1<<20)))
	row("Broadcast reaches all sessions, p50", fmt.Sprintf("%.0f ms", f.reachAll.p50), fmt.Sprintf("per round, from the send of the \"broadcast:\" message on node a to the last session's receipt; %d rounds, one at a time", len(f.rounds)))
	row("Broadcast reaches all sessions, p99", fmt.Sprintf("%.0f ms", f.reachAll.p99), "the same, 99th percentile (of 20 rounds: the slowest)")
	row("Broadcast delivery delay, p50 / p99", fmt.Sprintf("%.0f / %.0f ms", f.delivery.p50, f.delivery.p99), fmt.Sprintf("every delivery of every round: %d of %d received", f.deliveries, f.deliveriesExpected))
	row("handshakes per second during the ramp", fmt.Sprintf("%.0f", f.rampPerSec), fmt.Sprintf("%d sessions opened in %.1f s, %d at a time per load generator", f.sessions, f.rampSeconds, 32))
	row("handshakes per second of server CPU during the ramp", fmt.Sprintf("%.0f", f.rampPerCPU), "nodes' and nats-server's CPU time (with the heartbeats of the sessions already open)")
	row("CPU during the ramp", fmt.Sprintf("servers %.0f%%, load generators %.0f%% of a core", f.rampServersCPU*100, f.rampLoadgensCPU*100),
		fmt.Sprintf("CPU 0 %.0f%% idle, CPU 1 %.0f%% idle: the rest is other work on the machine", f.rampIdleCPU0*100, f.rampIdleCPU1*100))
	row("CPU left idle once all are connected: CPU 0 (servers)", fmt.Sprintf("%.1f%%", f.idleCPU0*100), fmt.Sprintf("/proc/stat over %v; load average %s (other work on the shared machine counts here too)", scaleIdleWindow, f.idleLoadavg))
	row("CPU left idle once all are connected: machine", fmt.Sprintf("%.1f%%", f.idleMachine*100), "both CPUs, /proc/stat")
	row("servers' own CPU while idle", fmt.Sprintf("%.1f%% of a core", f.serversCPU*100), "the nodes and nats-server: heartbeats (one ping per session every 25 s)")
	row("load generators' CPU while idle", fmt.Sprintf("%.1f%% of a core", f.loadgensCPU*100), "answering the pings")
	return s.String()
}
