package gateway

import (
	"time"
)

// Overload (docs/operations.md, "Overload"). A worker whose events wait
// for its handler slots while its handlers still finish says so in its
// heartbeats (Sb-Busy: 1, docs/protocol.md §9.1). An overdue event is then
// most likely waiting in such a worker, behind the others: sending it again
// would add load to a fleet that cannot keep up, and dropping it after
// max_redeliveries would lose it. So while every live worker says it is
// busy, an overdue event is held: its deadline moves forward by
// event_timeout, no redelivery is counted, and the worker that holds it
// runs it although its Sb-Deadline passed (it knows the fleet was busy).
// Meanwhile each client has one event in flight and at most
// max_pending_events / max_pending_bytes queued, after which the gateway
// stops reading its socket: the backpressure reaches the clients instead
// of the work being dropped. As soon as one live worker is not busy, the
// normal path applies: the event is sent again (and the busy worker skips
// its stale copy).

// heldForBusy reports whether the overdue event ev of c is held because
// every live worker is busy; it then moves ev's deadline to now +
// event_timeout and counts it. The caller holds c.evMu.
func (g *Gateway) heldForBusy(c *conn, ev *pendingEvent, now time.Time) bool {
	if !g.fleetBusy(now) {
		return false
	}
	ev.deadline = now.Add(g.opts.eventTimeout)
	g.metrics.eventsHeldBusy.Add(1)
	g.log.Debug("event overdue while every worker is busy; holding it", "client_id", c.id, "event", ev.kind,
		"waited", now.Sub(ev.firstSent).String())
	return true
}

// fleetBusy reports whether at least one worker is live (heard within
// workerGone) and every live worker says it is busy.
func (g *Gateway) fleetBusy(now time.Time) bool {
	g.fleet.mu.Lock()
	defer g.fleet.mu.Unlock()
	live := 0
	for _, w := range g.fleet.workers {
		if now.Sub(w.seen) > workerGone {
			continue
		}
		if !w.busy {
			return false
		}
		live++
	}
	return live > 0
}
