package transport

import (
	"context"
	"errors"
	"time"

	"github.com/chanio/chanio/actor"
	"github.com/chanio/chanio/codec"
)

// Conn is one transport of an Engine.IO endpoint (a server's session or a
// client): what its packets go out on. The endpoint holds one Conn, and
// another while it upgrades to it, and never asks which transport it
// holds: what differs between transports is behind these four methods.
// Every method is called by the endpoint's actor, one call at a time,
// except CloseAs([CloseAbort]), which may come from any goroutine.
//
// What a transport reads it hands to a [Receiver]: a [Stream] through
// [Readers], a polling transport from its HTTP requests.
type Conn interface {
	// Name is the transport's name in the protocol: "polling",
	// "websocket".
	Name() string
	// Room says what a Write may carry now: nothing while the transport
	// waits for its peer to ask (no GET held, a POST in flight).
	Room() Room
	// Write sends items to the peer, in order, no more than Room allows.
	// A transport that writes in the background (a client's POST) reports
	// how it went to its Receiver: Ready once done, End if it failed.
	Write(items []Outgoing) error
	// CloseAs ends the transport, telling the peer how when the transport
	// can say it (a WebSocket close code, the packet a held GET gets).
	CloseAs(how Closing) error
}

// Room is what one [Conn.Write] may carry.
type Room struct {
	// Packets is how many packets: 0 none, negative any number.
	Packets int
	// Bytes, when positive, bounds the packets' [PayloadLen]s, summed;
	// one packet always fits.
	Bytes int64
}

// RoomAny is the Room of a transport that takes everything at once.
var RoomAny = Room{Packets: -1}

// PayloadLen is what p adds to a protocol 4 polling payload: its encoding
// (a binary message as 'b' and base64) and its separator. It is the
// measure of [Room].Bytes.
func PayloadLen(p codec.Packet) int64 {
	n := 1 + int64(len(p.Data))
	if p.Binary && p.Type == codec.Message {
		n = 1 + int64((len(p.Data)+2)/3*4)
	}
	return n + 1
}

// Closing says why a transport is closed, in the words of a WebSocket
// close code; each transport says it the way it can.
type Closing uint8

// The ways to close a transport.
const (
	// CloseNormal: the endpoint is done with it (WebSocket status 1000; a
	// held GET gets the close packet).
	CloseNormal Closing = iota
	// ClosePeerEnded: the peer ended the session with its close packet
	// (1000; a held GET gets a noop, as the reference answers it).
	ClosePeerEnded
	// CloseGoingAway: the endpoint drops it before its time: an upgrade
	// abandoned, a server shutting down, a ping timeout (1001).
	CloseGoingAway
	// CloseProtocolError: the peer broke the protocol (1002).
	CloseProtocolError
	// CloseBadData: the peer sent something that does not decode (1003).
	CloseBadData
	// CloseRefused: a transport the session does not take (a second
	// WebSocket for a session): a close frame without a status code, as
	// the reference server sends it.
	CloseRefused
	// CloseAbort: cut at once, telling the peer nothing. Safe from any
	// goroutine, to unblock a write to a peer that does not read.
	CloseAbort
)

// Lingerer is a [Conn] that can end gracefully: Linger tells the peer it
// is done and keeps reading until the peer answers, then reports the end
// to the [Receiver]; the caller bounds the wait, and cuts it with
// CloseAs. A client does this after its close packet, so that the server
// sees a clean close.
type Lingerer interface {
	Linger() error
}

// Receiver takes what transports read: the endpoint behind them. Each
// [Conn] calls Receive for every packet, in order, and End once, last.
type Receiver interface {
	// Receive takes one packet from c. It may wait while the endpoint is
	// behind (that is the backpressure on the peer); an error means the
	// endpoint takes nothing more, and c stops reading.
	Receive(c Conn, p codec.Packet) error
	// End says c will deliver nothing more, and why. It may wait as
	// Receive does, except with an err that wraps [actor.ErrStopped] (the
	// transport could not start a goroutine: everything is stopping),
	// when it must not.
	End(c Conn, err error)
	// Ready says a request c made is over. With reading, it was a read
	// (a long-poll GET) and every packet it brought has been handed to
	// Receive: the endpoint decides whether there is a next. Otherwise it
	// was a write (a POST), and c's Room has grown again.
	Ready(c Conn, reading bool)
	// Idle says c has gone quiet and holds no goroutine while it waits:
	// a time for the endpoint to let go of what it keeps for busy times.
	Idle(c Conn)
}

// Stream is a [Conn] that carries each packet as a message of its own
// over a connection that lasts (WebSocket), read by a goroutine of
// [Readers]. Accept and dial one with its [Kind].
type Stream interface {
	Conn
	// ReadPacket returns the next packet. Only the reading goroutine
	// calls it. An error ends the stream; the transport has told the peer
	// why, where it can.
	ReadPacket() (codec.Packet, error)
}

// parker is a [Stream] whose reader can let its goroutine go while the
// connection is quiet (a WebSocket on a descriptor).
type parker interface {
	WaitReadable(idle time.Duration) error
	StopIdleWait()
	Park(p *Poller, fn func()) error
}

// Readers runs the goroutines that read streams. A reader parks a quiet
// connection on Poller and lets its goroutine go; the poller starts the
// next reader when data comes. One Readers serves any number of streams.
type Readers struct {
	// Group owns the reading goroutines; Stop it (and close the streams)
	// to end them.
	Group *actor.Group
	// Poller parks quiet connections. Nil means readers never park: each
	// waits on its goroutine.
	Poller *Poller
	// Quiet is how long a connection must be quiet before its reader
	// parks it.
	Quiet time.Duration
}

// Read starts reading s into r on a goroutine of the group. It fails,
// starting nothing, once the group is sealed.
func (rs *Readers) Read(s Stream, r Receiver) error {
	return rs.Group.Go("reader", func(context.Context) error {
		rs.loop(s, r)
		return nil
	})
}

// loop reads s into r until s ends or r refuses, or until s goes quiet and
// is parked, when the poller will start the next reader on its next data.
// r hears of the end exactly once, whichever way reading stops.
func (rs *Readers) loop(s Stream, r Receiver) {
	pk, parking := s.(parker)
	parking = parking && rs.Poller != nil
	for {
		if parking {
			err := pk.WaitReadable(rs.Quiet)
			if errors.Is(err, ErrIdle) {
				perr := pk.Park(rs.Poller, func() { rs.resume(s, r) })
				if perr == nil {
					// The next reader is the poller's to start (it may
					// run already): this one must not touch s again.
					r.Idle(s)
					return
				}
				if errors.Is(perr, ErrNotPollable) {
					// No descriptor to park (TLS), or the poller is
					// gone: this reader stays, blocked in its reads,
					// rather than waking every Quiet to try again.
					parking = false
					pk.StopIdleWait()
				}
				continue
			}
			if err != nil {
				r.End(s, err)
				return
			}
		}
		p, err := s.ReadPacket()
		if err != nil {
			r.End(s, err)
			return
		}
		if err := r.Receive(s, p); err != nil {
			// The endpoint has ended; it closed (or closes) s.
			r.End(s, err)
			return
		}
	}
}

// TryReceiver is a [Receiver] that can also take a packet without
// waiting. A parked WebSocket's messages are read on the poller's
// goroutine and handed over this way, with no reading goroutine at all.
type TryReceiver interface {
	Receiver
	// TryReceive queues p from c if that needs no wait: queued false with
	// a nil error means the endpoint is behind, and p is still the
	// caller's to hand to Receive. An error means, as from Receive, that
	// the endpoint takes nothing more.
	TryReceive(c Conn, p codec.Packet) (queued bool, err error)
}

// parkedReader is a [Stream] whose parked connection can be read on the
// poller's goroutine (a WebSocket).
type parkedReader interface {
	readParked() (codec.Packet, parkedRead)
}

// maxParkedPackets bounds what one readable event of a parked connection
// delivers on the poller's goroutine before a reading goroutine takes
// over: a connection that keeps the poller busy is not a quiet one.
const maxParkedPackets = 16

// resume runs on the poller when a parked stream has data, has hung up or
// was closed. What a quiet connection sends now and then (whole short
// messages) it delivers there and then and parks the connection again, so
// that such a connection costs no goroutine, no timer and no stack even
// while it talks: the poller's one goroutine reads it. Anything else
// starts the stream's next reader, which goes on from what was read. Once
// the group refuses (everything is stopping) it ends the stream instead.
func (rs *Readers) resume(s Stream, r Receiver) {
	pending, next := rs.readParked(s, r)
	if next == resumedParked {
		return
	}
	err := rs.Group.Go("reader", func(context.Context) error {
		if next == resumedHeld {
			if err := r.Receive(s, pending); err != nil {
				r.End(s, err)
				return nil
			}
		}
		rs.loop(s, r)
		return nil
	})
	if err != nil {
		_ = s.CloseAs(CloseAbort)
		r.End(s, err)
	}
}

// resumed says how [Readers.readParked] left a stream.
type resumed uint8

const (
	resumedParked resumed = iota // parked again, or ended: nothing to start
	resumedHeld                  // a reader must start with Receive of the packet returned
	resumedReader                // a reader must go on from what was read
)

// readParked delivers, on the poller's goroutine, the whole short
// messages a parked stream has received, and parks it again once nothing
// more has arrived.
func (rs *Readers) readParked(s Stream, r Receiver) (codec.Packet, resumed) {
	pr, quick := s.(parkedReader)
	tr, takes := r.(TryReceiver)
	pk, parks := s.(parker)
	if !quick || !takes || !parks {
		return codec.Packet{}, resumedReader
	}
	for i := range maxParkedPackets {
		p, what := pr.readParked()
		switch what {
		case parkedSlow:
			return p, resumedReader
		case parkedNothing:
			if pk.Park(rs.Poller, func() { rs.resume(s, r) }) != nil {
				return p, resumedReader // the reader meets why, or waits in reads
			}
			if i > 0 {
				// Quiet again, as when a reader parks: the endpoint
				// lets go of what it grew for these packets once it
				// has handled them.
				r.Idle(s)
			}
			return p, resumedParked
		}
		queued, err := tr.TryReceive(s, p)
		if err != nil {
			// The endpoint has ended; it closed (or closes) s.
			r.End(s, err)
			return p, resumedParked
		}
		if !queued {
			return p, resumedHeld
		}
	}
	return codec.Packet{}, resumedReader
}
