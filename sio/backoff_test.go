package sio

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// draws returns a random source that hands out vs in turn.
func draws(vs ...float64) func() float64 {
	i := 0
	return func() float64 {
		v := vs[i%len(vs)]
		i++
		return v
	}
}

// TestBackoffMatchesReference: the delays are the reference's, draw for
// draw. The expected values were printed by socket.io-client 4.8.1's own
// build/cjs/contrib/backo2.js, with Math.random replaced by the same draws
// (node -e, see the commit that added this test).
func TestBackoffMatchesReference(t *testing.T) {
	t.Parallel()
	var spread []float64 // k·37 mod 64 / 64, k = 0..63: exact in binary
	for k := range 64 {
		spread = append(spread, float64(k*37%64)/64)
	}
	ms := func(vs ...int) []time.Duration {
		out := make([]time.Duration, len(vs))
		for i, v := range vs {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	cases := []struct {
		name     string
		min, max time.Duration
		jitter   float64
		rand     func() float64
		want     []time.Duration
	}{
		{
			// The defaults: 1s, 5s, 0.5. The fourth delay is capped after
			// the jitter, so it ends under max (8000-3200).
			name: "defaults", min: time.Second, max: 5 * time.Second, jitter: 0.5,
			rand: draws(0.25, 0.375, 0.0625, 0.8, 0.7, 0.9375, 0),
			want: ms(875, 2375, 3875, 4800, 5000, 5000, 5000, 5000),
		},
		{
			name: "spread", min: 100 * time.Millisecond, max: 30 * time.Second, jitter: 0.25,
			rand: draws(spread...),
			want: ms(100, 228, 415, 946, 1725, 2488, 5650, 12650, 21600, 30000, 30000, 30000),
		},
		{
			name: "no jitter", min: time.Second, max: 5 * time.Second, jitter: 0,
			rand: draws(spread...),
			want: ms(1000, 2000, 4000, 5000, 5000, 5000),
		},
		{
			// A factor out of (0, 1] means no jitter, as in the reference.
			name: "jitter out of range", min: time.Second, max: 5 * time.Second, jitter: 1.5,
			rand: draws(0.25),
			want: ms(1000, 2000, 4000, 5000),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBackoff(tc.min, tc.max, tc.jitter, tc.rand)
			var got []time.Duration
			for range tc.want {
				got = append(got, b.duration())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("delays %v, want %v", got, tc.want)
			}
		})
	}
}

// TestBackoffBounds: whatever the draws, the n-th delay stays within
// [min·2^n·(1-jitter), min(min·2^n·(1+jitter), max)], never over max, and
// reset starts again from the first delay.
func TestBackoffBounds(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, jitter := range []float64{0, 0.1, 0.5, 1} {
		b := newBackoff(time.Second, 5*time.Second, jitter, rng.Float64)
		for round := range 50 {
			for n := range 80 { // far past the exponent where 2^n overflows a Duration
				d := b.duration()
				lo, hi := reconnectBounds(time.Second, 5*time.Second, jitter, n)
				if d < lo || d > hi {
					t.Fatalf("jitter %v, round %d, delay %d: %v not in [%v, %v]", jitter, round, n, d, lo, hi)
				}
			}
			b.reset()
		}
	}
}

// TestBackoffHugeAttempts: a backoff that has counted more attempts than
// any exponent a float64 holds still answers max, never a negative or
// garbage delay, even with the draws at their extremes.
func TestBackoffHugeAttempts(t *testing.T) {
	t.Parallel()
	for _, r := range []float64{0, 0.05, 0.15, math.Nextafter(1, 0)} {
		b := newBackoff(time.Second, 5*time.Second, 0.5, draws(r))
		b.attempts = 1 << 40
		if d := b.duration(); d != 5*time.Second {
			t.Errorf("draw %v: delay %v after 2^40 attempts, want 5s", r, d)
		}
	}
}

// reconnectBounds is the range the n-th delay (from 0) falls in, whatever
// the draw: the reference's formula at its two extremes, in whole
// milliseconds.
func reconnectBounds(min, max time.Duration, jitter float64, n int) (lo, hi time.Duration) {
	base := float64(min) * math.Pow(2, float64(n))
	lo = time.Duration(math.Min(base*(1-jitter), float64(max))).Truncate(time.Millisecond)
	hi = time.Duration(math.Min(base*(1+jitter), float64(max)))
	return lo, hi
}
