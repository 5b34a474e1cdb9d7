package cluster

import (
	"sort"
	"sync"
	"time"
)

// members is what a node knows of the others, from their heartbeats.
// A node is alive while its last heartbeat is under timeout old; then it
// is dead until it beats again. A dead node is forgotten after forgetAfter
// (it is then unknown, as a node never heard of; NATS answers requests to
// an unknown node that is really gone with "no responders" at once).
type members struct {
	timeout     time.Duration
	forgetAfter time.Duration

	mu      sync.Mutex
	peers   map[string]*peer
	changed chan struct{} // closed at the next change of the alive set; nil until asked for
}

type peer struct {
	incarnation uint64
	lastSeen    time.Time
	dead        bool
	deadSince   time.Time
	// left is set when the node said goodbye: its tunnels end by
	// themselves, and what is left of them is cut a timeout later.
	left bool
}

// liveness is a node's state as [members] sees it.
type liveness uint8

const (
	unknown liveness = iota
	alive
	dead
)

func newMembers(timeout time.Duration) *members {
	return &members{timeout: timeout, forgetAfter: 20 * timeout, peers: make(map[string]*peer)}
}

// state returns what is known of node id at now.
func (m *members) state(id string, now time.Time) liveness {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.peers[id]
	switch {
	case !ok:
		return unknown
	case p.dead || now.Sub(p.lastSeen) > m.timeout:
		return dead
	}
	return alive
}

// changes returns a channel closed at the next change of the nodes alive
// (see notifyLocked).
func (m *members) changes() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.changed == nil {
		m.changed = make(chan struct{})
	}
	return m.changed
}

// notifyLocked tells those waiting on changes that the nodes alive have
// changed: one joined or came back, left, or was found silent. m.mu is
// held.
func (m *members) notifyLocked() {
	if m.changed != nil {
		close(m.changed)
		m.changed = nil
	}
}

// seen records a heartbeat of node id. It reports whether the node is new
// or back (it was dead, unknown, or restarted: a new incarnation), and
// whether it restarted, which ends everything the node had with its
// previous incarnation.
func (m *members) seen(id string, incarnation uint64, now time.Time) (joined, restarted bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.peers[id]
	if !ok {
		m.peers[id] = &peer{incarnation: incarnation, lastSeen: now}
		m.notifyLocked()
		return true, false
	}
	restarted = p.incarnation != incarnation
	joined = restarted || p.dead || now.Sub(p.lastSeen) > m.timeout
	p.incarnation, p.lastSeen, p.dead, p.left = incarnation, now, false, false
	if joined {
		m.notifyLocked()
	}
	return joined, restarted
}

// leave marks node id dead now (it said goodbye), and reports whether it
// was not already.
func (m *members) leave(id string, incarnation uint64, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.peers[id]
	if !ok {
		m.peers[id] = &peer{incarnation: incarnation, dead: true, deadSince: now, left: true}
		return true
	}
	if p.dead || p.incarnation != incarnation {
		return false
	}
	p.dead, p.deadSince, p.left = true, now, true
	m.notifyLocked()
	return true
}

// sweep marks the nodes silent for over the timeout dead and returns
// them (died), with the nodes that said goodbye a timeout ago (left); it
// forgets nodes dead for long.
func (m *members) sweep(now time.Time) (died, left []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, p := range m.peers {
		switch {
		case !p.dead && now.Sub(p.lastSeen) > m.timeout:
			p.dead, p.deadSince = true, now
			died = append(died, id)
		case p.left && now.Sub(p.deadSince) > m.timeout:
			p.left = false
			left = append(left, id)
		case p.dead && now.Sub(p.deadSince) > m.forgetAfter:
			delete(m.peers, id)
		}
	}
	if len(died) > 0 {
		m.notifyLocked()
	}
	sort.Strings(died)
	sort.Strings(left)
	return died, left
}

// alive returns the ids of the nodes alive at now, sorted.
func (m *members) alive(now time.Time) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id, p := range m.peers {
		if !p.dead && now.Sub(p.lastSeen) <= m.timeout {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}
