// Package actor owns chanio's goroutines and the queues between them.
//
// Every long-lived goroutine is an actor started by a [Group], which tracks
// it, refuses new spawns once sealed, recovers a panic into a
// [*PanicError], and lets its owner wait until all have exited.
//
// Work reaches an actor through a [Mailbox]: a typed FIFO bounded by count
// and, optionally, by bytes. Senders either fail fast ([Mailbox.TrySend],
// for producers that must never wait on a slow actor) or wait with a
// context ([Mailbox.Send], for backpressure). The owner drains in batches
// after a wake-up on [Mailbox.Ready].
//
// Deadlines (next ping, pong due, upgrade timeout) belong to a
// [Supervisor]: one goroutine and one runtime timer for any number of
// actors, each holding one [Timer] that it re-arms to its nearest deadline
// and that delivers a [Tick] to the actor's mailbox.
//
// Start with [NewGroup], then [NewSupervisor] and [NewMailbox].
package actor
