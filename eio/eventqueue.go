package eio

import "github.com/chanio/chanio/actor"

// eventQueue holds an actor's events (a session's or a client's) on their
// way to the application's Events channel, in order, when the channel has
// no room; and it remembers when the application last held the actor
// back, which the heartbeat needs to tell a slow application from a gone
// peer.
type eventQueue struct {
	pending  []Event
	head     int
	stallEnd actor.Instant // when the queue last became empty
}

// push hands ev to out if nothing waits before it and out has room, and
// queues it otherwise.
func (q *eventQueue) push(out chan<- Event, ev Event) {
	if q.empty() {
		select {
		case out <- ev:
			return
		default:
		}
		q.pending, q.head = q.pending[:0], 0
	}
	q.pending = append(q.pending, ev)
}

// empty reports whether no event waits.
func (q *eventQueue) empty() bool { return q.head == len(q.pending) }

// len returns how many events wait.
func (q *eventQueue) len() int { return len(q.pending) - q.head }

// front returns the oldest waiting event; the queue must not be empty.
func (q *eventQueue) front() Event { return q.pending[q.head] }

// pop drops the oldest waiting event, which the application has taken.
func (q *eventQueue) pop() {
	q.pending[q.head] = Event{}
	q.head++
	if q.empty() {
		q.pending, q.head = q.pending[:0], 0
		q.stallEnd = actor.Now()
	}
}

// stalled reports whether the application held the actor back at any time
// since t: events are waiting, or were after t.
func (q *eventQueue) stalled(since actor.Instant) bool {
	return !q.empty() || q.stallEnd > since
}

// trim lets go of the queue's memory if no event waits.
func (q *eventQueue) trim() {
	if q.empty() {
		q.pending, q.head = nil, 0
	}
}

// drop forgets every waiting event and returns how many there were.
func (q *eventQueue) drop() int {
	n := q.len()
	clear(q.pending)
	q.pending, q.head = nil, 0
	return n
}
