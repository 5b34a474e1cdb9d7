package cluster

import (
	"bytes"
	"testing"
)

// FuzzWire decodes arbitrary bytes as each kind of cluster message: no
// input may panic, and whatever decodes encodes back to the same bytes.
func FuzzWire(f *testing.F) {
	f.Add(appendHeartbeat(nil, heartbeat{kind: beatAlive, id: "node-1", incarnation: 42}))
	f.Add(appendHeartbeat(nil, heartbeat{kind: beatBye, id: "b", incarnation: 1 << 60}))
	f.Add(appendBroadcast(nil, broadcast{from: "a", binary: true, data: []byte{0, 1, 2}}))
	f.Add(appendRPC(nil, rpc{op: opSend, sid: "AAAAAAAAAAAAAAAAAAAA.a", data: []byte("hi")}))
	f.Add(appendRPC(nil, rpc{op: opDisconnect, sid: "x.b"}))
	f.Add(appendRPC(nil, rpc{op: opOpen, dialer: "c", tunnel: 7}))
	f.Add(appendRPC(nil, rpc{op: opPing}))
	f.Add(append(appendFrameHeader(nil, frame{kind: frameData, fromDialer: true, from: "a", tunnel: 9, seq: 1}), "GET / HTTP/1.1\r\n"...))
	f.Add(appendFrameHeader(nil, frame{kind: frameAck, from: "b", tunnel: 9, seq: 65536}))
	f.Add(appendFrameHeader(nil, frame{kind: frameClose, from: "b", tunnel: 9}))
	f.Add([]byte{})
	f.Add([]byte{'h', 200})
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, err := decodeHeartbeat(b); err == nil {
			if got := appendHeartbeat(nil, h); !bytes.Equal(got, b) {
				t.Errorf("heartbeat %q re-encodes as %q", b, got)
			}
		}
		if m, err := decodeBroadcast(b); err == nil {
			if got := appendBroadcast(nil, m); !bytes.Equal(got, b) {
				t.Errorf("broadcast %q re-encodes as %q", b, got)
			}
		}
		if r, err := decodeRPC(b); err == nil {
			if got := appendRPC(nil, r); !bytes.Equal(got, b) {
				t.Errorf("rpc %q re-encodes as %q", b, got)
			}
		}
		if fr, err := decodeFrame(b); err == nil {
			if got := append(appendFrameHeader(nil, fr), fr.data...); !bytes.Equal(got, b) {
				t.Errorf("frame %q re-encodes as %q", b, got)
			}
		}
		if owner, ok := ownerOf(string(b)); ok && !validNodeID(owner) {
			t.Errorf("ownerOf(%q) = %q, not a node id", b, owner)
		}
	})
}
