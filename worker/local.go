package worker

import (
	"github.com/switchboard-go/switchboard/internal/wire"
)

// The in-process path (docs/architecture.md, "The in-process path"): a
// gateway in the worker's own process hands it a client's message event
// directly while it is the only worker the gateway hears of. The handler
// runs on the gateway's goroutine (the client's reader), within
// MaxConcurrency like any other, and its reply is applied there: no NATS
// message, no goroutine hand-off. A reply that must stay behind messages
// the handler published itself (through Gateway() or Client()) goes
// through NATS as always.

// RunLocal runs ev's handler on the calling goroutine (wire.LocalRunner).
// It declines, without running it, before Start, once Stop began, and
// while MaxConcurrency handlers run: the gateway then publishes the event
// to the queue group, where this worker takes it in turn.
func (w *Worker) RunLocal(le *wire.LocalEvent) wire.LocalOutcome {
	w.localRuns.Add(1)
	defer w.localRuns.Add(-1)
	if !w.localOpen.Load() {
		return wire.LocalDeclined
	}
	select {
	case w.running <- struct{}{}:
	default:
		return wire.LocalDeclined
	}
	w.inflight.Add(1)
	defer func() {
		<-w.running
		w.inflight.Add(-1) // after the slot: InFlight 0 means every slot is free
	}()
	w.local.Add(1)
	return w.handle(event{kind: le.Kind, reply: le.ReplyTo, clientID: le.ClientID, remote: le.Remote,
		session: le.Session, deadline: le.Deadline, binary: le.Binary, data: le.Data, local: le})
}

// HandledLocal returns the number of events run through RunLocal (the
// gateway counts those it applied: switchboard_gateway_events_local_total).
func (w *Worker) HandledLocal() uint64 { return w.local.Load() }
