package worker

import (
	"time"
)

// Freezes and bus outages, as the worker sees them from inside.
//
// A worker that was frozen (SIGSTOP, a stuck VM, a machine that slept)
// could not announce itself meanwhile: its gateways stopped counting it
// as a live worker, timed its events out and sent them again elsewhere.
// A worker whose bus was away could not answer either, but its gateways
// were cut off too and paused their deadlines (gateway busPresent). The
// stale rule (Worker.skipStale) needs both: an event whose deadline passed
// before the worker resumed from a freeze is skipped; one whose deadline
// passed while the bus was away gets the outage added to its deadline.

// monitorTick is how often the worker's monitor looks at its backlog, its
// bus connection and the clock (heartbeat.run) while it is busy or events
// wait for a handler slot: the fastest it announces a change of its busy
// state.
const monitorTick = 100 * time.Millisecond

// monitorIdleTick is how often it looks otherwise. An idle worker's
// monitor wakes its process five times a second, not ten: at light load
// each wake-up of an idle runtime costs about as much CPU as a message
// (docs/performance.md, "Light load"). An event that starts waiting for a
// slot wakes the monitor at once (Worker.kickMonitor), and a freeze is
// still a gap of freezeGap, three idle ticks.
const monitorIdleTick = 500 * time.Millisecond

// freezeGap is the gap between two monitor ticks, or since the last one,
// that the worker takes for a freeze: 15 ticks. A goroutine on a loaded
// machine waits milliseconds for a CPU, not seconds.
const freezeGap = 1500 * time.Millisecond

// clockState is what the monitor learned of freezes and outages. The
// worker's busy state (busy.go) guards it with its mutex.
type clockState struct {
	lastTick  time.Time // the monitor's last tick; zero before it runs
	resumed   time.Time // when the worker last came back from a freeze
	awayStart time.Time // when its bus connection went down; zero while up
	// The last outage that ended: [awayFrom, awayTo].
	awayFrom, awayTo time.Time
}

// frozenNow reports whether the monitor missed ticks for freezeGap by now:
// the worker was frozen and has just resumed (the monitor's goroutine may
// not have run yet). The caller holds the busy state's mutex.
func (c *clockState) frozenNow(now time.Time) bool {
	return !c.lastTick.IsZero() && now.Sub(c.lastTick) > freezeGap
}

// tick records a monitor tick: a freeze when the gap since the last tick
// is above freezeGap, and a change of the bus connection. It reports the
// gap when it was a freeze, else 0. The caller holds the busy state's
// mutex.
func (c *clockState) tick(now time.Time, connected bool) (froze time.Duration) {
	if c.frozenNow(now) {
		froze = now.Sub(c.lastTick)
		c.resumed = now
	}
	c.lastTick = now
	switch {
	case !connected && c.awayStart.IsZero():
		c.awayStart = now
	case connected && !c.awayStart.IsZero():
		c.awayFrom, c.awayTo = c.awayStart, now
		c.awayStart = time.Time{}
	}
	return froze
}

// outageShift is how much later the gateway that sent an event with
// deadline dl waits for it because of a bus outage: an event whose
// deadline had not passed when the bus went away gets the outage added,
// as the gateway's paused clock does; while the bus is still away,
// nothing counts. ok is false when no outage applies. The caller holds
// the busy state's mutex.
func (c *clockState) outageShift(dl, now time.Time) (shift time.Duration, ok bool) {
	if !c.awayStart.IsZero() && dl.After(c.awayStart) {
		return now.Sub(c.awayStart), true
	}
	if !c.awayTo.IsZero() && dl.After(c.awayFrom) {
		return c.awayTo.Sub(c.awayFrom), true
	}
	return 0, false
}
