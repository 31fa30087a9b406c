package worker

import (
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/internal/wire"
)

// Direct events (docs/protocol.md §5.9). Besides the queue group, a worker
// subscribes to its own direct subject, <prefix>.wd.<worker id>.*, and says
// so in its heartbeats (wire.FeatureDirect). A gateway whose event timed out
// sends the redelivery there, to a worker it heard from within the last
// 1.5 heartbeat intervals, instead of to the queue group, where NATS could
// hand it back to the worker that froze with the first copy.

// subscribeDirect subscribes to the worker's direct subject, with the same
// intake bound as the queue subscriptions.
func (w *Worker) subscribeDirect() error {
	subject := w.subj.WorkerDirectAll(w.id)
	sub, err := w.nc.Subscribe(subject, w.dispatchDirect)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", subject, err)
	}
	w.limitIntake(sub)
	w.subs = append(w.subs, sub)
	return nil
}

// dispatchDirect dispatches an event sent to this worker alone. Its kind
// is the subject's last token; a kind the worker does not take (wsconnect
// without OnWebSocketConnect, anything unknown) is not answered: the
// gateway treats it as a worker that timed out.
func (w *Worker) dispatchDirect(m *nats.Msg) {
	kind := w.subj.WorkerDirectKind(m.Subject, w.id)
	if !w.takes(kind) {
		w.log.Warn("direct event of a kind this worker does not take: not answered", "event", kind)
		return
	}
	w.dispatch(messageEvent(m, kind))
}

// takes reports whether the worker handles events of kind: the kinds it
// subscribes to in the queue group (Start).
func (w *Worker) takes(kind string) bool {
	switch kind {
	case wire.EventConnect, wire.EventMessage, wire.EventClose:
		return true
	case wire.EventWebSocketConnect:
		_, ok := w.events.(WebSocketConnectHandler)
		return ok
	}
	return false
}

// messageEvent reads the event of a message of its own, of the given
// kind, from its headers (docs/protocol.md §5.1).
func messageEvent(m *nats.Msg, kind string) event {
	e := wire.ReadEvent(m)
	return event{
		kind:        kind,
		reply:       m.Reply,
		clientID:    e.ClientID,
		remote:      e.Remote,
		session:     e.Session,
		deadline:    e.Deadline,
		redelivered: e.Redelivered,
		binary:      e.Binary,
		data:        e.Data,
	}
}
