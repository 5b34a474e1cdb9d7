package eio

import (
	"testing"

	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/transport"
)

// TestCollectHoldsCloseWhenPollFull pins a deliberate change from the
// code before the one protocol core: a long-poll answer already holding
// MaxPollPackets packets does not take the close packet on top (the old
// server appended it always); it goes in the next GET. python-engineio
// refuses a payload of more than 16 packets, so a bound is a bound.
func TestCollectHoldsCloseWhenPollFull(t *testing.T) {
	const limit = 4
	for _, queued := range []int{limit - 1, limit, limit + 1} {
		c := &Client{} // a side whose counters are no-ops
		c.e.init(c, &c.env, codec.V4, 1<<20, 1<<20)
		for range queued {
			if err := c.e.out.TrySend(transport.Outgoing{Packet: codec.Packet{Type: codec.Message, Data: []byte("m")}}); err != nil {
				t.Fatal(err)
			}
		}
		c.e.sendClose = true
		var got []codec.Type
		for answer := 0; ; answer++ {
			if answer > 3 {
				t.Fatalf("queued %d: no close packet after %d answers: %v", queued, answer, got)
			}
			b, closing := c.e.collect(transport.Room{Packets: limit})
			if len(b) > limit {
				t.Fatalf("queued %d: answer %d holds %d packets, over the bound %d", queued, answer, len(b), limit)
			}
			for _, o := range b {
				got = append(got, o.Packet.Type)
			}
			c.e.release(b)
			if closing {
				break
			}
		}
		want := make([]codec.Type, queued+1)
		for i := range queued {
			want[i] = codec.Message
		}
		want[queued] = codec.Close
		if len(got) != len(want) {
			t.Fatalf("queued %d: packets %v, want %v", queued, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("queued %d: packets %v, want %v (the close packet last)", queued, got, want)
			}
		}
	}
}
