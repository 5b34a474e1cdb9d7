package actor

import "time"

// Instant is a point on the process's monotonic clock: nanoseconds since
// the package was loaded, plus one, so that the zero Instant can mean "not
// set". It is chanio's one clock: a [Supervisor]'s deadlines, those of
// every session and client, and the read and write deadlines of their
// connections are Instants, 8 bytes where a time.Time takes 24 (a server
// keeps several for each of many idle sessions).
type Instant int64

var epoch = time.Now()

// Now returns the current instant.
func Now() Instant { return Instant(time.Since(epoch)) + 1 }

// InstantOf returns the instant of t, which must carry a monotonic clock
// reading (as the times from time.Now and its Add do).
func InstantOf(t time.Time) Instant { return Instant(t.Sub(epoch)) + 1 }

// Add returns the instant d after t.
func (t Instant) Add(d time.Duration) Instant { return t + Instant(d) }

// Sub returns the duration t-u.
func (t Instant) Sub(u Instant) time.Duration { return time.Duration(t - u) }

// Time returns t as a time.Time with a monotonic clock reading.
func (t Instant) Time() time.Time { return epoch.Add(time.Duration(t - 1)) }
