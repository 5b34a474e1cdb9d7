package sio

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
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
// and the decoder of its packets. The loop owns every field but wmu and
// those set by newConn, which never change.
type conn struct {
	sid string
	srv *Server

	// The handshake, kept small: a server holds one per client for the
	// connection's life, and http.Header and url.URL would be most of a
	// quiet connection's memory. See handshake.
	header string // "Name: value\n" lines, the WebSocket handshake's own left out
	uri    string // the request URI
	addr   string
	at     int64 // Unix nanoseconds
	secure bool
	xdom   bool
	// v3 is a client of Engine.IO protocol 3, Socket.IO 2's (with
	// eio.Options.AllowEIO3): its handshake asked for EIO=3.
	v3 bool

	// wmu keeps a packet's text and attachments together: a packet with
	// attachments is written under wmu, every other under its read lock.
	wmu sync.RWMutex

	// Owned by the loop.
	dec     wire.Decoder
	sockets []*Socket // one per namespace, pending ones included
	forced  Reason    // why the server ended the connection, if it did
	broken  bool      // the client broke the protocol: ignore what follows
	ended   bool
	// Its place in Server.waiting while it is there.
	prev, next *conn
	listed     bool
}

// connList is a list of connections in the order they came, linked
// through the connections themselves: a connection leaves it at once,
// wherever it is, when it joins a namespace or ends.
type connList struct{ head, tail *conn }

// push adds c at the end and reports whether the list was empty.
func (l *connList) push(c *conn) bool {
	c.listed, c.prev, c.next = true, l.tail, nil
	if l.tail != nil {
		l.tail.next = c
	} else {
		l.head = c
	}
	l.tail = c
	return l.head == c
}

// remove takes c out of the list, if it is there.
func (l *connList) remove(c *conn) {
	if !c.listed {
		return
	}
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		l.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		l.tail = c.prev
	}
	c.listed, c.prev, c.next = false, nil, nil
}

func newConn(s *Server, ev eio.Event) *conn {
	c := &conn{sid: ev.SID, srv: s, at: time.Now().UnixNano()}
	c.dec.Limits = wire.Limits{MaxAttachments: s.opts.MaxAttachments, MaxBytes: s.opts.MaxPacketBytes}
	if r := ev.Request; r != nil {
		c.header = packHeader(r.Header)
		c.uri = r.RequestURI
		if c.uri == "" && r.URL != nil {
			c.uri = r.URL.RequestURI()
		}
		c.addr = r.RemoteAddr
		c.secure = r.TLS != nil
		c.xdom = r.Header.Get("Origin") != ""
		c.v3 = r.URL != nil && r.URL.Query().Get("EIO") == "3"
	}
	return c
}

// v3Namespace splits the namespace of a protocol 3 client's CONNECT,
// "/admin?token=abc", into the namespace and its query, which Socket.IO 2
// clients send instead of an auth payload: the reference's
// _parseNamespace. The auth is the query as a JSON object of strings (the
// last value of a name given twice), nil when there is none.
func v3Namespace(nsp string) (string, json.RawMessage) {
	nsp, _, _ = strings.Cut(nsp, "#")
	name, query, _ := strings.Cut(nsp, "?")
	vals, _ := url.ParseQuery(query) // what parses of a query with errors
	if len(vals) == 0 {
		return name, nil
	}
	obj := make(map[string]string, len(vals))
	for k, v := range vals {
		obj[k] = v[len(v)-1]
	}
	auth, _ := json.Marshal(obj)
	return name, auth
}

// deadline is when the connection must have joined a namespace.
func (c *conn) deadline() time.Time {
	return time.Unix(0, c.at).Add(c.srv.opts.ConnectTimeout)
}

// handshake returns the connection's handshake, without an auth payload.
func (c *conn) handshake() Handshake {
	h := Handshake{Header: unpackHeader(c.header), Address: c.addr, Time: time.Unix(0, c.at), Secure: c.secure, XDomain: c.xdom}
	if c.uri != "" {
		h.URL, _ = url.ParseRequestURI(c.uri)
	}
	return h
}

// packHeader writes h as "Name: value" lines, without the headers of the
// WebSocket handshake itself (Connection, Upgrade, Sec-WebSocket-*), which
// say nothing about the client once it is connected.
func packHeader(h http.Header) string {
	var b strings.Builder
	for name, values := range h {
		switch {
		case name == "Connection", name == "Upgrade", strings.HasPrefix(name, "Sec-Websocket-"):
			continue
		}
		for _, v := range values {
			b.WriteString(name)
			b.WriteString(": ")
			b.WriteString(v)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func unpackHeader(s string) http.Header {
	h := make(http.Header)
	for line := range strings.Lines(s) {
		name, value, _ := strings.Cut(strings.TrimSuffix(line, "\n"), ": ")
		h[name] = append(h[name], value)
	}
	return h
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
	// The application may keep the connection's sockets, and so the
	// connection, for as long as it likes; the server lets go of it, and
	// of the half of a packet it may have sent (up to MaxPacketBytes).
	c.srv.waiting.remove(c)
	c.dec.Reset()
	for len(c.sockets) > 0 {
		sock := c.sockets[len(c.sockets)-1]
		c.forget(sock)
		switch sock.state.Swap(stateClosed) {
		case statePending:
			sock.nsp.cleanup(sock) // the rooms its middleware joined
			if sock.cancel != nil {
				sock.cancel() // its connect job sees the end and drops it
			}
			continue
		case stateClosed:
			// Disconnect(false) has closed it and posted its removal,
			// which gives the reason.
			continue
		}
		c.srv.removeSocket(sock, reason, err)
	}
}

// write sends a packet's text and then its attachments, which no other
// packet comes between. A volatile packet is dropped, and nil returned,
// when the connection has messages waiting.
func (c *conn) write(text []byte, atts [][]byte, volatile bool) error {
	return c.send(&outgoing{text: text, atts: atts}, volatile)
}

// outgoing is a packet on its way to a connection: its text and
// attachments as bytes, or as messages the Engine.IO server prepared once
// for every connection a broadcast reaches.
type outgoing struct {
	text  []byte
	atts  [][]byte
	ptext *eio.Prepared
	patts []*eio.Prepared
}

// outgoingFor returns pk as an outgoing packet for many connections:
// encoded for Engine.IO once, so that every connection's queue holds the
// same bytes (see eio.Server.Prepare), or as bytes when the engine refuses
// its text (each write then fails as it would).
func outgoingFor(eng *eio.Server, pk packet) *outgoing {
	text, err := eng.Prepare(pk.text)
	if err != nil {
		return &outgoing{text: pk.text, atts: pk.atts}
	}
	m := &outgoing{ptext: text, patts: make([]*eio.Prepared, len(pk.atts))}
	for i, a := range pk.atts {
		m.patts[i] = eng.PrepareBinary(a)
	}
	return m
}

// send is write for either form of an outgoing packet.
func (c *conn) send(m *outgoing, volatile bool) error {
	eng := c.srv.engine
	n := len(m.atts) + len(m.patts)
	if n == 0 {
		c.wmu.RLock()
		defer c.wmu.RUnlock()
		if volatile && !c.idle() {
			return nil
		}
		return sendErr(m.sendText(eng, c.sid))
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if volatile && !c.idle() {
		return nil
	}
	if err := m.sendText(eng, c.sid); err != nil {
		return sendErr(err)
	}
	for i := range n {
		var err error
		if m.patts != nil {
			err = eng.SendPrepared(c.sid, m.patts[i])
		} else {
			err = eng.SendBinary(c.sid, m.atts[i])
		}
		if err != nil {
			return sendErr(err)
		}
	}
	return nil
}

func (m *outgoing) sendText(eng *eio.Server, sid string) error {
	if m.ptext != nil {
		return eng.SendPrepared(sid, m.ptext)
	}
	return eng.Send(sid, m.text)
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
