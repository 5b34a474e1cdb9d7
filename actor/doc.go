// Package actor owns chanio's goroutines and the queues between them.
//
// Every goroutine is started by a [Group], which tracks it, refuses new
// ones once sealed, recovers a panic into a [*PanicError], and lets its
// owner wait until all have exited. Calls that run on goroutines of others
// (HTTP handlers, callbacks of another library) count in a Group too,
// with [Group.Enter] and [Group.Exit], so that an owner waits for them the
// same way.
//
// An actor that is mostly idle is a [Runner]: its work function runs in
// passes, on a goroutine of its Group only while there is something to do,
// one pass at a time, so its state has one owner and an idle actor costs
// its state and no stack. chanio's sessions and clients are Runners.
//
// Work reaches an actor through a [Mailbox]: a typed FIFO bounded by count
// and, optionally, by bytes. Senders either fail fast ([Mailbox.TrySend],
// for producers that must never wait on a slow actor) or wait with a
// context ([Mailbox.Send], for backpressure). A Mailbox schedules its
// Runner when it gains an item ([Mailbox.SetNotify]); an actor on a
// goroutine of its own waits on [Mailbox.Ready] instead. The owner drains
// in batches.
//
// Deadlines (next ping, pong due, upgrade timeout) belong to a
// [Supervisor]: one goroutine and one runtime timer for any number of
// actors, each holding one [Timer] that it re-arms to its nearest
// deadline. A Timer made by [Supervisor.NewTimerFunc], as chanio's are,
// calls a function on the supervisor's goroutine that sets a flag and
// schedules the actor's Runner; one made by [Supervisor.NewTimer] delivers
// a [Tick] to a mailbox instead, for an actor with a goroutine of its own.
// Deadlines are [Instant]s, chanio's one clock.
//
// Start with [NewGroup], then [Group.NewRunner], [NewSupervisor] and
// [NewMailbox].
package actor
