package transport

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// trickle gives at most step bytes a call, and errStall once n are out.
type trickle struct {
	src  []byte
	step int
}

var errStall = errors.New("stalled")

func (t *trickle) Read(p []byte) (int, error) {
	if len(t.src) == 0 {
		return 0, errStall
	}
	n := copy(p[:min(len(p), t.step)], t.src)
	t.src = t.src[n:]
	return n, nil
}

// TestRecvBufferFollowsBytes: however large the length declared, the
// buffer holds at most twice the bytes received, or 4 KiB; once what has
// arrived reaches half the declared end it grows to that end exactly, and
// the caller gets it without a copy.
func TestRecvBufferFollowsBytes(t *testing.T) {
	const declared = 1 << 20
	data := bytes.Repeat([]byte("x"), declared)
	for _, sent := range []int{0, 1, 100, 4096, 5000, 40 << 10, 300 << 10, declared/2 + 1} {
		m := recvBuffer{limit: declared}
		err := m.readN(&trickle{src: data[:sent], step: 1000}, declared, true)
		if !errors.Is(err, errStall) {
			t.Fatalf("sent %d: %v", sent, err)
		}
		if held, bound := cap(m.b), max(initialBuffer, 2*sent); held > bound {
			t.Errorf("sent %d of %d: holds %d bytes, over %d", sent, declared, held, bound)
		}
		m.release()
	}
	m := recvBuffer{limit: declared}
	if err := m.readN(&trickle{src: data, step: 64 << 10}, declared, true); err != nil {
		t.Fatal(err)
	}
	if cap(m.b) != declared || m.pooled != nil {
		t.Fatalf("complete message in a buffer of %d (pooled %v), want exactly %d", cap(m.b), m.pooled != nil, declared)
	}
	p := &m.b[0]
	if got := m.take(); &got[0] != p || len(got) != declared {
		t.Fatal("an exact heap buffer was copied to the caller")
	}
}

// xs reads as endless 'x's.
type xs struct{}

func (xs) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// TestRecvBufferTinyFragments: a message sent a byte per frame grows by
// doubling, not by a copy per frame (which would make a megabyte of
// one-byte fragments cost a terabyte of copying).
func TestRecvBufferTinyFragments(t *testing.T) {
	const frames = 100_000
	m := recvBuffer{limit: 1 << 20}
	allocs := testing.AllocsPerRun(1, func() {
		m.release()
		for i := 0; i < frames; i++ {
			if err := m.readN(xs{}, 1, false); err != nil {
				t.Fatal(err)
			}
		}
	})
	if len(m.b) != frames {
		t.Fatalf("collected %d bytes, want %d", len(m.b), frames)
	}
	if allocs > 40 {
		t.Fatalf("%v allocations for %d one-byte frames: not growing by doubling", allocs, frames)
	}
	got := m.take()
	if len(got) != frames || cap(got) != frames {
		t.Fatalf("taken: len %d cap %d, want an exact copy", len(got), cap(got))
	}
}

// TestRecvBufferLimit: the buffer never grows past its limit, and a
// budget is given back in full on release.
func TestRecvBufferLimit(t *testing.T) {
	b := NewReadBudget(1 << 20)
	m := recvBuffer{limit: 10_000, budget: b}
	if err := m.readN(bytes.NewReader(make([]byte, 10_000)), 10_000, false); err != nil {
		t.Fatal(err)
	}
	if cap(m.b) > 10_000 && m.pooled == nil {
		t.Fatalf("heap buffer of %d past the limit", cap(m.b))
	}
	if b.InUse() != int64(cap(m.b)) {
		t.Fatalf("budget in use %d, buffer %d", b.InUse(), cap(m.b))
	}
	m.release()
	if b.InUse() != 0 {
		t.Fatalf("budget in use %d after release", b.InUse())
	}
	m = recvBuffer{limit: 1 << 20}
	if err := m.readN(bytes.NewReader(make([]byte, 10)), 20, true); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short read: %v, want io.ErrUnexpectedEOF", err)
	}
	m.release()
}
