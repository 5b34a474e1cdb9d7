package sio

import "time"

// What the tests of package sio_test read of the server's inner state.
// Each reads on the server's loop, which owns it.

// onLoop runs f on s's loop and returns its result.
func onLoop[T any](s *Server, f func() T) T {
	ch := make(chan T, 1)
	s.post(func() { ch <- f() })
	return <-ch
}

// ConnectsWaiting returns how many connections the server holds for its
// connect timeout.
func ConnectsWaiting(s *Server) int {
	return onLoop(s, func() int {
		n := 0
		for c := s.waiting.head; c != nil; c = c.next {
			n++
		}
		return n
	})
}

// AwaitingAttachments returns how many attachments the decoder of the
// socket's connection waits for.
func AwaitingAttachments(sock *Socket) int {
	return onLoop(sock.nsp.srv, func() int { return sock.conn.dec.Awaiting() })
}

// SetAcksAwaitedHook has f run in every Broadcast.EmitWithAck of s once
// the sockets have their waiters, before the event is written to them.
// Call it before the first emit.
func SetAcksAwaitedHook(s *Server, f func()) { s.testAcksAwaited = f }

// SetBroadcastEncodedHook has f run in every broadcast of s once its
// event is encoded, before it is sent. Call it before the first emit.
func SetBroadcastEncodedHook(s *Server, f func()) { s.testBroadcastEncoded = f }

// SetClusterAckWait shortens how long the other nodes forward their
// sockets' answers to a broadcast of s (wait), and the time the last may
// take to arrive (grace). Call it before the first emit.
func SetClusterAckWait(s *Server, wait, grace time.Duration) {
	a := s.remote.(*clusterAdapter)
	a.ackWait, a.ackGrace = wait, grace
}
