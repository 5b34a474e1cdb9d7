//go:build linux

package transport

import (
	"errors"
	"os"
	"sync"
	"syscall"
)

// Poller watches idle connections for readability on one goroutine and one
// epoll instance, so that a connection with nothing to read needs no
// goroutine at all: its reader parks it ([WebSocket.Park]) and exits, and
// the poller calls back when data (or a hang-up) arrives. This is how
// gobwas/ws servers hold very many idle connections; chanio keeps one actor
// per session on top of it.
//
// The runtime's own netpoller keeps watching the same descriptors; the
// poller adds a level-triggered one-shot registration of its own, made
// under the connection's descriptor reference so that it can never land on
// a reused descriptor. The poller's epoll instance is itself watched by the
// runtime's netpoller (an epoll descriptor is readable while it has
// events), so that its goroutine waits as any network read does: no
// thread sits in epoll_wait for it, and a message that arrives wakes one
// thread, not one for each of the two registrations.
type Poller struct {
	epfd   int
	ep     *os.File        // epfd, as the runtime's netpoller watches it
	epRaw  syscall.RawConn // of ep
	wakeR  int             // read end of a pipe that Close writes to, to end Run
	wakeW  int
	mu     sync.Mutex
	parked map[uint64]func() // token -> what to run when it fires
	next   uint64
	closed bool

	// registering and registered, when set (by tests), run in park
	// between the token's publication and the descriptor's
	// registration (the moment at which a Close or data may come), and
	// after a registration that worked (when the poller may have started
	// the next reader).
	registering, registered func()
}

const wakeToken = 0 // the pipe's token; connection tokens start at 1

// NewPoller returns a poller; run it with [Poller.Run] on a goroutine of
// its own and stop it with [Poller.Close].
func NewPoller() (*Poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	var pipe [2]int
	if err := syscall.Pipe2(pipe[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
	setToken(&ev, wakeToken)
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, pipe[0], &ev); err != nil {
		syscall.Close(epfd)
		syscall.Close(pipe[0])
		syscall.Close(pipe[1])
		return nil, err
	}
	p := &Poller{epfd: epfd, wakeR: pipe[0], wakeW: pipe[1], parked: make(map[uint64]func())}
	if err := syscall.SetNonblock(epfd, true); err == nil {
		// Non-blocking, the descriptor becomes pollable: os.NewFile
		// registers it with the runtime's netpoller.
		p.ep = os.NewFile(uintptr(epfd), "chanio-poller")
		p.epRaw, err = p.ep.SyscallConn()
		if err != nil {
			p.epRaw = nil
		}
	}
	return p, nil
}

// The 64 bits of user data in an epoll event are Fd and Pad.
func setToken(ev *syscall.EpollEvent, token uint64) {
	ev.Fd = int32(uint32(token))
	ev.Pad = int32(uint32(token >> 32))
}

func getToken(ev *syscall.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// Run waits for parked connections to become readable and calls their
// functions, until Close. Every function still parked when it returns has
// been called, so that no parked reader is forgotten.
func (p *Poller) Run() error {
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := p.wait(events)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			p.shutdown()
			return err
		}
		for i := range events[:n] {
			token := getToken(&events[i])
			if token == wakeToken {
				p.shutdown()
				return nil
			}
			p.fire(token)
		}
	}
}

// wait waits for events: in the runtime's netpoller when it watches the
// epoll descriptor, in epoll_wait otherwise.
func (p *Poller) wait(events []syscall.EpollEvent) (int, error) {
	if p.epRaw == nil {
		return syscall.EpollWait(p.epfd, events, -1)
	}
	var (
		n    int
		werr error
	)
	err := p.epRaw.Read(func(fd uintptr) bool {
		n, werr = syscall.EpollWait(int(fd), events, 0)
		// Nothing yet: false waits for the netpoller to say the
		// descriptor is readable, then calls this again.
		return werr != nil || n > 0
	})
	if err == nil {
		err = werr
	}
	return n, err
}

// fire runs and forgets the function parked under token, once.
func (p *Poller) fire(token uint64) {
	p.mu.Lock()
	fn := p.parked[token]
	delete(p.parked, token)
	p.mu.Unlock()
	if fn != nil {
		fn()
	}
}

// shutdown calls every function still parked, closes the epoll instance
// and the pipe, and refuses new parks.
func (p *Poller) shutdown() {
	p.mu.Lock()
	p.closed = true
	left := p.parked
	p.parked = nil
	p.mu.Unlock()
	for _, fn := range left {
		fn()
	}
	if p.ep != nil {
		p.ep.Close() // takes it out of the runtime's netpoller first
	} else {
		syscall.Close(p.epfd)
	}
	syscall.Close(p.wakeR)
	syscall.Close(p.wakeW)
}

// Close stops Run, which calls every function still parked before it
// returns. It is safe to call more than once.
func (p *Poller) Close() error {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil
	}
	_, err := syscall.Write(p.wakeW, []byte{1})
	if errors.Is(err, syscall.EAGAIN) {
		err = nil // a wake-up is already pending
	}
	return err
}

// ErrNotPollable is returned by [WebSocket.Park] for a connection without a
// file descriptor (TLS, an in-memory pipe) or a closed poller.
var ErrNotPollable = errors.New("transport: connection cannot be parked")

// park registers the descriptor behind cr with p for one readability
// event and records fn under a new token, which it also stores in cr (so
// that closing the connection can fire it).
//
// The token is the connection: whoever takes fn out of p.parked (the
// poller on an event, Close, the poller's shutdown) runs it, and fn starts
// the next reader. So park returns nil whenever fn is sure to run, even if
// the registration failed because Close took fn first: the caller must
// then stop reading. It returns an error only when it took fn back itself
// and nothing will run it; the caller still owns the connection.
func (p *Poller) park(cr *connReader, fn func()) error {
	if cr.raw == nil {
		return ErrNotPollable
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrNotPollable
	}
	p.next++
	token := p.next
	p.parked[token] = fn
	// Stored before the registration: the event may fire, and the reader
	// it starts park again, before EpollCtl even returns here. From here
	// on this reader touches cr only to take the token back.
	cr.parkedToken.Store(token)
	p.mu.Unlock()
	if p.registering != nil {
		p.registering()
	}

	// MOD first: a connection parked before is still in the epoll set,
	// its one-shot registration disarmed. Which one it is cannot be
	// remembered in cr: the reader that would write it down has handed
	// the connection on by the time EpollCtl returns.
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT}
	setToken(&ev, token)
	var ctlErr error
	err := cr.raw.Control(func(fd uintptr) {
		ctlErr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev)
		if errors.Is(ctlErr, syscall.ENOENT) {
			ctlErr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
		}
	})
	if err == nil {
		err = ctlErr
	}
	if err == nil {
		if p.registered != nil {
			p.registered()
		}
		return nil
	}
	p.mu.Lock()
	_, mine := p.parked[token]
	delete(p.parked, token)
	p.mu.Unlock()
	if !mine {
		// Close (or the poller's shutdown) took fn while the
		// registration failed (Close made it fail): fn runs, and the
		// reader it starts owns the connection now.
		return nil
	}
	cr.parkedToken.CompareAndSwap(token, 0)
	return err
}
