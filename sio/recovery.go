package sio

import (
	"encoding/json"
	"strconv"
	"sync"
	"time"
)

// recovery keeps, for one namespace, what connection state recovery needs:
// the events broadcast lately (each with its offset, the last argument the
// client sees) and the state of the sockets that left and may come back.
//
// Lock order: Namespace.mu, then recovery.sending, then recovery.mu and
// conn.wmu.
type recovery struct {
	n    *Namespace
	opts *Recovery

	// sending is held, with Namespace.mu (read), from the moment a packet
	// gets its place in the log until it has been written to its sockets:
	// every socket gets the packets in the order of their offsets, so that
	// the offset of the last one it got is a line between what it has and
	// what it may have missed.
	sending sync.Mutex

	mu       sync.Mutex
	first    uint64              // seq of log[0]
	log      []slot              // by seq
	offsets  map[string]uint64   // seq by offset, other nodes' packets too
	sessions map[string]*session // by pid
	order    []*session          // by time of leaving
}

// slot is one packet of the log.
type slot struct {
	at     time.Time
	offset string
	b      bcast
	pk     packet
}

// session is the state of a socket that left and may come back.
type session struct {
	sid, pid string
	rooms    []string // its own room first
	data     any
	at       time.Time
	// offset is the last packet the client had; missed are the packets
	// after it for the socket, filled in when it comes back.
	offset uint64
	missed []packet
	remote bool // restored from another node, with its missed packets
}

func newRecovery(n *Namespace, o *Recovery) *recovery {
	return &recovery{n: n, opts: o, sessions: make(map[string]*session), offsets: make(map[string]uint64)}
}

// keep stores a packet about to be sent in the log. With offset "", the
// packet is this server's: it gets the next offset, which is appended to
// it as its last argument, and keep returns it. Otherwise the packet is
// another node's, which gave it that offset. The caller holds n.mu (read)
// and r.sending, and writes the packet to its sockets before it lets them
// go: a socket coming back (under n.mu) finds each packet either in the log
// or sent to it live, never both and never neither.
func (r *recovery) keep(b bcast, pk *packet, offset string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	seq := r.first + uint64(len(r.log))
	if offset == "" {
		offset = r.n.srv.tag + "-" + strconv.FormatUint(seq, 36)
		pk.withOffset(offset)
	}
	r.log = append(r.log, slot{at: now, offset: offset, b: b, pk: *pk})
	r.offsets[offset] = seq
	r.trimLocked(now) // after the append: the log holds MaxPackets at most
	return offset
}

// trimLocked forgets packets and sessions past the window.
func (r *recovery) trimLocked(now time.Time) {
	limit := now.Add(-r.opts.MaxDisconnectionDuration)
	drop := 0
	for drop < len(r.log) && (r.log[drop].at.Before(limit) || len(r.log)-drop > r.opts.MaxPackets) {
		delete(r.offsets, r.log[drop].offset)
		drop++
	}
	if drop > 0 {
		clear(r.log[:drop])
		r.log = r.log[drop:]
		r.first += uint64(drop)
		if len(r.log) == 0 {
			r.log = nil
		}
	}
	gone := 0
	for gone < len(r.order) && r.order[gone].at.Before(limit) {
		if s := r.order[gone]; r.sessions[s.pid] == s {
			delete(r.sessions, s.pid)
		}
		r.order[gone] = nil
		gone++
	}
	r.order = r.order[gone:]
}

// persist keeps the state of a socket that left for a recoverable reason.
func (r *recovery) persist(sock *Socket, rooms []string) {
	if sock.pid == "" {
		return
	}
	s := &session{sid: sock.id, pid: sock.pid, rooms: append([]string{sock.id}, rooms...), data: sock.Data(), at: time.Now()}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.trimLocked(s.at)
	r.sessions[s.pid] = s
	r.order = append(r.order, s)
}

// recoveryAuth reads the pid and offset a client that wants its state back
// puts in its CONNECT payload.
func recoveryAuth(auth json.RawMessage) (pid, offset string) {
	if len(auth) == 0 {
		return "", ""
	}
	var a struct {
		PID    any `json:"pid"`
		Offset any `json:"offset"`
	}
	if json.Unmarshal(auth, &a) != nil {
		return "", ""
	}
	pid, _ = a.PID.(string)
	offset, _ = a.Offset.(string)
	if pid == "" || offset == "" {
		return "", ""
	}
	return pid, offset
}

// restore takes the session pid out of the store when it has not expired
// and offset is a packet this server still has. Its missed packets are
// filled in by fillMissed, once the socket is about to connect.
func (r *recovery) restore(pid, offset string) *session {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.trimLocked(time.Now())
	s := r.sessions[pid]
	seq, ok := r.offsets[offset]
	if s == nil || !ok {
		return nil
	}
	delete(r.sessions, pid)
	s.offset = seq
	return s
}

// fillMissed collects the packets after the session's offset that were
// meant for it, and reports whether it could: false when some of them have
// been forgotten since (MaxPackets, MaxDisconnectionDuration), and the
// socket cannot be recovered. The caller holds n.mu.
func (r *recovery) fillMissed(s *session) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.offset+1 < r.first {
		return false
	}
	for i := s.offset + 1 - r.first; i < uint64(len(r.log)); i++ {
		if sl := &r.log[i]; sl.b.includes(s.rooms) {
			s.missed = append(s.missed, sl.pk)
		}
	}
	return true
}

// includes reports whether a socket in rooms was meant to get the packet:
// the reference's shouldIncludePacket.
func (b *bcast) includes(rooms []string) bool {
	in := len(b.rooms) == 0
	for _, r := range rooms {
		for _, want := range b.rooms {
			if r == want {
				in = true
			}
		}
		for _, not := range b.except {
			if r == not {
				return false
			}
		}
	}
	return in
}
