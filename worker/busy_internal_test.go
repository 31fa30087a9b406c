package worker

import (
	"testing"
	"time"
)

// TestHeldAt: the stale rule's exceptions. A worker runs an event whose
// deadline passed when the whole fleet was busy at the deadline and the
// worker has been busy since (the gateways held it), or when the deadline
// passed while the bus was away (the gateways paused); never when the
// deadline passed before the worker resumed from a freeze, nor when a
// worker was not busy at the deadline (a gateway sent it elsewhere).
func TestHeldAt(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	s := time.Second
	// busyWorker: busy since t0, its monitor ticking every 100 ms until
	// tick, one peer heard at t0 and at peerSeen saying peerBusy.
	busyWorker := func(tick time.Duration, peerBusy bool, peerSeen time.Duration) *Worker {
		w := &Worker{}
		b := &w.busy
		b.self, b.selfSince = true, t0
		w.peer("peer", peerBusy, false, t0)
		for d := time.Duration(0); d <= tick; d += monitorTick {
			if d == peerSeen {
				w.peer("peer", peerBusy, false, at(peerSeen))
			}
			b.clock.lastTick = at(d)
			b.recountLocked(at(d))
		}
		return w
	}
	cases := []struct {
		name   string
		w      *Worker
		dl, at time.Duration
		want   bool
	}{
		{"fleet busy at the deadline and since", busyWorker(3*s, true, 2900*time.Millisecond), 1 * s, 3 * s, true},
		{"a peer not busy", busyWorker(3*s, false, 2900*time.Millisecond), 1 * s, 3 * s, false},
		{"the peer silent: gone, the fleet is this worker", busyWorker(5*s, false, 0), 4 * s, 5 * s, true},
		{"frozen just now (monitor behind)", busyWorker(1*s, true, 900*time.Millisecond), 1200 * time.Millisecond, 3 * s, false},
		{"deadline before the worker became busy", busyWorker(3*s, true, 2900*time.Millisecond), -1 * s, 3 * s, false},
	}
	for _, c := range cases {
		if got := c.w.heldAt(at(c.dl), at(c.at), false); got != c.want {
			t.Errorf("%s: heldAt = %v, want %v", c.name, got, c.want)
		}
	}

	// Resumed from a freeze at 2 s: a deadline before that is skipped,
	// one after it is held (the fleet busy since).
	w := busyWorker(3*s, true, 2900*time.Millisecond)
	w.busy.clock.resumed = at(2 * s)
	if w.heldAt(at(1*s), at(3*s), false) {
		t.Error("a deadline that passed while the worker was frozen is held")
	}
	w.busy.allSince = at(2 * s) // recounted after the freeze
	if !w.heldAt(at(2500*time.Millisecond), at(3*s), false) {
		t.Error("a deadline after the resume, the fleet busy since, is not held")
	}

	// Not busy now: nothing is held, whatever the past.
	w = busyWorker(3*s, true, 2900*time.Millisecond)
	w.busy.self = false
	if w.heldAt(at(1*s), at(3*s), false) {
		t.Error("held by a worker that is not busy")
	}

	// The fleet was busy from 0 to 2 s, then a peer became free; this
	// worker stayed busy: an event due at 1 s was held, and is still held
	// (gateways hold it while some worker is busy); one due at 2.6 s was
	// not.
	w = busyWorker(2*s, true, 0)
	w.peer("peer", false, false, at(2*s))
	w.busy.clock.lastTick = at(3 * s)
	if !w.heldAt(at(1*s), at(3*s), false) {
		t.Error("an event held while the fleet was busy is no longer held")
	}
	if w.heldAt(at(2600*time.Millisecond), at(3*s), false) {
		t.Error("an event due after the fleet stopped being busy is held")
	}
	// A redelivery whose deadline passed while this worker was busy: the
	// gateways hold it rather than drop it while a worker is busy.
	if !w.heldAt(at(2600*time.Millisecond), at(3*s), true) {
		t.Error("a redelivery due while this worker was busy is not held")
	}

	// A bus outage from 10 s to 50 s: an event due at 11 s gets 40 s
	// more, as its gateway's paused deadline does; one due before the
	// outage does not.
	w = &Worker{}
	w.busy.clock.lastTick = at(51 * s)
	w.busy.clock.awayFrom, w.busy.clock.awayTo = at(10*s), at(50*s)
	if !w.heldAt(at(11*s), at(51*s), false) {
		t.Error("an event due during the outage, within its shifted deadline, is skipped")
	}
	if w.heldAt(at(11*s), at(52*s), false) {
		t.Error("an event past its shifted deadline is held")
	}
	if w.heldAt(at(9*s), at(50*s), false) {
		t.Error("an event due before the outage is held")
	}
	// While the bus is away, an event due after it went is held.
	w.busy.clock.awayStart = at(60 * s)
	w.busy.clock.lastTick = at(65 * s)
	if !w.heldAt(at(61*s), at(65*s), false) {
		t.Error("an event due while the bus is away is skipped")
	}
}
