package wire

import "github.com/nats-io/nats.go"

// The in-process path (docs/architecture.md, "The in-process path"). When
// a gateway and a worker run in one process and that worker is the only
// one the gateway hears of, a client's message event need not cross NATS:
// the gateway hands it to the worker as a LocalEvent, the worker runs the
// handler on the gateway's goroutine and gives the reply back through
// Apply. The reply is the message the worker would have published
// (Reply.Put / ReadReply), so both paths apply the same thing.

// LocalEvent is one client event handed to a worker in the gateway's own
// process. The gateway owns it; the worker reads it only during RunLocal.
type LocalEvent struct {
	Kind     string // EventMessage
	ClientID string
	Remote   string
	Session  string // the session as JSON; "" for none
	Deadline int64  // when the gateway would stop waiting, Unix milliseconds
	Binary   bool
	Data     []byte
	// ReplyTo is the event's reply subject (Subjects.GatewayReply): the
	// reply goes there, through NATS, when the handler published
	// something itself, so that the gateway sees those messages first
	// (LocalPublished).
	ReplyTo string
	// Apply applies a reply at the gateway. The worker calls it on the
	// calling goroutine before RunLocal returns and reuses the message
	// afterwards: Apply keeps nothing of it.
	Apply func(ev *LocalEvent, reply *nats.Msg)
	// Target is the gateway's own reference to the client, for Apply.
	Target any
}

// LocalOutcome says what became of a LocalEvent.
type LocalOutcome uint8

// The outcomes of LocalRunner.RunLocal.
const (
	// LocalDeclined: not run (the worker is stopping or runs as many
	// handlers as it may); the gateway publishes the event instead.
	LocalDeclined LocalOutcome = iota
	// LocalApplied: run, and its reply applied through Apply.
	LocalApplied
	// LocalPublished: run, and its reply published to ReplyTo, behind
	// the messages the handler published itself.
	LocalPublished
)

// LocalRunner is a worker that takes LocalEvents: package worker's Worker.
type LocalRunner interface {
	// ID is the id the worker announces itself with (heartbeats).
	ID() string
	// RunLocal runs the event's handler on the calling goroutine.
	RunLocal(ev *LocalEvent) LocalOutcome
}
