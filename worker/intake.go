package worker

import (
	"fmt"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// Bounded intake. A worker runs at most MaxConcurrency handlers; an event
// that arrives while all are busy waits in the NATS client library's
// buffer of its subscription, and the subscription's callback waits with
// the one event it holds. MaxPendingBytes bounds each such buffer in bytes
// (headers and payload, as nats.go counts them): beyond it the library
// drops the event (a slow consumer) and the worker counts it
// (Worker.Dropped, metric switchboard_worker_events_dropped_total) and
// logs; the event's gateway sends it again after event_timeout, to a
// worker it heard from recently (docs/operations.md, "A worker that
// freezes"). A worker has at most six such subscriptions (connect,
// message, close, wsconnect, message batches, its direct subject), so
// what it holds but has not started stays within 6 × (MaxPendingBytes +
// the largest event).

// DefaultMaxPendingBytes is the default of MaxPendingBytes: 8 MiB per
// subscription, 48 MiB for a worker's six.
const DefaultMaxPendingBytes = 8 << 20

// MaxPendingBytes bounds, in bytes, the events each of the worker's
// subscriptions holds that no handler has started; default
// DefaultMaxPendingBytes. It must be at least the gateways'
// max_message_bytes plus max_session_bytes, or the largest events are
// always dropped.
func MaxPendingBytes(n int) Option { return func(o *options) { o.pending = n } }

// intake counts the events the NATS client library dropped because a
// subscription's buffer was full. The subscriptions are the worker's event
// subscriptions (Worker.subs, each bounded by limitIntake); the heartbeat
// goroutine counts their drops every beat (countDropped).
type intake struct {
	dropped atomic.Uint64
}

// limitIntake sets sub's pending limits: no count limit, the byte limit of
// MaxPendingBytes.
func (w *Worker) limitIntake(sub *nats.Subscription) {
	if err := sub.SetPendingLimits(-1, w.opts.pending); err != nil {
		w.log.Warn("set pending limits", "subject", sub.Subject, "err", err)
	}
}

// Dropped returns the number of events the worker's NATS client dropped,
// unstarted, because a subscription held MaxPendingBytes already (metric
// switchboard_worker_events_dropped_total). It is brought up to date
// every heartbeat (1 s).
func (w *Worker) Dropped() uint64 { return w.in.dropped.Load() }

// countDropped adds what each subscription dropped since the last count
// and logs it; seen[i] holds subs[i]'s Dropped() when last counted. Only
// the heartbeat goroutine calls it.
func (w *Worker) countDropped(subs []*nats.Subscription, seen []int) {
	var added uint64
	for i, s := range subs {
		n, err := s.Dropped()
		if err != nil { // unsubscribed: its count is gone with it
			continue
		}
		if d := n - seen[i]; d > 0 {
			added += uint64(d)
		}
		seen[i] = n
	}
	if added == 0 {
		return
	}
	total := w.in.dropped.Add(added)
	w.log.Warn("events dropped unstarted: the worker's intake is full (slow consumer); their gateways redeliver them after event_timeout",
		"dropped", added, "dropped_total", total, "max_pending_bytes", w.opts.pending)
}

func validPendingBytes(n int) error {
	if n <= 0 {
		return fmt.Errorf("worker: max pending bytes %d must be positive", n)
	}
	return nil
}
