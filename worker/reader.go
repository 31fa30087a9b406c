package worker

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
)

// The message events that come alone, the commonest kind at light load,
// skip a goroutine hand-off. Their queue subscription is synchronous:
// instead of nats.go's goroutine for the subscription calling dispatch,
// which hands the event on to a handler goroutine, messageReaders
// goroutines wait in NextMsg, where nats.go's read loop hands a message
// straight to one of them. A reader that takes an event while another one
// waits in NextMsg, and finds a handler slot free, handles it itself and
// then waits again; otherwise it dispatches it as the subscription's
// goroutine would have and goes back to reading. So some reader always
// reads, the handlers at once stay within MaxConcurrency, and the intake
// stays bounded by nats.go's pending limits in bytes (intake.go: a
// synchronous subscription counts what NextMsg did not take yet); each
// reader blocked in dispatch holds one event, as the goroutine of an
// asynchronous subscription does.

// messageReaders is how many goroutines read the message subscription:
// one to handle an event while the other waits for the next.
const messageReaders = 2

// readerWait is how long a reader waits in NextMsg before it asks again.
const readerWait = time.Minute

// subscribeMessages joins the queue group for message events that come
// alone and starts the readers.
func (w *Worker) subscribeMessages(subject string) (*nats.Subscription, error) {
	sub, err := w.nc.QueueSubscribeSync(subject, bus.WorkerQueue)
	if err != nil {
		return nil, err
	}
	w.msgSub = sub
	parked := new(atomic.Int32)
	for range messageReaders {
		w.handlers.Add(1)
		go w.read(sub, parked)
	}
	return sub, nil
}

// read takes message events from sub until it is closed: unsubscribed,
// drained (Stop) or its connection closed. parked counts the readers
// waiting in NextMsg.
func (w *Worker) read(sub *nats.Subscription, parked *atomic.Int32) {
	defer w.handlers.Done()
	for {
		parked.Add(1)
		m, err := sub.NextMsg(readerWait)
		others := parked.Add(-1)
		if err != nil {
			if errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrSlowConsumer) {
				continue // a slow consumer was counted (Dropped) and logged
			}
			return
		}
		ev := messageEvent(m, bus.EventMessage)
		if others > 0 {
			select {
			case w.sem <- struct{}{}:
				w.inflight.Add(1)
				w.handle(ev)
				w.inflight.Add(-1)
				<-w.sem
				continue
			default:
			}
		}
		w.dispatch(ev)
	}
}

// stopReaders closes the message subscription, if it is still open once
// the worker drained (its bus connection was down), so that the readers
// leave.
func (w *Worker) stopReaders() {
	if w.msgSub != nil && w.msgSub.IsValid() {
		_ = w.msgSub.Unsubscribe()
	}
}
