package worker

import (
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Overload (docs/operations.md, "Overload"). A worker is busy while events
// wait for one of its MaxConcurrency handler slots and it still finishes
// handlers: the events it holds are late because of load, not lost. It
// says so in its heartbeats (Sb-Busy: 1) and announces a change at once
// (at most every monitorTick). A gateway holds an overdue event instead of
// sending it again while every live worker says it is busy: a resend would
// only add load, and a drop would lose the event (gateway hold.go). The
// worker runs such a held event although its Sb-Deadline passed: the
// event's deadline passed while every live worker, itself included, was
// busy (it listens to the other workers' heartbeats too), so every gateway
// held it (Worker.skipStale).

// busyStuckAfter is how long a worker with a backlog may go without
// finishing a handler and still call itself busy: a worker whose handlers
// all hang is stuck, and its gateways must send its events elsewhere.
const busyStuckAfter = 5 * time.Second

// busyClearTicks is how many monitor ticks in a row must find no
// backlog before a busy worker says it is not: 1 s.
const busyClearTicks = 10

// peerGone is how long a worker counts another as live after its last
// heartbeat: the gateways' own rule (gateway fleet.go).
const peerGone = 3 * time.Second

// holdMargin is how far after an event's deadline the worker, and the
// whole fleet, may have become busy for the worker still to take the
// event as held: a gateway decides at its first scan after the deadline
// (up to 250 ms later), once the fleet has been busy for 200 ms (gateway
// hold.go), on heartbeats that travelled to it.
const holdMargin = 500 * time.Millisecond

// busySpans is how many past spans of a busy fleet the worker remembers.
const busySpans = 8

// busyState is the worker's view of its own load and of the fleet's.
type busyState struct {
	mu    sync.Mutex
	clock clockState
	// self is the busy state the worker announces; clear counts the
	// monitor ticks in a row that found no backlog (it stays busy until
	// busyClearTicks did, so that a backlog that empties for a moment, as
	// NATS spreads events unevenly, does not flap the state).
	self      bool
	selfSince time.Time // when self last turned true
	clear     int
	// progress is when the worker was last seen to finish a handler, and
	// handled the count it then had.
	progress time.Time
	handled  uint64
	peers    map[string]peerState // other workers, by id
	// allSince is when every live worker, this one included, became
	// busy, continuously since and without a freeze of this one; zero
	// while that is not so.
	allSince time.Time
	// past holds the last spans in which every live worker was busy,
	// oldest first overwritten.
	past [busySpans]span
	next int
}

type span struct{ from, to time.Time }

type peerState struct {
	busy bool
	seen time.Time
}

// backlog reports whether events wait for a handler slot: a dispatch is
// blocked on the full semaphore, or NATS holds event messages for the
// worker's subscriptions that no dispatch took yet.
func (w *Worker) backlog(subs []*nats.Subscription) bool {
	if w.waiting.Load() > 0 {
		return true
	}
	for _, s := range subs {
		if n, _, err := s.Pending(); err == nil && n > 0 {
			return true
		}
	}
	return false
}

// monitor runs every monitorTick while active, else every
// monitorIdleTick, and when an event starts waiting for a handler slot
// (heartbeat.run): it records freezes and outages, updates the busy state
// and reports whether it changed (the caller announces the worker then),
// and whether the worker is active: busy, or events wait.
func (w *Worker) monitor(now time.Time, subs []*nats.Subscription) (changed, active bool) {
	backlog := w.backlog(subs)
	handled := w.handled.Load()
	connected := w.nc.IsConnected()
	b := &w.busy
	b.mu.Lock()
	froze := b.clock.tick(now, connected)
	if handled != b.handled {
		b.handled, b.progress = handled, now
	}
	busy := b.self
	switch {
	case backlog && !b.progress.IsZero() && now.Sub(b.progress) < busyStuckAfter:
		busy, b.clear = true, 0
	case backlog: // stuck: no handler finished for busyStuckAfter
		busy, b.clear = false, 0
	default:
		b.clear++
		if b.clear >= busyClearTicks {
			busy = false
		}
	}
	changed = busy != b.self
	b.self = busy
	if changed && busy {
		b.selfSince = now
	}
	if froze > 0 {
		b.allSince = time.Time{} // nothing held what waited meanwhile
	}
	b.recountLocked(now)
	b.mu.Unlock()
	if froze > 0 {
		w.log.Warn("worker resumed after a freeze: events whose deadline passed meanwhile are skipped",
			"frozen", froze.Round(time.Millisecond).String())
	}
	if changed {
		w.log.Debug("worker busy state changed", "busy", busy)
	}
	return changed, busy || backlog
}

// kickMonitor makes the monitor look at once: an event has started
// waiting for a handler slot, and an idle monitor would look only
// monitorIdleTick later.
func (w *Worker) kickMonitor() {
	select {
	case w.monKick <- struct{}{}:
	default:
	}
}

// peer records another worker's heartbeat (busy says whether it
// announced Sb-Busy: 1), or its goodbye (bye).
func (w *Worker) peer(id string, busy, bye bool, now time.Time) {
	b := &w.busy
	b.mu.Lock()
	defer b.mu.Unlock()
	if bye {
		delete(b.peers, id)
	} else {
		if b.peers == nil {
			b.peers = make(map[string]peerState)
		}
		b.peers[id] = peerState{busy: busy, seen: now}
	}
	b.recountLocked(now)
}

// recountLocked updates allSince; the caller holds b.mu.
func (b *busyState) recountLocked(now time.Time) {
	all := b.self && !b.clock.frozenNow(now)
	for id, p := range b.peers {
		if now.Sub(p.seen) > peerGone {
			delete(b.peers, id)
			continue
		}
		all = all && p.busy
	}
	switch {
	case !all && !b.allSince.IsZero():
		b.past[b.next] = span{b.allSince, now}
		b.next = (b.next + 1) % busySpans
		b.allSince = time.Time{}
	case all && b.allSince.IsZero():
		b.allSince = now
	}
}

// fleetBusyNearLocked reports whether every live worker was busy at some
// moment between dl and dl + holdMargin; the caller holds b.mu.
func (b *busyState) fleetBusyNearLocked(dl time.Time) bool {
	late := dl.Add(holdMargin)
	if !b.allSince.IsZero() && !b.allSince.After(late) {
		return true
	}
	for _, p := range b.past {
		if !p.from.IsZero() && !p.from.After(late) && !p.to.Before(dl) {
			return true
		}
	}
	return false
}

// isBusy reports the busy state the worker announces.
func (w *Worker) isBusy() bool {
	w.busy.mu.Lock()
	defer w.busy.mu.Unlock()
	return w.busy.self
}

// heldAt reports whether an event whose deadline dl (plus the allowed
// skew) passed before now is still wanted: its deadline passed while the
// bus was away (the gateways paused: the outage is added to it), or this
// worker has been busy since the deadline and either every live worker
// was busy then or the event is a redelivery (the gateways held it, and
// hold it while some worker is busy; a redelivery whose deadline passed
// is held rather than dropped while a worker is busy). An event whose
// deadline passed before the worker resumed from a freeze is not: its
// gateways could not hear the worker and sent it elsewhere.
func (w *Worker) heldAt(dl, now time.Time, redelivered bool) bool {
	b := &w.busy
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.clock.frozenNow(now) || !dl.After(b.clock.resumed) {
		return false
	}
	if shift, ok := b.clock.outageShift(dl, now); ok && !now.After(dl.Add(shift)) {
		return true
	}
	if !b.self || b.selfSince.After(dl.Add(holdMargin)) {
		return false
	}
	b.recountLocked(now)
	return redelivered || b.fleetBusyNearLocked(dl)
}
