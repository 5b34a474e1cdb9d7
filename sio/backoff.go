package sio

import (
	"math"
	"time"
)

// backoff computes the delays between reconnection attempts as the
// reference client's backo2 does, in whole milliseconds: the n-th delay
// (n from 0) is min·2^n, moved by a random deviation of up to jitter·min·2^n
// in either direction, then capped at max and truncated to a millisecond.
// One random draw decides both the size of the deviation and its sign, as
// in the reference.
//
// Its zero value is not usable; [newBackoff] makes one.
type backoff struct {
	min, max float64        // milliseconds
	jitter   float64        // in [0, 1]; 0 means none
	rand     func() float64 // a draw in [0, 1)
	attempts int            // delays handed out since the last reset
}

func newBackoff(min, max time.Duration, jitter float64, rand func() float64) *backoff {
	if jitter < 0 || jitter > 1 {
		jitter = 0 // what the reference does with a factor out of range
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return &backoff{min: ms(min), max: ms(max), jitter: jitter, rand: rand}
}

// duration returns the delay before the next attempt and counts it.
func (b *backoff) duration() time.Duration {
	// In float64, as the reference computes in JavaScript numbers. Past
	// 2^62 every delay is over any max a Duration can hold; stopping the
	// exponent there keeps ms finite, so that the deviation is too.
	ms := b.min * math.Pow(2, float64(min(b.attempts, 62)))
	b.attempts++
	if b.jitter > 0 {
		r := b.rand()
		deviation := math.Floor(r * b.jitter * ms)
		if int64(math.Floor(r*10))&1 == 0 {
			ms -= deviation
		} else {
			ms += deviation
		}
	}
	return time.Duration(math.Trunc(math.Min(ms, b.max))) * time.Millisecond
}

// reset starts the sequence again from min.
func (b *backoff) reset() { b.attempts = 0 }
