package sio

import (
	"errors"
	"sync"
	"time"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/sio/wire"
)

var (
	errNotConnected = errors.New("sio: packet for a namespace the client has not joined")
	errTwice        = errors.New("sio: CONNECT for a namespace the client is already in")
)

// conn is one Engine.IO connection: the sockets it has in each namespace
// and the decoder of its packets. The loop owns every field but wmu, sid,
// srv and hs, which never change.
type conn struct {
	sid string
	srv *Server
	hs  *Handshake // without Auth, shared by the sockets

	// wmu keeps a packet's text and attachments together: a packet with
	// attachments is written under wmu, every other under its read lock.
	wmu sync.RWMutex

	// Owned by the loop.
	dec      wire.Decoder
	sockets  []*Socket // one per namespace, pending ones included
	deadline time.Time // for ConnectTimeout
	forced   Reason    // why the server ended the connection, if it did
	joined   bool      // a socket has connected at least once
	broken   bool      // the client broke the protocol: ignore what follows
	ended    bool
}

func newConn(s *Server, ev eio.Event) *conn {
	c := &conn{sid: ev.SID, srv: s}
	c.dec.Limits = wire.Limits{MaxAttachments: s.opts.MaxAttachments, MaxBytes: s.opts.MaxPacketBytes}
	hs := &Handshake{Time: time.Now()}
	if r := ev.Request; r != nil {
		hs.Header = r.Header
		hs.URL = r.URL
		hs.Address = r.RemoteAddr
		hs.Secure = r.TLS != nil
		hs.XDomain = r.Header.Get("Origin") != ""
	}
	c.hs = hs
	return c
}

func (c *conn) socket(nsp string) *Socket {
	for _, s := range c.sockets {
		if s.nsp.name == nsp {
			return s
		}
	}
	return nil
}

func (c *conn) forget(sock *Socket) {
	for i, s := range c.sockets {
		if s == sock {
			c.sockets[i] = c.sockets[len(c.sockets)-1]
			c.sockets[len(c.sockets)-1] = nil
			c.sockets = c.sockets[:len(c.sockets)-1]
			return
		}
	}
}

// end makes every socket of the connection leave: the connection is gone.
func (c *conn) end(reason Reason, err error) {
	if c.ended {
		return
	}
	c.ended = true
	for len(c.sockets) > 0 {
		sock := c.sockets[len(c.sockets)-1]
		c.forget(sock)
		if sock.state.Swap(stateClosed) == statePending {
			if sock.cancel != nil {
				sock.cancel() // its connect job sees the end and drops it
			}
			continue
		}
		c.srv.removeSocket(sock, reason, err)
	}
}

// write sends a packet's text and then its attachments, which no other
// packet comes between. A volatile packet is dropped, and nil returned,
// when the connection has messages waiting.
func (c *conn) write(text []byte, atts [][]byte, volatile bool) error {
	eng := c.srv.engine
	if len(atts) == 0 {
		c.wmu.RLock()
		defer c.wmu.RUnlock()
		if volatile && !c.idle() {
			return nil
		}
		return sendErr(eng.Send(c.sid, text))
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if volatile && !c.idle() {
		return nil
	}
	if err := eng.Send(c.sid, text); err != nil {
		return sendErr(err)
	}
	for _, a := range atts {
		if err := eng.SendBinary(c.sid, a); err != nil {
			return sendErr(err)
		}
	}
	return nil
}

func (c *conn) idle() bool {
	n, err := c.srv.engine.Queued(c.sid)
	return err == nil && n == 0
}

// sendErr maps the Engine.IO errors of a send to sio's.
func sendErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, eio.ErrUnknownSession), errors.Is(err, eio.ErrSessionClosed):
		return ErrDisconnected
	}
	return err
}

// writePacket encodes p and writes it.
func (c *conn) writePacket(p *wire.Packet) error {
	text, err := wire.Append(make([]byte, 0, wire.Len(p)), p)
	if err != nil {
		return err
	}
	return c.write(text, p.Attachments, false)
}
