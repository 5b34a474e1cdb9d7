package cluster

import (
	"slices"
	"testing"
	"time"
)

// TestMembers: a node is unknown until it beats, alive while its beats
// are under the timeout old, dead after, or at once when it says goodbye,
// alive again when it beats again, and forgotten long after its death.
func TestMembers(t *testing.T) {
	const timeout = time.Second
	t0 := time.Unix(1000, 0)
	m := newMembers(timeout)
	steps := []struct {
		name  string
		do    func() (died, left []string)
		at    time.Time
		state liveness
	}{
		{"never heard of", nil, t0, unknown},
		{"first beat", func() ([]string, []string) { m.seen("x", 1, t0); return nil, nil }, t0, alive},
		{"just under the timeout", func() ([]string, []string) { return m.sweep(t0.Add(timeout)) }, t0.Add(timeout), alive},
		{"silent past the timeout", nil, t0.Add(timeout + 1), dead},
		{"swept", func() ([]string, []string) { return m.sweep(t0.Add(timeout + 1)) }, t0.Add(timeout + 1), dead},
		{"beats again", func() ([]string, []string) { m.seen("x", 1, t0.Add(2*timeout)); return nil, nil }, t0.Add(2 * timeout), alive},
		{"says goodbye", func() ([]string, []string) { m.leave("x", 1, t0.Add(2*timeout)); return nil, nil }, t0.Add(2 * timeout), dead},
		{"goodbye swept", func() ([]string, []string) { return m.sweep(t0.Add(3*timeout + 1)) }, t0.Add(3*timeout + 1), dead},
		{"forgotten", func() ([]string, []string) { return m.sweep(t0.Add(25 * timeout)) }, t0.Add(25 * timeout), unknown},
	}
	wantSwept := map[string][2][]string{
		"swept":         {{"x"}, nil},
		"goodbye swept": {nil, {"x"}},
	}
	for _, s := range steps {
		var died, left []string
		if s.do != nil {
			died, left = s.do()
		}
		if got := m.state("x", s.at); got != s.state {
			t.Errorf("%s: state %d, want %d", s.name, got, s.state)
		}
		want := wantSwept[s.name]
		if !slices.Equal(died, want[0]) || !slices.Equal(left, want[1]) {
			t.Errorf("%s: sweep = %v, %v; want %v, %v", s.name, died, left, want[0], want[1])
		}
	}
	// A new incarnation is a restart.
	m.seen("y", 1, t0)
	if joined, restarted := m.seen("y", 2, t0); !joined || !restarted {
		t.Errorf("new incarnation: joined %v restarted %v", joined, restarted)
	}
	if joined, restarted := m.seen("y", 2, t0); joined || restarted {
		t.Errorf("same incarnation: joined %v restarted %v", joined, restarted)
	}
	if got := m.alive(t0); !slices.Equal(got, []string{"y"}) {
		t.Errorf("alive = %v", got)
	}
}

// TestMembersChanges: the channel of changes is closed when a node joins,
// comes back, restarts, says goodbye or is swept as silent, and not by a
// beat or a sweep that changes nothing.
func TestMembersChanges(t *testing.T) {
	const timeout = time.Second
	t0 := time.Unix(1000, 0)
	m := newMembers(timeout)
	steps := []struct {
		name    string
		do      func()
		changed bool
	}{
		{"first beat", func() { m.seen("x", 1, t0) }, true},
		{"another beat", func() { m.seen("x", 1, t0.Add(timeout/2)) }, false},
		{"sweep in time", func() { m.sweep(t0.Add(timeout)) }, false},
		{"swept as silent", func() { m.sweep(t0.Add(2 * timeout)) }, true},
		{"swept again", func() { m.sweep(t0.Add(2*timeout + 1)) }, false},
		{"comes back", func() { m.seen("x", 1, t0.Add(3*timeout)) }, true},
		{"restarts", func() { m.seen("x", 2, t0.Add(3*timeout)) }, true},
		{"says goodbye", func() { m.leave("x", 2, t0.Add(3*timeout)) }, true},
		{"goodbye swept", func() { m.sweep(t0.Add(5 * timeout)) }, false},
		{"forgotten", func() { m.sweep(t0.Add(30 * timeout)) }, false},
	}
	for _, s := range steps {
		ch := m.changes()
		s.do()
		select {
		case <-ch:
			if !s.changed {
				t.Errorf("%s: told of a change", s.name)
			}
		default:
			if s.changed {
				t.Errorf("%s: not told of the change", s.name)
			}
		}
	}
}
