package cluster

import (
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// A tunnel is a byte stream between two nodes over NATS, seen by each end
// as a net.Conn. A node that receives a request for a session of another
// node dials a tunnel to the owner; the owner hands its end to an
// http.Server that serves it with the eio.Server, as any connection. A
// forwarded polling request, and a relayed WebSocket after its upgrade, are
// thus plain HTTP on a connection to the owner.
//
// The dialer asks the owner to open a tunnel with an RPC; then each end
// publishes frames to the other's tunnel subject: data frames, numbered so
// that a lost one (NATS drops messages for a slow subscriber) breaks the
// tunnel rather than the stream, acks that grant the writer credit, and a
// close. One NATS connection per node and one subscription per node keep
// every tunnel's frames in order. A writer has at most window bytes sent
// and not yet read by the other end; a peer that sends more is cut off, so
// each direction buffers at most window bytes.

// tunnelKey names a tunnel on both its ends: the dialer's node id and a
// number the dialer chose.
type tunnelKey struct {
	dialer string
	id     uint64
}

var (
	errTunnelReset    = errors.New("cluster: tunnel reset by the peer")
	errTunnelGap      = errors.New("cluster: tunnel frame lost")
	errTunnelOverflow = errors.New("cluster: tunnel peer sent past its window")
	errTunnelBadAck   = errors.New("cluster: tunnel peer acknowledged bytes never sent")
	errPeerDead       = errors.New("cluster: tunnel peer node is gone")
)

// tunnel is one end of a tunnel. It is a net.Conn; Read and Write may be
// called from different goroutines, each by one goroutine at a time, as
// net/http does.
type tunnel struct {
	n      *Node
	key    tunnelKey
	peer   string // the node at the other end
	dialer bool   // this end dialed
	subj   string // the peer's tunnel subject
	window uint64
	chunk  int // largest data in one frame

	mu        sync.Mutex
	in        [][]byte // received, unread; each aliases a NATS message
	inLen     int
	nextSeq   uint64 // the number of the next data frame expected
	consumed  uint64 // bytes read so far
	acked     uint64 // consumed as last acknowledged to the peer
	sent      uint64 // bytes sent so far
	credit    uint64 // bytes the peer has read (its last ack)
	peerShut  bool   // the peer closed: reads drain, then EOF; writes fail
	closed    bool   // closed here, or broken: everything fails
	closeErr  error  // why it broke, for Read and Write; nil after Close
	readable  chan struct{}
	writable  chan struct{}
	done      chan struct{} // closed once closed
	wmu       sync.Mutex    // one Write at a time; guards wbuf and outSeq
	wbuf      []byte
	outSeq    uint64
	rdl, wdl  deadline
	localAddr net.Addr
	peerAddr  net.Addr
}

func newTunnel(n *Node, key tunnelKey, peer string, dialer bool) *tunnel {
	t := &tunnel{
		n:        n,
		key:      key,
		peer:     peer,
		dialer:   dialer,
		subj:     n.opts.nodeSubject(peer, "t"),
		window:   uint64(n.opts.TunnelWindow),
		chunk:    n.chunkSize(),
		readable: make(chan struct{}, 1),
		writable: make(chan struct{}, 1),
		done:     make(chan struct{}),
		rdl:      makeDeadline(),
		wdl:      makeDeadline(),
	}
	t.localAddr = tunnelAddr{node: n.opts.id, tunnel: key}
	t.peerAddr = tunnelAddr{node: peer, tunnel: key}
	return t
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Read implements net.Conn.
func (t *tunnel) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if isClosed(t.rdl.wait()) {
			return 0, os.ErrDeadlineExceeded
		}
		t.mu.Lock()
		if t.closed {
			err := t.closeErr
			t.mu.Unlock()
			if err == nil {
				err = net.ErrClosed
			}
			return 0, err
		}
		if t.inLen > 0 {
			n := 0
			for n < len(p) && len(t.in) > 0 {
				c := copy(p[n:], t.in[0])
				n += c
				if c == len(t.in[0]) {
					t.in[0] = nil
					t.in = t.in[1:]
				} else {
					t.in[0] = t.in[0][c:]
				}
			}
			if len(t.in) == 0 {
				t.in = nil // let the backing array go
			}
			t.inLen -= n
			t.consumed += n64(n)
			var ack uint64
			if t.consumed-t.acked >= t.window/4 && !t.peerShut {
				t.acked = t.consumed
				ack = t.consumed
			}
			t.mu.Unlock()
			if ack > 0 {
				t.sendControl(frameAck, ack)
			}
			return n, nil
		}
		if t.peerShut {
			t.mu.Unlock()
			return 0, io.EOF
		}
		t.mu.Unlock()
		select {
		case <-t.readable:
		case <-t.rdl.wait():
		case <-t.done:
		}
	}
}

func n64(n int) uint64 { return uint64(n) }

// Write implements net.Conn. It returns once every byte is handed to the
// NATS connection, waiting for credit while the peer has window bytes
// unread.
func (t *tunnel) Write(p []byte) (int, error) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	written := 0
	for len(p) > 0 {
		n, err := t.reserve(len(p))
		if err != nil {
			return written, err
		}
		t.outSeq++
		t.wbuf = appendFrameHeader(t.wbuf[:0], frame{kind: frameData, fromDialer: t.dialer, from: t.n.opts.id, tunnel: t.key.id, seq: t.outSeq})
		t.wbuf = append(t.wbuf, p[:n]...)
		if err := t.n.nc.Publish(t.subj, t.wbuf); err != nil {
			t.fail(err, false)
			return written, err
		}
		written += n
		p = p[n:]
	}
	if cap(t.wbuf) > 4<<10 {
		t.wbuf = nil // do not hold a large buffer while idle
	}
	return written, nil
}

// reserve waits until up to want bytes may be sent and counts them sent.
func (t *tunnel) reserve(want int) (int, error) {
	for {
		if isClosed(t.wdl.wait()) {
			return 0, os.ErrDeadlineExceeded
		}
		t.mu.Lock()
		switch {
		case t.closed:
			err := t.closeErr
			t.mu.Unlock()
			if err == nil {
				err = net.ErrClosed
			}
			return 0, err
		case t.peerShut:
			t.mu.Unlock()
			return 0, errTunnelReset
		}
		if free := t.window - (t.sent - t.credit); free > 0 {
			n := min(want, t.chunk)
			if uint64(n) > free {
				n = int(free)
			}
			t.sent += uint64(n)
			t.mu.Unlock()
			return n, nil
		}
		t.mu.Unlock()
		select {
		case <-t.writable:
		case <-t.wdl.wait():
		case <-t.done:
		}
	}
}

// receive takes a frame from the peer; it runs on the node's tunnel
// subscription and never blocks.
func (t *tunnel) receive(f frame) {
	t.mu.Lock()
	if t.closed || t.peerShut {
		t.mu.Unlock()
		return
	}
	switch f.kind {
	case frameData:
		t.nextSeq++
		switch {
		case f.seq != t.nextSeq:
			t.mu.Unlock()
			t.fail(errTunnelGap, true)
			return
		case uint64(t.inLen+len(f.data)) > t.window:
			t.mu.Unlock()
			t.fail(errTunnelOverflow, true)
			return
		}
		if len(f.data) > 0 {
			t.in = append(t.in, f.data)
			t.inLen += len(f.data)
		}
		t.mu.Unlock()
		signal(t.readable)
	case frameAck:
		if f.seq > t.sent {
			t.mu.Unlock()
			t.fail(errTunnelBadAck, true)
			return
		}
		if f.seq > t.credit {
			t.credit = f.seq
		}
		t.mu.Unlock()
		signal(t.writable)
	case frameClose:
		t.peerShut = true
		t.mu.Unlock()
		t.n.tunnels.remove(t)
		signal(t.readable)
		signal(t.writable)
	}
}

// Close implements net.Conn: the peer's reads end after what was sent.
func (t *tunnel) Close() error {
	t.close(nil, true)
	return nil
}

// fail breaks the tunnel with err: both ends' reads and writes fail.
// notify tells the peer.
func (t *tunnel) fail(err error, notify bool) {
	if err != errPeerDead {
		t.n.log.Debug("cluster: tunnel broken", "peer", t.peer, "tunnel", t.key.id, "err", err)
	}
	t.close(err, notify)
}

func (t *tunnel) close(err error, notify bool) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	t.closeErr = err
	notify = notify && !t.peerShut
	t.in, t.inLen = nil, 0
	close(t.done)
	t.mu.Unlock()
	t.n.tunnels.remove(t)
	if notify {
		t.sendControl(frameClose, 0)
	}
}

func (t *tunnel) sendControl(kind byte, v uint64) {
	var buf [frameHeaderMax]byte
	b := appendFrameHeader(buf[:0], frame{kind: kind, fromDialer: t.dialer, from: t.n.opts.id, tunnel: t.key.id, seq: v})
	_ = t.n.nc.Publish(t.subj, b)
}

// LocalAddr implements net.Conn.
func (t *tunnel) LocalAddr() net.Addr { return t.localAddr }

// RemoteAddr implements net.Conn.
func (t *tunnel) RemoteAddr() net.Addr { return t.peerAddr }

// SetDeadline implements net.Conn.
func (t *tunnel) SetDeadline(d time.Time) error {
	t.rdl.set(d)
	t.wdl.set(d)
	return nil
}

// SetReadDeadline implements net.Conn.
func (t *tunnel) SetReadDeadline(d time.Time) error { t.rdl.set(d); return nil }

// SetWriteDeadline implements net.Conn.
func (t *tunnel) SetWriteDeadline(d time.Time) error { t.wdl.set(d); return nil }

// tunnelAddr is the address of a tunnel end: its node, and the tunnel
// ("node b, tunnel a/5f3a..." for an end on b of a tunnel dialed by a).
type tunnelAddr struct {
	node   string
	tunnel tunnelKey
}

func (a tunnelAddr) Network() string { return "nats" }
func (a tunnelAddr) String() string {
	if a.tunnel.dialer == "" {
		return "node " + a.node
	}
	return "node " + a.node + ", tunnel " + a.tunnel.dialer + "/" + strconv.FormatUint(a.tunnel.id, 16)
}

// tunnels is a node's registry of its tunnel ends, by key. Lock order:
// tunnels.mu is never held while taking a tunnel's mu, nor the reverse.
type tunnels struct {
	mu sync.Mutex
	m  map[tunnelKey]*tunnel
}

func (r *tunnels) add(t *tunnel) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[tunnelKey]*tunnel)
	}
	if _, taken := r.m[t.key]; taken {
		return false
	}
	r.m[t.key] = t
	return true
}

func (r *tunnels) get(k tunnelKey) *tunnel {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[k]
}

func (r *tunnels) remove(t *tunnel) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m[t.key] == t {
		delete(r.m, t.key)
	}
}

func (r *tunnels) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}

// with returns the tunnels whose peer is node (every tunnel when node is
// "").
func (r *tunnels) with(node string) []*tunnel {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*tunnel
	for _, t := range r.m {
		if node == "" || t.peer == node {
			out = append(out, t)
		}
	}
	return out
}

// tunnelListener is the net.Listener of the tunnels other nodes open to
// this one; the node's tunnel http.Server accepts from it.
type tunnelListener struct {
	addr  net.Addr
	conns chan *tunnel
	done  chan struct{}
	once  sync.Once
}

// acceptBacklog bounds the tunnels opened and not yet accepted.
const acceptBacklog = 256

func newTunnelListener(node string) *tunnelListener {
	return &tunnelListener{
		addr:  tunnelAddr{node: node},
		conns: make(chan *tunnel, acceptBacklog),
		done:  make(chan struct{}),
	}
}

// offer queues t for Accept, or reports false when the listener is closed
// or its backlog is full.
func (l *tunnelListener) offer(t *tunnel) bool {
	select {
	case <-l.done:
		return false
	default:
	}
	select {
	case l.conns <- t:
		return true
	default:
		return false
	}
}

// Accept implements net.Listener.
func (l *tunnelListener) Accept() (net.Conn, error) {
	select {
	case t := <-l.conns:
		return t, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener; tunnels not yet accepted are closed.
func (l *tunnelListener) Close() error {
	l.once.Do(func() { close(l.done) })
	for {
		select {
		case t := <-l.conns:
			t.Close()
		default:
			return nil
		}
	}
}

// Addr implements net.Listener.
func (l *tunnelListener) Addr() net.Addr { return l.addr }

// deadline is a settable deadline whose wait channel is closed when it
// passes: a timer, no goroutine. It is net.Pipe's pipeDeadline.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{}
}

func makeDeadline() deadline { return deadline{cancel: make(chan struct{})} }

// set sets the deadline; the zero time means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // wait for the timer's function to close it
	}
	d.timer = nil
	closed := isClosed(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		cancel := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(cancel) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

// wait returns a channel closed once the deadline has passed.
func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
