package gateway

import (
	"time"
)

// Direct redelivery (docs/protocol.md §5.9). A first send goes to the
// worker queue group, and NATS picks the worker. When the reply is
// overdue, the worker that took the event may be frozen (SIGSTOP, a
// stuck machine): its socket stays open and the server keeps it in the
// queue group until its pings go unanswered, so a redelivery through the
// group can land on it again. Instead, the scanner sends every resend (a
// redelivery, and a retry after "no responders") to one worker's own
// direct subject: a worker that announced wire.FeatureDirect and was heard
// from within directFresh, the one picked least recently, and not the one
// this event's previous resend went to while another qualifies. A worker
// that froze before the event was sent has been silent for at least
// event_timeout when its redelivery is due, so with event_timeout at
// least directFresh it is never picked. With no such worker the resend
// goes to the queue group, as it would without this.

// directFresh is how recently a worker must have announced itself to be
// sent a redelivery: 1.5 times the workers' heartbeat interval (1 s), so
// that one heartbeat late by half an interval does not rule it out.
const directFresh = 1500 * time.Millisecond

// directPicks spreads direct resends over the fresh workers: each pick
// takes the worker whose last pick is oldest. Guarded by fleet.mu.
type directPicks struct {
	n    uint64            // picks so far
	last map[string]uint64 // worker id → n at its last pick
}

// pickDirect returns the worker to send a resend to directly, avoiding
// avoid (the worker the previous resend went to) unless it is the only
// one, or false when no worker qualifies.
func (g *Gateway) pickDirect(now time.Time, avoid string) (string, bool) {
	f := &g.fleet
	f.mu.Lock()
	defer f.mu.Unlock()
	best, avoided := "", false
	var bestPick uint64
	bestBusy := false
	for id, w := range f.workers {
		if !w.direct || now.Sub(w.seen) > directFresh {
			continue
		}
		if id == avoid {
			avoided = true
			continue
		}
		// A worker that says it is busy (hold.go) comes last: the
		// resend would wait behind its backlog.
		busy := !w.busySince.IsZero()
		p := f.picks.last[id]
		if best == "" || bestBusy && !busy || busy == bestBusy && (p < bestPick || p == bestPick && id < best) {
			best, bestPick, bestBusy = id, p, busy
		}
	}
	if best == "" {
		if !avoided {
			return "", false
		}
		best = avoid // the only fresh worker: alive, if slow
	}
	if f.picks.last == nil || len(f.picks.last) > 2*len(f.workers)+16 {
		// Forget workers that left, now and then.
		old := f.picks.last
		f.picks.last = make(map[string]uint64, len(f.workers))
		for id := range f.workers {
			if p, ok := old[id]; ok {
				f.picks.last[id] = p
			}
		}
	}
	f.picks.n++
	f.picks.last[best] = f.picks.n
	return best, true
}

// resend publishes ev again for the scanner: to a fresh worker's direct
// subject when one qualifies (pickDirect), else to the queue group. The
// caller counted the publish in ev.publishing.
func (g *Gateway) resend(c *conn, ev *pendingEvent, redelivered bool, now time.Time) {
	c.evMu.Lock()
	id, ok := g.pickDirect(now, ev.directTo)
	if ok {
		ev.directTo = id
	}
	ev.attemptAt, ev.attemptTo = now, id // id is "" when !ok
	c.evMu.Unlock()
	if !ok {
		g.log.Debug("no fresh worker takes direct events; resending to the queue group",
			"client_id", c.id, "event", ev.kind)
		g.publishEvent(c, ev, redelivered)
		return
	}
	// Counted and logged before the publish: once it is done, a reply
	// may finish ev and give it back to the pool.
	g.metrics.eventsDirect.Add(1)
	g.log.Debug("event resent to one worker", "client_id", c.id, "event", ev.kind, "worker_id", id,
		"redelivered", redelivered)
	g.publishTo(c, ev, redelivered, id)
}
