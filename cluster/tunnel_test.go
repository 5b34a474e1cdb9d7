package cluster

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/chanio/chanio/actor"
	"github.com/nats-io/nats.go"
	"golang.org/x/net/nettest"
)

// bareNodes returns two nodes, a and b, that have their tunnel machinery
// and nothing else (no eio.Server, no HTTP), on one NATS server.
func bareNodes(t testing.TB, window int) (a, b *Node) {
	t.Helper()
	ns := startNATS(t)
	mk := func(id string) *Node {
		nc := connectNATS(t, ns, id)
		o, err := (&Options{NodeID: id, TunnelWindow: window, Logger: testLogger()}).withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		n := &Node{opts: o, log: o.Logger, nc: nc, members: newMembers(o.NodeTimeout),
			listener: newTunnelListener(id), group: actor.NewGroup(nil), calls: actor.NewGroup(nil)}
		n.nextTunnel.Store(randomUint64() >> 1)
		for subj, fn := range map[string]func(*nats.Msg){o.nodeSubject(id, "rpc"): n.onRPC, o.nodeSubject(id, "t"): n.onFrame} {
			if err := n.subscribe(subj, fn); err != nil {
				t.Fatal(err)
			}
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			for _, s := range n.subs {
				_ = s.Unsubscribe()
			}
			n.calls.Seal()
			<-n.calls.Done()
			_ = n.listener.Close()
			for _, tun := range n.tunnels.with("") {
				tun.Close()
			}
			n.group.Stop()
			n.group.Wait()
		})
		return n
	}
	return mk("a"), mk("b")
}

// pipe dials a tunnel from a to b and returns both ends.
func pipe(t testing.TB, a, b *Node) (dialer, owner net.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c1, err := a.dialTunnel(ctx, "tcp", b.ID()+":80")
	if err != nil {
		t.Fatal(err)
	}
	c2, err := b.listener.Accept()
	if err != nil {
		t.Fatal(err)
	}
	return c1, c2
}

// TestTunnelConn runs the x/net conformance tests for net.Conn on a
// tunnel: reads and writes, deadlines in the past, present and future,
// Close unblocking everything, concurrent use.
func TestTunnelConn(t *testing.T) {
	a, b := bareNodes(t, 0)
	nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
		c1, c2 := pipe(t, a, b)
		return c1, c2, func() { c1.Close(); c2.Close() }, nil
	})
	waitFor(t, 2*time.Second, "every tunnel to be gone", func() bool {
		return a.tunnels.len() == 0 && b.tunnels.len() == 0
	})
}

// TestTunnelStream: megabytes cross a tunnel both ways at once, through a
// small window, intact and in order.
func TestTunnelStream(t *testing.T) {
	a, b := bareNodes(t, minTunnelWindow)
	c1, c2 := pipe(t, a, b)
	defer c1.Close()
	defer c2.Close()
	const size = 4 << 20
	send := func(c net.Conn, seed uint64) error {
		r := rand.New(rand.NewPCG(seed, seed))
		buf := make([]byte, 50_000)
		for sent := 0; sent < size; {
			n := min(1+r.IntN(len(buf)), size-sent)
			for i := range n {
				buf[i] = byte(sent + i)
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return err
			}
			sent += n
		}
		return nil
	}
	recv := func(c net.Conn) error {
		buf := make([]byte, 7000)
		for got := 0; got < size; {
			n, err := c.Read(buf)
			for i := range n {
				if buf[i] != byte(got+i) {
					return errors.New("byte out of order")
				}
			}
			got += n
			if err != nil {
				return err
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for _, f := range []func() error{
		func() error { return send(c1, 1) }, func() error { return recv(c2) },
		func() error { return send(c2, 2) }, func() error { return recv(c1) },
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- f()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestTunnelClose: a closed end's peer reads what was sent, then EOF, and
// can no longer write; the registries forget both ends.
func TestTunnelClose(t *testing.T) {
	a, b := bareNodes(t, 0)
	c1, c2 := pipe(t, a, b)
	if _, err := c1.Write([]byte("last words")); err != nil {
		t.Fatal(err)
	}
	c1.Close()
	got, err := io.ReadAll(c2)
	if err != nil || string(got) != "last words" {
		t.Fatalf("peer read %q, %v", got, err)
	}
	if _, err := c2.Write([]byte("x")); err == nil {
		t.Error("write to a closed peer succeeded")
	}
	c2.Close()
	if a.tunnels.len() != 0 || b.tunnels.len() != 0 {
		t.Errorf("tunnels left: a %d, b %d", a.tunnels.len(), b.tunnels.len())
	}
}

// TestTunnelBrokenPeer: a peer that breaks the protocol (a lost frame,
// more than the window, an ack of bytes never sent, frames for a tunnel
// that is gone) gets its tunnel cut, never a corrupt stream.
func TestTunnelBrokenPeer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		frames func(tun *tunnel) []frame
		want   error
	}{
		{"lost frame", func(tun *tunnel) []frame {
			return []frame{{kind: frameData, seq: 1, data: []byte("a")}, {kind: frameData, seq: 3, data: []byte("c")}}
		}, errTunnelGap},
		{"past the window", func(tun *tunnel) []frame {
			return []frame{{kind: frameData, seq: 1, data: make([]byte, tun.window+1)}}
		}, errTunnelOverflow},
		{"ack of nothing", func(tun *tunnel) []frame {
			return []frame{{kind: frameAck, seq: 10}}
		}, errTunnelBadAck},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := bareNodes(t, minTunnelWindow)
			c1, c2 := pipe(t, a, b)
			defer c1.Close()
			defer c2.Close()
			owner := c2.(*tunnel)
			for _, f := range tc.frames(owner) {
				f.from, f.fromDialer, f.tunnel = "a", true, owner.key.id
				msg := append(appendFrameHeader(nil, f), f.data...)
				if err := a.nc.Publish(b.opts.nodeSubject("b", "t"), msg); err != nil {
					t.Fatal(err)
				}
			}
			_ = c2.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 10)
			var err error
			for err == nil {
				_, err = c2.Read(buf)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("read error %v, want %v", err, tc.want)
			}
			// The dialer hears of it: its reads end.
			_ = c1.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := c1.Read(buf); !errors.Is(err, io.EOF) {
				t.Errorf("dialer read %v, want EOF", err)
			}
		})
	}
	t.Run("unknown tunnel", func(t *testing.T) {
		a, b := bareNodes(t, 0)
		c1, c2 := pipe(t, a, b)
		defer c1.Close()
		// b forgets its end without telling a; a's next frame is answered
		// with a close.
		b.tunnels.remove(c2.(*tunnel))
		if _, err := c1.Write([]byte("anyone?")); err != nil {
			t.Fatal(err)
		}
		_ = c1.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c1.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Errorf("read %v, want EOF", err)
		}
	})
}

// TestTunnelPeerGone: when a node takes the other for dead, both ends
// fail at once, and dialing a node nobody serves fails at once.
func TestTunnelPeerGone(t *testing.T) {
	a, b := bareNodes(t, 0)
	c1, c2 := pipe(t, a, b)
	defer c2.Close()
	a.peerGone("b")
	if _, err := c1.Read(make([]byte, 1)); !errors.Is(err, errPeerDead) {
		t.Errorf("dialer read %v, want errPeerDead", err)
	}
	_ = c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c2.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("owner read %v, want EOF", err)
	}
	start := time.Now()
	if _, err := a.dialTunnel(context.Background(), "tcp", "nobody:80"); !errors.Is(err, errOwnerGone) {
		t.Errorf("dial to nobody: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("dial to nobody took %v", d)
	}
	a.members.seen("b", 1, time.Now().Add(-time.Hour))
	if _, err := a.dialTunnel(context.Background(), "tcp", "b:80"); !errors.Is(err, errOwnerGone) {
		t.Errorf("dial to a dead node: %v", err)
	}
}

// TestTunnelWriteWaitsForReader: a writer whose peer does not read stops
// at the window, and its deadline ends the wait.
func TestTunnelWriteWaitsForReader(t *testing.T) {
	a, b := bareNodes(t, minTunnelWindow)
	c1, c2 := pipe(t, a, b)
	defer c1.Close()
	defer c2.Close()
	_ = c1.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	n, err := c1.Write(make([]byte, 10*minTunnelWindow))
	if n != minTunnelWindow {
		t.Errorf("wrote %d before the reader fell behind, want the window %d", n, minTunnelWindow)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("write error %v, want a timeout", err)
	}
	got, err := io.ReadFull(c2, make([]byte, minTunnelWindow))
	if err != nil || got != minTunnelWindow {
		t.Errorf("read %d, %v", got, err)
	}
	// Credit is back: writing goes on.
	_ = c1.SetWriteDeadline(time.Now().Add(5 * time.Second))
	go func() { _, _ = io.Copy(io.Discard, c2) }()
	if _, err := c1.Write(bytes.Repeat([]byte("x"), 3*minTunnelWindow)); err != nil {
		t.Errorf("write after the reader caught up: %v", err)
	}
}
