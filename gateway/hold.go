package gateway

import (
	"time"
)

// Overload (docs/operations.md, "Overload"). A worker whose events wait
// for its handler slots while its handlers still finish says so in its
// heartbeats (Sb-Busy: 1, docs/protocol.md §9.1). An overdue event is then
// most likely waiting in such a worker, behind the others: sending it again
// would add load to a fleet that cannot keep up, and dropping it after
// max_redeliveries would lose it. So an overdue event is held (its deadline
// moves forward by event_timeout, no redelivery is counted) when
//
//   - every live worker has said it is busy for holdSettle or longer, or
//   - this attempt of the event was held before and some live worker is
//     still busy: the worker that holds it stays busy until it got to it,
//     and runs it then (the fleet was busy at its deadline), or
//   - it would be dropped (its redeliveries are spent) and some live
//     worker is busy: the redelivered attempt may wait in that worker,
//     which runs it (worker busy.go: a late redelivered event is run by a
//     worker busy since its deadline),
//
// for at most holdLimit event timeouts from the first hold of an attempt,
// after which the normal path applies (the copy may be lost: its worker
// died or got stuck while the others were busy). When some live worker is
// not busy, an overdue event that was not held is sent again as before:
// the free worker may take it (and a busy worker skips its stale copy).
// None of these holds an attempt of an event that may sit in a silent
// worker instead (attemptMaySitInSilentWorker): a frozen worker says
// nothing, stays in the queue group until the server cuts it, and skips
// what it got once it resumes, so an event whose copy went to it is
// answered by no one, busy workers or not. Such an attempt is sent again
// at once (to a live worker, redeliver.go), as if no worker were busy.
// Meanwhile each client has one event in flight and at most
// max_pending_events / max_pending_bytes queued, after which the gateway
// stops reading its socket: the clients are pushed back instead of their
// events dropped.

const (
	// holdSettle is how long every live worker must have said it is busy
	// before an event is held for the first time: the worker that holds
	// the event saw the whole fleet busy by its deadline too (it allows
	// itself some margin the other way), so that it runs what was held.
	holdSettle = 200 * time.Millisecond
	// holdLimit bounds, in event timeouts, how long one attempt of an
	// event may be held.
	holdLimit = 10
	// silentSuspect is how long after its last heartbeat a worker that
	// went silent without a goodbye may still be in the queue group,
	// taking events it does not answer: a frozen worker stays there until
	// the server's pings cut it (the embedded server's defaults: within
	// 6 s; a server with longer pings keeps it longer, and holds resume
	// after this time).
	silentSuspect = 30 * time.Second
	// maxSilentSpans bounds the silent workers remembered.
	maxSilentSpans = 64
)

// silentSpan is a time a worker was silent: from its last heartbeat to
// when it was heard again (zero while it is not).
type silentSpan struct {
	id       string
	from, to time.Time
}

// end is when the span stops counting at now: when the worker was heard
// again, else now, but no later than silentSuspect after its last
// heartbeat.
func (s silentSpan) end(now time.Time) time.Time {
	end := now
	if !s.to.IsZero() {
		end = s.to
	}
	if limit := s.from.Add(silentSuspect); end.After(limit) {
		end = limit
	}
	return end
}

// wentSilent records that worker id, last heard at seen, is forgotten
// for its silence. The caller holds f.mu.
func (f *fleet) wentSilent(id string, seen time.Time) {
	if len(f.silent) >= maxSilentSpans {
		f.silent = append(f.silent[:0], f.silent[1:]...)
	}
	f.silent = append(f.silent, silentSpan{id: id, from: seen})
}

// heardAgain ends worker id's open silent span. The caller holds f.mu.
func (f *fleet) heardAgain(id string, now time.Time) {
	for i := range f.silent {
		if f.silent[i].id == id && f.silent[i].to.IsZero() {
			f.silent[i].to = now
		}
	}
}

// pruneSilent forgets the spans that ended more than keep ago: no event
// attempt that old can still be held. The caller holds f.mu.
func (f *fleet) pruneSilent(now time.Time, keep time.Duration) {
	n := 0
	for _, s := range f.silent {
		if now.Sub(s.end(now)) <= keep {
			f.silent[n] = s
			n++
		}
	}
	clear(f.silent[n:])
	f.silent = f.silent[:n]
}

// attemptMaySitInSilentWorker reports whether ev's current attempt may
// have gone to a worker that fell silent: for a direct attempt, its
// worker is not heard within directFresh or was silent since the
// attempt; for an attempt through the queue group, some worker is not
// heard within directFresh yet not forgotten, or was silent at some
// moment since directFresh before the attempt (the heartbeat before a
// freeze may be that old). The caller holds c.evMu and f.mu.
func (f *fleet) attemptMaySitInSilentWorker(ev *pendingEvent, now time.Time) bool {
	since := ev.attemptAt.Add(-directFresh)
	for id, w := range f.workers {
		if (ev.attemptTo == "" || id == ev.attemptTo) && now.Sub(w.seen) > directFresh {
			return true
		}
	}
	if ev.attemptTo != "" {
		if _, ok := f.workers[ev.attemptTo]; !ok {
			return true // it left or was forgotten
		}
	}
	for _, s := range f.silent {
		if (ev.attemptTo == "" || s.id == ev.attemptTo) && !s.end(now).Before(since) {
			return true
		}
	}
	return false
}

// busySince returns a worker's busySince after a heartbeat saying busy:
// when it turned busy, kept while it stays busy; zero when it is not.
func busySince(old fleetWorker, busy bool, now time.Time) time.Time {
	switch {
	case !busy:
		return time.Time{}
	case old.busySince.IsZero():
		return now
	}
	return old.busySince
}

// heldForBusy reports whether the overdue event ev of c is held because
// the workers are busy (see above); it then moves ev's deadline to now +
// event_timeout and counts it. The caller holds c.evMu.
func (g *Gateway) heldForBusy(c *conn, ev *pendingEvent, now time.Time) bool {
	g.fleet.mu.Lock()
	silent := g.fleet.attemptMaySitInSilentWorker(ev, now)
	allSince, anyBusy := g.fleet.load(now)
	g.fleet.mu.Unlock()
	if silent {
		return false
	}
	again := ev.heldCopy == ev.redeliveries+1
	if again && now.Sub(ev.heldSince) >= holdLimit*g.opts.EventTimeout {
		return false
	}
	settled := !allSince.IsZero() && now.Sub(allSince) >= holdSettle
	spent := ev.redeliveries >= g.opts.MaxRedeliveries
	if !settled && !((again || spent) && anyBusy) {
		return false
	}
	if !again {
		ev.heldCopy, ev.heldSince = ev.redeliveries+1, now
	}
	ev.deadline = now.Add(g.opts.EventTimeout)
	g.metrics.eventsHeldBusy.Add(1)
	g.log.Debug("event overdue while the workers are busy; holding it", "client_id", c.id, "event", ev.kind,
		"waited", now.Sub(ev.firstSent).String())
	return true
}

// load returns since when every live worker (heard within workerGone)
// says it is busy, zero when one does not or none is live, and whether at
// least one live worker is busy. The caller holds f.mu.
func (f *fleet) load(now time.Time) (allSince time.Time, anyBusy bool) {
	all := true
	live := 0
	for _, w := range f.workers {
		if now.Sub(w.seen) > workerGone {
			continue
		}
		live++
		if w.busySince.IsZero() {
			all = false
			continue
		}
		anyBusy = true
		if w.busySince.After(allSince) {
			allSince = w.busySince
		}
	}
	if !all || live == 0 {
		allSince = time.Time{}
	}
	return allSince, anyBusy
}
