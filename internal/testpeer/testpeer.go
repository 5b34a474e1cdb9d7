// Package testpeer starts the programs that chanio's tests talk to over
// real sockets (examples/echo, Node and Python peers) and stops them when
// the test ends. It is for tests only.
package testpeer

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Main runs a test package whose tests need programs built first: setup
// builds them into a temporary directory; then the tests run, and goleak
// checks that none left a goroutine behind (goleak.VerifyTestMain).
// after, if not nil, runs last, before the directory is removed.
func Main(m *testing.M, setup func(dir string) error, after func()) {
	dir, err := os.MkdirTemp("", "chanio-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := setup(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if after != nil {
			after()
		}
		os.RemoveAll(dir)
		os.Exit(code)
	}))
}

// Build compiles the main package pkg into dir and returns the binary's
// path. With race set it builds with the race detector.
func Build(dir, pkg string, race bool) (string, error) {
	out := filepath.Join(dir, filepath.Base(pkg))
	args := []string{"build", "-o", out}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building %s: %w", pkg, err)
	}
	return out, nil
}

// Process is a program started by a test and stopped at the test's
// cleanup.
type Process struct {
	cmd    *exec.Cmd
	stderr *LockedBuffer
	done   chan struct{}

	mu      sync.Mutex
	lines   []string      // stdout after the "listening on" line
	changed chan struct{} // capacity 1: a line was added, or stdout ended
}

// Start runs name with args in dir and waits for a stdout line starting
// with "listening on "; it returns the rest of that line (a URL). The
// process gets SIGTERM at cleanup (SIGKILL 10s later); its stderr is
// logged if the test failed.
func Start(t testing.TB, dir, name string, args ...string) (*Process, string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &Process{cmd: cmd, stderr: &LockedBuffer{}, done: make(chan struct{}), changed: make(chan struct{}, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	lines := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if !sent && strings.HasPrefix(line, "listening on ") {
				lines <- strings.TrimPrefix(line, "listening on ")
				sent = true
				continue
			}
			if sent {
				p.mu.Lock()
				p.lines = append(p.lines, line)
				p.mu.Unlock()
				p.signal()
			}
		}
		close(lines)
		defer p.signal()
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", filepath.Base(name), p.stderr.String())
		}
	})
	select {
	case url, ok := <-lines:
		if !ok {
			<-p.done
			t.Fatalf("%s exited before listening: %s", name, p.stderr.String())
		}
		return p, url
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not start listening in 30s: %s", name, p.stderr.String())
	}
	return nil, ""
}

func (p *Process) signal() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// Output returns the lines the process has written to stdout after its
// "listening on" line, so far.
func (p *Process) Output() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lines[:len(p.lines):len(p.lines)]
}

// WaitOutput waits until done, given the stdout lines so far (see Output),
// returns true, and returns those lines. It fails the test if that takes
// longer than timeout or the process exits first.
func (p *Process) WaitOutput(t testing.TB, timeout time.Duration, done func(lines []string) bool) []string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		lines := p.Output()
		if done(lines) {
			return lines
		}
		select {
		case <-p.changed:
		case <-p.done:
			if lines := p.Output(); done(lines) {
				return lines
			}
			t.Fatalf("process exited; stdout so far:\n%s\nstderr:\n%s", strings.Join(p.Output(), "\n"), p.stderr.String())
		case <-deadline:
			t.Fatalf("no expected output in %v; stdout so far:\n%s", timeout, strings.Join(p.Output(), "\n"))
		}
	}
}

// WaitStderr waits until done, given everything the process has written
// to stderr so far, returns true, and returns that text. It fails the test,
// saying it waited for what, if that takes longer than timeout or the
// process exits first: a test waits on what a program logs rather than on
// time.
func (p *Process) WaitStderr(t testing.TB, timeout time.Duration, what string, done func(stderr string) bool) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		text, changed := p.stderr.snapshot()
		if done(text) {
			return text
		}
		select {
		case <-changed:
		case <-p.done:
			if text := p.stderr.String(); done(text) {
				return text
			}
			t.Fatalf("process exited before %s; stderr:\n%s", what, p.stderr.String())
		case <-deadline:
			t.Fatalf("no %s in %v; stderr so far:\n%s", what, timeout, text)
		}
	}
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Exited is closed once the process has exited and its output is read.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Kill stops the process at once, as a crash would, and waits for it.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Stderr returns what the process has written to stderr so far.
func (p *Process) Stderr() string { return p.stderr.String() }

// Run runs name with args in dir to completion within timeout and returns
// its stdout; a failure fails the test with stdout and stderr.
func Run(t testing.TB, timeout time.Duration, dir, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stderr LockedBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\nstdout: %s\nstderr: %s", name, args, err, out, stderr.String())
	}
	return out
}

// LockedBuffer is a strings.Builder safe for concurrent writes, for a
// process's output.
type LockedBuffer struct {
	mu      sync.Mutex
	b       strings.Builder
	changed chan struct{} // capacity 1: a write came; made on first use
}

// Write appends p.
func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case l.signal() <- struct{}{}:
	default:
	}
	return l.b.Write(p)
}

func (l *LockedBuffer) signal() chan struct{} {
	if l.changed == nil {
		l.changed = make(chan struct{}, 1)
	}
	return l.changed
}

// snapshot returns what was written so far and a channel that receives
// after the next write.
func (l *LockedBuffer) snapshot() (string, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String(), l.signal()
}

// String returns everything written so far.
func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
