package actor_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chanio/chanio/actor"
)

// patience bounds every wait in these tests. It is an upper bound only to
// turn a hang (a lost wake-up) into a failure; nothing is expected to take
// anywhere near this long.
const patience = 10 * time.Second

// settle is how long a test lets a goroutine run when checking that it is
// still blocked. A short value can only make such a check pass wrongly,
// never fail wrongly.
const settle = 20 * time.Millisecond

func patienceCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	t.Cleanup(cancel)
	return ctx
}

// wait returns the value from ch or fails the test after patience.
func wait[V any](t testing.TB, ch <-chan V, what string) V {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(patience):
		t.Fatalf("%s: nothing after %v", what, patience)
		panic("unreachable")
	}
}

// blocked fails the test if ch yields within settle.
func blocked[V any](t testing.TB, ch <-chan V, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s: returned %v, want it still blocked", what, v)
	case <-time.After(settle):
	}
}

// progress waits until n reaches at least want, for a test that varies
// how far concurrent work has gone before it acts. It spins: the counter
// moves by the microsecond.
func progress(t testing.TB, n *atomic.Int64, want int64) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for n.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("progress %d after %v, want %d", n.Load(), patience, want)
		}
		runtime.Gosched()
	}
}

// async runs f on a goroutine and returns a channel that yields its result.
func async(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

func drainAll[T any](t testing.TB, m *actor.Mailbox[T]) []T {
	t.Helper()
	got, err := m.Drain(nil)
	if err != nil && !errors.Is(err, actor.ErrClosed) {
		t.Fatalf("Drain: %v", err)
	}
	return got
}

func TestMailboxTrySendTryRecv(t *testing.T) {
	m := actor.NewMailbox[int](4)
	if v, ok := m.TryRecv(); ok {
		t.Fatalf("TryRecv on empty mailbox = %v, true", v)
	}
	for i := range 3 {
		if err := m.TrySend(i); err != nil {
			t.Fatalf("TrySend(%d) = %v", i, err)
		}
	}
	if got := m.Len(); got != 3 {
		t.Fatalf("Len = %d, want 3", got)
	}
	for i := range 3 {
		v, ok := m.TryRecv()
		if !ok || v != i {
			t.Fatalf("TryRecv = %v, %v; want %d, true", v, ok, i)
		}
	}
	if v, ok := m.TryRecv(); ok {
		t.Fatalf("TryRecv after emptying = %v, true", v)
	}
	if got := m.Len(); got != 0 {
		t.Fatalf("Len = %d, want 0", got)
	}
}

func TestMailboxCountBound(t *testing.T) {
	for _, tc := range []struct {
		name     string
		capacity int
		want     int // effective capacity
	}{
		{"one", 1, 1},
		{"zero means one", 0, 1},
		{"negative means one", -3, 1},
		{"small", 3, 3},
		{"grows past initial ring", 37, 37},
		{"large", 1000, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := actor.NewMailbox[int](tc.capacity)
			for i := range tc.want {
				if err := m.TrySend(i); err != nil {
					t.Fatalf("TrySend(%d) = %v", i, err)
				}
			}
			if err := m.TrySend(-1); !errors.Is(err, actor.ErrFull) {
				t.Fatalf("TrySend at bound = %v, want ErrFull", err)
			}
			if got := m.Len(); got != tc.want {
				t.Fatalf("Len = %d, want %d", got, tc.want)
			}
			// One receive makes room for exactly one more.
			if v, ok := m.TryRecv(); !ok || v != 0 {
				t.Fatalf("TryRecv = %v, %v; want 0, true", v, ok)
			}
			if err := m.TrySend(tc.want); err != nil {
				t.Fatalf("TrySend after TryRecv = %v", err)
			}
			if err := m.TrySend(-1); !errors.Is(err, actor.ErrFull) {
				t.Fatalf("TrySend at bound again = %v, want ErrFull", err)
			}
			got := drainAll(t, m)
			want := make([]int, 0, tc.want)
			for i := 1; i <= tc.want; i++ {
				want = append(want, i)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("Drain = %v, want %v", got, want)
			}
		})
	}
}

func TestMailboxByteBound(t *testing.T) {
	size := func(s string) int { return len(s) }
	type step struct {
		send    string // item to TrySend; "" means TryRecv one item
		wantErr error
	}
	big := strings.Repeat("x", 25)
	for _, tc := range []struct {
		name               string
		capacity, maxBytes int
		steps              []step
		wantBytes          int
	}{
		{
			name: "fills exactly", capacity: 10, maxBytes: 10,
			steps: []step{
				{"aaaaa", nil}, {"bbbbb", nil}, {"c", actor.ErrFull},
			},
			wantBytes: 10,
		},
		{
			name: "room after receive", capacity: 10, maxBytes: 10,
			steps: []step{
				{"aaaaa", nil}, {"bbbbbb", actor.ErrFull}, {"", nil}, {"bbbbbb", nil},
			},
			wantBytes: 6,
		},
		{
			name: "oversized into empty", capacity: 10, maxBytes: 10,
			steps: []step{
				{big, nil}, {"a", actor.ErrFull}, {"", nil}, {"a", nil},
			},
			wantBytes: 1,
		},
		{
			name: "oversized into non-empty", capacity: 10, maxBytes: 10,
			steps: []step{
				{"a", nil}, {big, actor.ErrFull}, {"", nil}, {big, nil}, {big, actor.ErrFull},
			},
			wantBytes: 25,
		},
		{
			name: "count bound before byte bound", capacity: 2, maxBytes: 100,
			steps: []step{
				{"a", nil}, {"b", nil}, {"c", actor.ErrFull},
			},
			wantBytes: 2,
		},
		{
			name: "tight byte bound", capacity: 3, maxBytes: 1,
			steps: []step{
				{"a", nil}, {"b", actor.ErrFull},
			},
			wantBytes: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := actor.NewSizedMailbox(tc.capacity, tc.maxBytes, size)
			for i, s := range tc.steps {
				if s.send == "" {
					if _, ok := m.TryRecv(); !ok {
						t.Fatalf("step %d: TryRecv found nothing", i)
					}
					continue
				}
				if err := m.TrySend(s.send); !errors.Is(err, s.wantErr) {
					t.Fatalf("step %d: TrySend(%q) = %v, want %v", i, s.send, err, s.wantErr)
				}
			}
			if got := m.Bytes(); got != tc.wantBytes {
				t.Fatalf("Bytes = %d, want %d", got, tc.wantBytes)
			}
			drainAll(t, m)
			if got := m.Bytes(); got != 0 {
				t.Fatalf("Bytes after Drain = %d, want 0", got)
			}
		})
	}

	t.Run("no byte bound without size or maxBytes", func(t *testing.T) {
		for _, m := range []*actor.Mailbox[string]{
			actor.NewSizedMailbox(3, 0, size),
			actor.NewSizedMailbox(3, -1, size),
			actor.NewSizedMailbox[string](3, 1, nil),
			actor.NewMailbox[string](3),
		} {
			for range 3 {
				if err := m.TrySend(big); err != nil {
					t.Fatalf("TrySend = %v", err)
				}
			}
			if err := m.TrySend(big); !errors.Is(err, actor.ErrFull) {
				t.Fatalf("TrySend at count bound = %v, want ErrFull", err)
			}
			if got := m.Bytes(); got != 0 {
				t.Fatalf("Bytes without a byte bound = %d, want 0", got)
			}
		}
	})

	t.Run("Send waits for bytes", func(t *testing.T) {
		m := actor.NewSizedMailbox(10, 10, size)
		if err := m.TrySend("aaaaaaaa"); err != nil {
			t.Fatal(err)
		}
		ctx := patienceCtx(t)
		done := async(func() error { return m.Send(ctx, "bbbbb") })
		blocked(t, done, "Send over the byte bound")
		if v, ok := m.TryRecv(); !ok || v != "aaaaaaaa" {
			t.Fatalf("TryRecv = %q, %v", v, ok)
		}
		if err := wait(t, done, "Send after room"); err != nil {
			t.Fatalf("Send = %v", err)
		}
		if got := m.Bytes(); got != 5 {
			t.Fatalf("Bytes = %d, want 5", got)
		}
	})

	t.Run("Send of oversized item waits for empty", func(t *testing.T) {
		m := actor.NewSizedMailbox(10, 10, size)
		for _, s := range []string{"a", "b"} {
			if err := m.TrySend(s); err != nil {
				t.Fatal(err)
			}
		}
		ctx := patienceCtx(t)
		done := async(func() error { return m.Send(ctx, big) })
		blocked(t, done, "oversized Send into non-empty mailbox")
		m.TryRecv()
		blocked(t, done, "oversized Send with one item left")
		m.TryRecv()
		if err := wait(t, done, "oversized Send into empty mailbox"); err != nil {
			t.Fatalf("Send = %v", err)
		}
		if got := drainAll(t, m); !slices.Equal(got, []string{big}) {
			t.Fatalf("Drain = %q", got)
		}
	})
}

// TestMailboxModel runs random operations against a mailbox and a plain
// slice model, covering the ring's wrap-around and growth.
func TestMailboxModel(t *testing.T) {
	size := func(v int) int { return v % 7 }
	for _, tc := range []struct {
		name               string
		capacity, maxBytes int
	}{
		{"count only small", 3, 0},
		{"count only odd", 13, 0},
		{"count only large", 200, 0},
		{"bytes", 50, 20},
		{"bytes tight", 50, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tc.capacity)))
			m := actor.NewSizedMailbox(tc.capacity, tc.maxBytes, size)
			var model []int
			bytes := 0
			fits := func(v int) bool {
				if len(model) >= tc.capacity {
					return false
				}
				return tc.maxBytes == 0 || len(model) == 0 || bytes+size(v) <= tc.maxBytes
			}
			next := 0
			var dst []int
			for step := range 20000 {
				switch op := rng.IntN(10); {
				case op < 6:
					burst := 1 + rng.IntN(tc.capacity+2)
					for range burst {
						v := next
						err := m.TrySend(v)
						if want := fits(v); want != (err == nil) {
							t.Fatalf("step %d: TrySend(%d) = %v, model fits = %v", step, v, err, want)
						}
						if err == nil {
							model = append(model, v)
							bytes += size(v)
							next++
						} else if !errors.Is(err, actor.ErrFull) {
							t.Fatalf("step %d: TrySend = %v, want ErrFull", step, err)
						}
					}
				case op < 9:
					for range 1 + rng.IntN(tc.capacity) {
						v, ok := m.TryRecv()
						if ok != (len(model) > 0) {
							t.Fatalf("step %d: TryRecv ok = %v with %d modelled", step, ok, len(model))
						}
						if !ok {
							break
						}
						if v != model[0] {
							t.Fatalf("step %d: TryRecv = %d, want %d", step, v, model[0])
						}
						bytes -= size(model[0])
						model = model[1:]
					}
				default:
					var err error
					dst, err = m.Drain(dst[:0])
					if err != nil {
						t.Fatalf("step %d: Drain = %v", step, err)
					}
					if !slices.Equal(dst, model) {
						t.Fatalf("step %d: Drain = %v, want %v", step, dst, model)
					}
					model, bytes = model[:0], 0
				}
				if m.Len() != len(model) {
					t.Fatalf("step %d: Len = %d, want %d", step, m.Len(), len(model))
				}
				if m.Bytes() != bytes && tc.maxBytes > 0 {
					t.Fatalf("step %d: Bytes = %d, want %d", step, m.Bytes(), bytes)
				}
			}
		})
	}
}

func TestMailboxSendWaits(t *testing.T) {
	full := func(t *testing.T) *actor.Mailbox[int] {
		m := actor.NewMailbox[int](1)
		if err := m.TrySend(1); err != nil {
			t.Fatal(err)
		}
		return m
	}

	t.Run("until room", func(t *testing.T) {
		m := full(t)
		done := async(func() error { return m.Send(patienceCtx(t), 2) })
		blocked(t, done, "Send into full mailbox")
		if v, ok := m.TryRecv(); !ok || v != 1 {
			t.Fatalf("TryRecv = %v, %v", v, ok)
		}
		if err := wait(t, done, "Send after room"); err != nil {
			t.Fatalf("Send = %v", err)
		}
		if got := drainAll(t, m); !slices.Equal(got, []int{2}) {
			t.Fatalf("Drain = %v, want [2]", got)
		}
	})

	t.Run("room at once", func(t *testing.T) {
		m := actor.NewMailbox[int](2)
		if err := m.Send(context.Background(), 7); err != nil {
			t.Fatalf("Send = %v", err)
		}
		if got := drainAll(t, m); !slices.Equal(got, []int{7}) {
			t.Fatalf("Drain = %v", got)
		}
	})

	for _, tc := range []struct {
		name    string
		ctx     func(t *testing.T) (context.Context, func())
		end     func(m *actor.Mailbox[int], cancel func())
		wantErr error
	}{
		{
			name: "cancel",
			ctx: func(t *testing.T) (context.Context, func()) {
				return context.WithCancel(context.Background())
			},
			end:     func(_ *actor.Mailbox[int], cancel func()) { cancel() },
			wantErr: context.Canceled,
		},
		{
			name: "deadline",
			ctx: func(t *testing.T) (context.Context, func()) {
				return context.WithTimeout(context.Background(), 2*settle)
			},
			end:     func(*actor.Mailbox[int], func()) {},
			wantErr: context.DeadlineExceeded,
		},
		{
			name: "closed while waiting",
			ctx: func(t *testing.T) (context.Context, func()) {
				return context.WithTimeout(context.Background(), patience)
			},
			end:     func(m *actor.Mailbox[int], _ func()) { m.Close() },
			wantErr: actor.ErrClosed,
		},
		{
			name: "already cancelled",
			ctx: func(t *testing.T) (context.Context, func()) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			end:     func(*actor.Mailbox[int], func()) {},
			wantErr: context.Canceled,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := full(t)
			ctx, cancel := tc.ctx(t)
			defer cancel()
			const senders = 3
			var dones []<-chan error
			for i := range senders {
				dones = append(dones, async(func() error { return m.Send(ctx, 100+i) }))
			}
			if tc.name != "deadline" && tc.name != "already cancelled" {
				for _, done := range dones {
					blocked(t, done, "Send into full mailbox")
				}
			}
			tc.end(m, cancel)
			for _, done := range dones {
				if err := wait(t, done, "Send"); !errors.Is(err, tc.wantErr) {
					t.Fatalf("Send = %v, want %v", err, tc.wantErr)
				}
			}
			// None of the failed items was queued.
			if got := m.Len(); got != 1 {
				t.Fatalf("Len = %d, want 1", got)
			}
			if got := drainAll(t, m); !slices.Equal(got, []int{1}) {
				t.Fatalf("Drain = %v, want [1]", got)
			}
		})
	}

	t.Run("closed before", func(t *testing.T) {
		m := actor.NewMailbox[int](4)
		m.Close()
		if err := m.Send(context.Background(), 1); !errors.Is(err, actor.ErrClosed) {
			t.Fatalf("Send after Close = %v, want ErrClosed", err)
		}
		if got := m.Len(); got != 0 {
			t.Fatalf("Len = %d, want 0", got)
		}
	})
}

func TestMailboxRecv(t *testing.T) {
	t.Run("queued", func(t *testing.T) {
		m := actor.NewMailbox[int](4)
		m.TrySend(1)
		m.TrySend(2)
		for _, want := range []int{1, 2} {
			v, err := m.Recv(context.Background())
			if err != nil || v != want {
				t.Fatalf("Recv = %v, %v; want %d", v, err, want)
			}
		}
	})

	t.Run("waits for item", func(t *testing.T) {
		m := actor.NewMailbox[int](4)
		ctx := patienceCtx(t)
		got := make(chan int, 1)
		done := async(func() error {
			v, err := m.Recv(ctx)
			got <- v
			return err
		})
		blocked(t, done, "Recv on empty mailbox")
		if err := m.TrySend(42); err != nil {
			t.Fatal(err)
		}
		if err := wait(t, done, "Recv after send"); err != nil {
			t.Fatalf("Recv = %v", err)
		}
		if v := <-got; v != 42 {
			t.Fatalf("Recv = %d, want 42", v)
		}
	})

	for _, tc := range []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		end     func(m *actor.Mailbox[int], cancel context.CancelFunc)
		wantErr error
	}{
		{
			name:    "cancel",
			ctx:     func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			end:     func(_ *actor.Mailbox[int], cancel context.CancelFunc) { cancel() },
			wantErr: context.Canceled,
		},
		{
			name: "deadline",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 2*settle)
			},
			end:     func(*actor.Mailbox[int], context.CancelFunc) {},
			wantErr: context.DeadlineExceeded,
		},
		{
			name: "closed while waiting",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), patience)
			},
			end:     func(m *actor.Mailbox[int], _ context.CancelFunc) { m.Close() },
			wantErr: actor.ErrClosed,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := actor.NewMailbox[int](4)
			ctx, cancel := tc.ctx()
			defer cancel()
			var dones []<-chan error
			for range 3 {
				dones = append(dones, async(func() error {
					_, err := m.Recv(ctx)
					return err
				}))
			}
			if tc.name != "deadline" {
				for _, done := range dones {
					blocked(t, done, "Recv on empty mailbox")
				}
			}
			tc.end(m, cancel)
			for _, done := range dones {
				if err := wait(t, done, "Recv"); !errors.Is(err, tc.wantErr) {
					t.Fatalf("Recv = %v, want %v", err, tc.wantErr)
				}
			}
		})
	}

	t.Run("several receivers each get one", func(t *testing.T) {
		m := actor.NewMailbox[int](64)
		ctx := patienceCtx(t)
		const receivers, items = 8, 1000
		got := make(chan int, items)
		var wg sync.WaitGroup
		for range receivers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					v, err := m.Recv(ctx)
					if err != nil {
						if !errors.Is(err, actor.ErrClosed) {
							t.Errorf("Recv = %v", err)
						}
						return
					}
					got <- v
				}
			}()
		}
		for i := range items {
			if err := m.Send(ctx, i); err != nil {
				t.Fatal(err)
			}
		}
		m.Close()
		wg.Wait()
		close(got)
		seen := make([]bool, items)
		n := 0
		for v := range got {
			if seen[v] {
				t.Fatalf("item %d received twice", v)
			}
			seen[v] = true
			n++
		}
		if n != items {
			t.Fatalf("received %d items, want %d", n, items)
		}
	})
}

func TestMailboxClose(t *testing.T) {
	t.Run("idempotent", func(t *testing.T) {
		m := actor.NewMailbox[int](2)
		m.Close()
		m.Close()
		m.Close()
		if err := m.TrySend(1); !errors.Is(err, actor.ErrClosed) {
			t.Fatalf("TrySend after Close = %v, want ErrClosed", err)
		}
	})

	t.Run("full mailbox reports closed, not full", func(t *testing.T) {
		m := actor.NewMailbox[int](1)
		m.TrySend(1)
		m.Close()
		if err := m.TrySend(2); !errors.Is(err, actor.ErrClosed) {
			t.Fatalf("TrySend = %v, want ErrClosed", err)
		}
		if err := m.Send(context.Background(), 2); !errors.Is(err, actor.ErrClosed) {
			t.Fatalf("Send = %v, want ErrClosed", err)
		}
	})

	t.Run("receivers drain then get ErrClosed", func(t *testing.T) {
		for _, recv := range []struct {
			name string
			get  func(m *actor.Mailbox[int]) (int, error)
		}{
			{"Recv", func(m *actor.Mailbox[int]) (int, error) { return m.Recv(context.Background()) }},
			{"TryRecv", func(m *actor.Mailbox[int]) (int, error) {
				v, ok := m.TryRecv()
				if !ok {
					return 0, actor.ErrClosed
				}
				return v, nil
			}},
		} {
			t.Run(recv.name, func(t *testing.T) {
				m := actor.NewMailbox[int](8)
				for i := range 5 {
					m.TrySend(i)
				}
				m.Close()
				for i := range 5 {
					v, err := recv.get(m)
					if err != nil || v != i {
						t.Fatalf("after Close: got %v, %v; want %d", v, err, i)
					}
				}
				for range 2 {
					if _, err := recv.get(m); !errors.Is(err, actor.ErrClosed) {
						t.Fatalf("closed and empty: err = %v, want ErrClosed", err)
					}
				}
			})
		}
	})

	t.Run("concurrent with senders", func(t *testing.T) {
		// Senders race Close. None may panic (send on closed channel),
		// each gets nil, ErrFull or ErrClosed, and exactly the items that
		// were accepted are received.
		for round := range 20 {
			m := actor.NewMailbox[int](4)
			ctx := patienceCtx(t)
			const senders = 8
			var accepted atomic.Int64
			var wg sync.WaitGroup
			start := make(chan struct{})
			for s := range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					for i := 0; ; i++ {
						var err error
						if (s+i)%2 == 0 {
							err = m.TrySend(i)
						} else {
							err = m.Send(ctx, i)
						}
						switch {
						case err == nil:
							accepted.Add(1)
						case errors.Is(err, actor.ErrFull):
						case errors.Is(err, actor.ErrClosed):
							return
						default:
							t.Errorf("send = %v", err)
							return
						}
					}
				}()
			}
			received := 0
			recvDone := make(chan struct{})
			go func() {
				defer close(recvDone)
				for {
					_, err := m.Recv(ctx)
					if err != nil {
						if !errors.Is(err, actor.ErrClosed) {
							t.Errorf("Recv = %v", err)
						}
						return
					}
					received++
				}
			}()
			close(start)
			// Close at a different point of the senders' progress each
			// round: at once, or after some items went through.
			progress(t, &accepted, int64(round%4)*25)
			var closers sync.WaitGroup
			for range 3 {
				closers.Add(1)
				go func() { defer closers.Done(); m.Close() }()
			}
			closers.Wait()
			wg.Wait()
			<-recvDone
			if int64(received) != accepted.Load() {
				t.Fatalf("round %d: received %d items, senders had %d accepted", round, received, accepted.Load())
			}
		}
	})
}

func TestMailboxDrain(t *testing.T) {
	m := actor.NewMailbox[int](16)
	got, err := m.Drain(nil)
	if err != nil || len(got) != 0 {
		t.Fatalf("Drain of open empty mailbox = %v, %v; want [], nil", got, err)
	}
	for i := range 10 {
		m.TrySend(i)
	}
	dst := []int{-2, -1}
	got, err = m.Drain(dst)
	if err != nil {
		t.Fatalf("Drain = %v", err)
	}
	if want := []int{-2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(got, want) {
		t.Fatalf("Drain = %v, want %v", got, want)
	}
	if m.Len() != 0 {
		t.Fatalf("Len after Drain = %d", m.Len())
	}
	// A drained mailbox takes a full load again.
	for i := range 16 {
		if err := m.TrySend(100 + i); err != nil {
			t.Fatalf("TrySend after Drain = %v", err)
		}
	}
	m.Close()
	got, err = m.Drain(got[:0])
	if err != nil || len(got) != 16 || got[0] != 100 || got[15] != 115 {
		t.Fatalf("Drain of closed mailbox with items = %v, %v; want 16 items, nil", got, err)
	}
	got, err = m.Drain(got[:0])
	if !errors.Is(err, actor.ErrClosed) || len(got) != 0 {
		t.Fatalf("Drain of closed empty mailbox = %v, %v; want [], ErrClosed", got, err)
	}
}

func TestMailboxReady(t *testing.T) {
	t.Run("after send", func(t *testing.T) {
		m := actor.NewMailbox[int](4)
		for round := range 3 {
			if err := m.TrySend(round); err != nil {
				t.Fatal(err)
			}
			wait(t, m.Ready(), "Ready after send")
			if got := drainAll(t, m); !slices.Equal(got, []int{round}) {
				t.Fatalf("Drain = %v", got)
			}
		}
	})

	t.Run("send from another goroutine", func(t *testing.T) {
		// The send races the wait on Ready, so that over the rounds it
		// comes both before the wait and during it.
		m := actor.NewMailbox[int](4)
		for round := range 200 {
			sent := async(func() error { return m.TrySend(round) })
			wait(t, m.Ready(), "Ready after send")
			if err := wait(t, sent, "TrySend"); err != nil {
				t.Fatal(err)
			}
			// The wake-up may precede nothing only if stale; here it is not.
			if got := drainAll(t, m); !slices.Equal(got, []int{round}) {
				t.Fatalf("round %d: Drain = %v", round, got)
			}
		}
	})

	t.Run("after close", func(t *testing.T) {
		m := actor.NewMailbox[int](4)
		done := make(chan struct{})
		go func() {
			<-m.Ready()
			close(done)
		}()
		m.Close()
		wait(t, done, "Ready after Close")
		// Ready stays signalled once closed.
		for range 3 {
			wait(t, m.Ready(), "Ready after Close")
		}
	})

	t.Run("owner loop loses nothing", func(t *testing.T) {
		// The documented owner loop: wait on Ready, Drain, repeat.
		m := actor.NewMailbox[int](8)
		ctx := patienceCtx(t)
		const senders, each = 4, 2000
		var wg sync.WaitGroup
		for s := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					if err := m.Send(ctx, s*each+i); err != nil {
						t.Errorf("Send = %v", err)
						return
					}
				}
			}()
		}
		go func() { wg.Wait(); m.Close() }()
		seen := make([]bool, senders*each)
		var buf []int
		for {
			select {
			case <-m.Ready():
			case <-ctx.Done():
				t.Fatal("owner loop: lost wake-up")
			}
			var err error
			buf, err = m.Drain(buf[:0])
			for _, v := range buf {
				if seen[v] {
					t.Fatalf("item %d twice", v)
				}
				seen[v] = true
			}
			if err != nil {
				break
			}
		}
		for v, ok := range seen {
			if !ok {
				t.Fatalf("item %d lost", v)
			}
		}
	})
}

func TestMailboxLenBytes(t *testing.T) {
	m := actor.NewSizedMailbox(8, 100, func(b []byte) int { return len(b) })
	type want struct{ n, bytes int }
	check := func(step string, w want) {
		t.Helper()
		if n, b := m.Len(), m.Bytes(); n != w.n || b != w.bytes {
			t.Fatalf("%s: Len, Bytes = %d, %d; want %d, %d", step, n, b, w.n, w.bytes)
		}
	}
	check("empty", want{0, 0})
	m.TrySend(make([]byte, 10))
	check("one", want{1, 10})
	m.TrySend(make([]byte, 30))
	m.TrySend(nil)
	check("three", want{3, 40})
	if err := m.TrySend(make([]byte, 61)); !errors.Is(err, actor.ErrFull) {
		t.Fatalf("TrySend over byte bound = %v", err)
	}
	check("refused", want{3, 40})
	m.TryRecv()
	check("received", want{2, 30})
	m.Send(context.Background(), make([]byte, 70))
	check("sent", want{3, 100})
	m.Close()
	check("closed", want{3, 100})
	drainAll(t, m)
	check("drained", want{0, 0})
}

// Sizes and bounds past what an int32 holds are clamped to 2 GiB, never
// wrapped: a huge item still passes alone and still fills the mailbox.
func TestMailboxHugeSizes(t *testing.T) {
	const huge = 3 << 30 // more than math.MaxInt32
	m := actor.NewSizedMailbox(4, 4<<30, func(n int) int { return n })
	if err := m.TrySend(huge); err != nil {
		t.Fatalf("TrySend of a huge item into an empty mailbox = %v", err)
	}
	if got := m.Bytes(); got != 1<<31-1 {
		t.Fatalf("Bytes = %d, want it clamped to %d", got, 1<<31-1)
	}
	if err := m.TrySend(huge); !errors.Is(err, actor.ErrFull) {
		t.Fatalf("TrySend of a second huge item = %v, want ErrFull", err)
	}
	if err := m.TrySend(1); !errors.Is(err, actor.ErrFull) {
		t.Fatalf("TrySend of a small item behind a huge one = %v, want ErrFull", err)
	}
	if v, ok := m.TryRecv(); !ok || v != huge {
		t.Fatalf("TryRecv = %d, %v", v, ok)
	}
	if got := m.Bytes(); got != 0 {
		t.Fatalf("Bytes after the receive = %d, want 0", got)
	}
}

// TestMailboxFIFOPerSender checks that with many concurrent senders every
// sender's items arrive in the order it sent them, and all arrive.
func TestMailboxFIFOPerSender(t *testing.T) {
	for _, tc := range []struct {
		name     string
		capacity int
		senders  int
		each     int
		useDrain bool
	}{
		{"recv capacity 1", 1, 8, 2000, false},
		{"recv capacity 16", 16, 16, 2000, false},
		{"drain capacity 4", 4, 16, 2000, true},
		{"drain capacity 256", 256, 32, 1000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			type msg struct{ sender, seq int }
			m := actor.NewMailbox[msg](tc.capacity)
			var wg sync.WaitGroup
			// Cleanups run last first: a failed check cancels ctx, then
			// waits for the senders, so that none outlives the test.
			t.Cleanup(wg.Wait)
			ctx := patienceCtx(t)
			for s := range tc.senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range tc.each {
						var err error
						if i%3 == 0 {
							// Mix in TrySend with a retry: order must hold
							// across both paths.
							for err = m.TrySend(msg{s, i}); errors.Is(err, actor.ErrFull); err = m.TrySend(msg{s, i}) {
								if ctx.Err() != nil {
									break
								}
								runtime.Gosched() // let the receiver make room
							}
						} else {
							err = m.Send(ctx, msg{s, i})
						}
						if err != nil {
							if ctx.Err() == nil {
								t.Errorf("sender %d: send %d = %v", s, i, err)
							}
							return
						}
					}
				}()
			}
			go func() { wg.Wait(); m.Close() }()
			next := make([]int, tc.senders)
			check := func(v msg) {
				if v.seq != next[v.sender] {
					t.Fatalf("sender %d: got seq %d, want %d", v.sender, v.seq, next[v.sender])
				}
				next[v.sender]++
			}
			if tc.useDrain {
				var buf []msg
				for {
					select {
					case <-m.Ready():
					case <-ctx.Done():
						t.Fatal("lost wake-up")
					}
					var err error
					buf, err = m.Drain(buf[:0])
					for _, v := range buf {
						check(v)
					}
					if err != nil {
						break
					}
				}
			} else {
				for {
					v, err := m.Recv(ctx)
					if errors.Is(err, actor.ErrClosed) {
						break
					}
					if err != nil {
						t.Fatalf("Recv = %v", err)
					}
					check(v)
				}
			}
			for s, n := range next {
				if n != tc.each {
					t.Fatalf("sender %d: %d items arrived, want %d", s, n, tc.each)
				}
			}
		})
	}
}

// TestMailboxNoLostWakeup blocks many senders on a small mailbox and checks
// that all of them get through as the receiver takes items, for every way
// of receiving. A lost wake-up shows as the patience deadline.
func TestMailboxNoLostWakeup(t *testing.T) {
	type recvFunc func(ctx context.Context, m *actor.Mailbox[int], buf []int) ([]int, error)
	recvOne := func(ctx context.Context, m *actor.Mailbox[int], buf []int) ([]int, error) {
		v, err := m.Recv(ctx)
		if err != nil {
			return buf, err
		}
		return append(buf, v), nil
	}
	drain := func(ctx context.Context, m *actor.Mailbox[int], buf []int) ([]int, error) {
		select {
		case <-m.Ready():
		case <-ctx.Done():
			return buf, ctx.Err()
		}
		return m.Drain(buf)
	}
	tryRecv := func(ctx context.Context, m *actor.Mailbox[int], buf []int) ([]int, error) {
		for {
			if v, ok := m.TryRecv(); ok {
				return append(buf, v), nil
			}
			// Empty: Drain tells closed from open (and keeps anything
			// that arrived meanwhile).
			if out, err := m.Drain(buf); err != nil || len(out) > len(buf) {
				return out, err
			}
			select {
			case <-m.Ready():
			case <-ctx.Done():
				return buf, ctx.Err()
			}
		}
	}
	for _, tc := range []struct {
		name     string
		capacity int
		maxBytes int
		senders  int
		each     int
		recv     recvFunc
	}{
		{"capacity 1 Recv", 1, 0, 200, 50, recvOne},
		{"capacity 2 Drain", 2, 0, 200, 50, drain},
		{"capacity 3 TryRecv", 3, 0, 200, 50, tryRecv},
		{"bytes Recv", 8, 10, 100, 50, recvOne},
		{"bytes Drain", 8, 10, 100, 50, drain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := actor.NewSizedMailbox(tc.capacity, tc.maxBytes, func(v int) int { return 1 + v%4 })
			ctx := patienceCtx(t)
			var wg sync.WaitGroup
			for s := range tc.senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range tc.each {
						if err := m.Send(ctx, s*tc.each+i); err != nil {
							t.Errorf("sender %d: Send = %v (lost wake-up?)", s, err)
							return
						}
					}
				}()
			}
			go func() { wg.Wait(); m.Close() }()
			total := tc.senders * tc.each
			seen := make([]bool, total)
			n := 0
			var buf []int
			for {
				var err error
				buf, err = tc.recv(ctx, m, buf[:0])
				for _, v := range buf {
					if seen[v] {
						t.Fatalf("item %d twice", v)
					}
					seen[v] = true
					n++
				}
				if errors.Is(err, actor.ErrClosed) {
					break
				}
				if err != nil {
					t.Fatalf("receive = %v after %d of %d items (lost wake-up?)", err, n, total)
				}
			}
			if n != total {
				t.Fatalf("received %d items, want %d", n, total)
			}
		})
	}
}

// TestMailboxSendCancelRace has senders give up at random (their contexts
// end while they wait) as a slow receiver takes items: exactly the items
// whose Send returned nil arrive, and the senders left waiting are not
// stranded by a wake-up consumed by one that gave up.
func TestMailboxSendCancelRace(t *testing.T) {
	for round := range 5 {
		m := actor.NewMailbox[int](2)
		const senders, each = 32, 100
		accepted := make([][]bool, senders)
		ctx := patienceCtx(t)
		var wg sync.WaitGroup
		for s := range senders {
			accepted[s] = make([]bool, each)
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(round), uint64(s)))
				for i := range each {
					sctx, cancel := ctx, context.CancelFunc(func() {})
					if rng.IntN(2) == 0 {
						sctx, cancel = context.WithTimeout(ctx, time.Duration(rng.IntN(200))*time.Microsecond)
					}
					err := m.Send(sctx, s*each+i)
					cancel()
					switch {
					case err == nil:
						accepted[s][i] = true
					case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
					default:
						t.Errorf("Send = %v", err)
						return
					}
				}
			}()
		}
		go func() { wg.Wait(); m.Close() }()
		got := make([]bool, senders*each)
		for {
			v, err := m.Recv(ctx)
			if errors.Is(err, actor.ErrClosed) {
				break
			}
			if err != nil {
				t.Fatalf("Recv = %v (senders stranded?)", err)
			}
			if got[v] {
				t.Fatalf("item %d twice", v)
			}
			got[v] = true
			if v%7 == 0 {
				// Fall behind now and then, so that timed Sends wait and
				// some of their deadlines pass: what is tested is a
				// deadline that expires, which takes time.
				time.Sleep(20 * time.Microsecond)
			}
		}
		for s := range senders {
			for i := range each {
				if got[s*each+i] != accepted[s][i] {
					t.Fatalf("round %d: item %d/%d: received %v, Send accepted %v", round, s, i, got[s*each+i], accepted[s][i])
				}
			}
		}
	}
}

func TestMailboxDrainMax(t *testing.T) {
	m := actor.NewMailbox[int](8)
	for i := 0; i < 5; i++ {
		if err := m.TrySend(i); err != nil {
			t.Fatal(err)
		}
	}
	<-m.Ready()
	got, err := m.DrainMax(nil, 2)
	if err != nil || len(got) != 2 || got[0] != 0 || got[1] != 1 {
		t.Fatalf("DrainMax(2) = %v, %v", got, err)
	}
	select {
	case <-m.Ready():
	default:
		t.Fatal("Ready not signalled for the items left")
	}
	got, _ = m.DrainMax(got[:0], 0)
	if len(got) != 0 || m.Len() != 3 {
		t.Fatalf("DrainMax(0) took %v, left %d", got, m.Len())
	}
	got, _ = m.DrainMax(got[:0], -1)
	if len(got) != 3 || got[2] != 4 {
		t.Fatalf("DrainMax(-1) = %v", got)
	}
}

// TestMailboxTrim: Trim lets go of an empty mailbox's ring (the next send
// allocates it again) and leaves a non-empty one alone.
func TestMailboxTrim(t *testing.T) {
	m := actor.NewMailbox[int](8)
	cycle := func() {
		if err := m.TrySend(1); err != nil {
			t.Fatal(err)
		}
		if _, ok := m.TryRecv(); !ok {
			t.Fatal("TryRecv found nothing")
		}
	}
	cycle()
	if a := testing.AllocsPerRun(100, cycle); a != 0 {
		t.Fatalf("send and receive on a used mailbox: %v allocs, want 0", a)
	}
	if a := testing.AllocsPerRun(100, func() { m.Trim(); cycle() }); a != 1 {
		t.Fatalf("send and receive after Trim: %v allocs, want 1 (the ring again)", a)
	}

	// Not empty: nothing is let go.
	for i := 0; i < 3; i++ {
		_ = m.TrySend(i)
	}
	m.Trim()
	got, _ := m.Drain(nil)
	if !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("after Trim of a non-empty mailbox Drain = %v", got)
	}
}

// TestMailboxTrySendAll: a unit is queued whole or not at all, against the
// count and the byte bound together (an oversized unit only into an empty
// mailbox), and comes out contiguous and in order.
func TestMailboxTrySendAll(t *testing.T) {
	size := func(s string) int { return len(s) }
	for _, tc := range []struct {
		name               string
		capacity, maxBytes int
		before             []string // queued first, one by one
		unit               []string
		wantErr            error
	}{
		{name: "fits", capacity: 5, maxBytes: 10, before: []string{"aa"}, unit: []string{"bbb", "ccc"}},
		{name: "empty unit", capacity: 1, maxBytes: 1, before: []string{"a"}, unit: nil},
		{name: "count bound", capacity: 3, maxBytes: 100, before: []string{"a", "b"}, unit: []string{"c", "d"}, wantErr: actor.ErrFull},
		{name: "byte bound", capacity: 10, maxBytes: 10, before: []string{"aaaa"}, unit: []string{"bbb", "cccc"}, wantErr: actor.ErrFull},
		{name: "oversized into empty", capacity: 10, maxBytes: 10, unit: []string{"aaaaaa", "bbbbbb"}},
		{name: "oversized into non-empty", capacity: 10, maxBytes: 10, before: []string{"a"}, unit: []string{"aaaaaa", "bbbbbb"}, wantErr: actor.ErrFull},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := actor.NewSizedMailbox(tc.capacity, tc.maxBytes, size)
			for _, v := range tc.before {
				if err := m.TrySend(v); err != nil {
					t.Fatal(err)
				}
			}
			if err := m.TrySendAll(tc.unit); !errors.Is(err, tc.wantErr) {
				t.Fatalf("TrySendAll: %v, want %v", err, tc.wantErr)
			}
			want := slices.Clone(tc.before)
			if tc.wantErr == nil {
				want = append(want, tc.unit...)
			}
			if got := drainAll(t, m); !slices.Equal(got, want) {
				t.Errorf("queued %q, want %q", got, want)
			}
		})
	}
	t.Run("closed", func(t *testing.T) {
		m := actor.NewMailbox[string](4)
		m.Close()
		if err := m.TrySendAll([]string{"a"}); !errors.Is(err, actor.ErrClosed) {
			t.Errorf("TrySendAll after Close: %v", err)
		}
	})
	t.Run("contiguous under concurrency", func(t *testing.T) {
		m := actor.NewMailbox[[2]int](1 << 16)
		const senders, units, width = 4, 500, 3
		var wg sync.WaitGroup
		for s := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for u := range units {
					unit := make([][2]int, width)
					for i := range unit {
						unit[i] = [2]int{s, u*width + i}
					}
					if s%2 == 1 && u%2 == 1 {
						// Single items from the same sender in between.
						for _, v := range unit {
							if err := m.TrySend(v); err != nil {
								t.Error(err)
							}
						}
						continue
					}
					if err := m.TrySendAll(unit); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		got := drainAll(t, m)
		if len(got) != senders*units*width {
			t.Fatalf("%d items, want %d", len(got), senders*units*width)
		}
		next := make([]int, senders)
		for i := 0; i < len(got); {
			v := got[i]
			if v[1] != next[v[0]] {
				t.Fatalf("sender %d: item %d after %d", v[0], v[1], next[v[0]]-1)
			}
			if v[0]%2 == 0 || (v[1]/width)%2 == 0 {
				// A unit: its items follow one another.
				for k := range width {
					if got[i+k] != [2]int{v[0], v[1] + k} {
						t.Fatalf("unit of sender %d at %d broken by %v", v[0], v[1], got[i+k])
					}
				}
				next[v[0]] += width
				i += width
				continue
			}
			next[v[0]]++
			i++
		}
	})
}
