package transport

import "time"

// monoTime is a point on the process's monotonic clock, in nanoseconds
// since monoEpoch: the deadlines a connection keeps, at 8 bytes instead of
// time.Time's 24 (a server keeps two for each of many idle connections).
type monoTime int64

var monoEpoch = time.Now()

func monoNow() monoTime { return monoTime(time.Since(monoEpoch)) }

// sub returns t-u.
func (t monoTime) sub(u monoTime) time.Duration { return time.Duration(t - u) }

// add returns t+d.
func (t monoTime) add(d time.Duration) monoTime { return t + monoTime(d) }

// time returns t as a time.Time with a monotonic reading.
func (t monoTime) time() time.Time { return monoEpoch.Add(time.Duration(t)) }
