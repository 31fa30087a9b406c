package gateway

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/internal/wire"
)

// TestNoHoldForAnAttemptInASilentWorker: an overdue event is held while
// every live worker is busy, but not while its attempt may sit in a
// worker that fell silent (frozen: still in the queue group, it answers
// nothing and skips the event once it resumes, so a hold only stalls the
// client). TestFrozenWorker/short_timeout under load failed this way:
// events sent to the frozen worker were held while the two live workers
// said busy, until they were not ("lost 39, duplicated 0" and "a client
// stalled 4.353s").
func TestNoHoldForAnAttemptInASilentWorker(t *testing.T) {
	g := fleetGateway()
	g.opts.EventTimeout = 2 * time.Second
	g.opts.MaxRedeliveries = 1
	beatBusy := func(id string) {
		g.onWorkerHeartbeat(&nats.Msg{Header: nats.Header{wire.HdrWorker: {id}, wire.HdrFeatures: {wire.FeatureDirect}, wire.HdrBusy: {"1"}}})
	}
	for _, id := range []string{"worker0001", "worker0002", "worker0003"} {
		beatBusy(id)
	}
	now := time.Now()
	setSeen := func(id string, seen time.Time) {
		w := g.fleet.workers[id]
		w.seen, w.busySince = seen, seen.Add(-time.Second)
		g.fleet.workers[id] = w
	}
	for id := range g.fleet.workers {
		setSeen(id, now)
	}
	c := &conn{}
	overdue := func(to string) *pendingEvent {
		return &pendingEvent{kind: wire.EventMessage, firstSent: now.Add(-2 * time.Second), deadline: now,
			attemptAt: now.Add(-2 * time.Second), attemptTo: to}
	}
	if !g.heldForBusy(c, overdue(""), now) {
		t.Fatal("not held while every worker is busy and heard")
	}
	// worker0003 falls silent: not heard for 2 s, not forgotten yet.
	setSeen("worker0003", now.Add(-2*time.Second))
	if g.heldForBusy(c, overdue(""), now) {
		t.Error("held while a worker that may have taken it is silent for 2 s")
	}
	if !g.heldForBusy(c, overdue("worker0001"), now) {
		t.Error("a direct attempt to a busy, heard worker not held")
	}
	// Forgotten for its silence: its span still counts.
	setSeen("worker0003", now.Add(-4*time.Second))
	g.recountFleet(now)
	if _, ok := g.fleet.workers["worker0003"]; ok || len(g.fleet.silent) != 1 {
		t.Fatalf("silent worker not forgotten and recorded: %v", g.fleet.silent)
	}
	if g.heldForBusy(c, overdue(""), now) {
		t.Error("held while a worker silent since before the attempt may hold it")
	}
	if g.heldForBusy(c, overdue("worker0003"), now) {
		t.Error("a direct attempt to the silent worker held")
	}
	if !g.heldForBusy(c, overdue("worker0002"), now) {
		t.Error("a direct attempt to a busy, heard worker not held while another is silent")
	}
	// Heard again: an attempt sent well after it came back may be held.
	beatBusy("worker0003")
	setSeen("worker0003", now)
	g.fleet.silent[0].to = now.Add(-5 * time.Second)
	if !g.heldForBusy(c, overdue(""), now) {
		t.Error("not held although the silent worker was back before the attempt")
	}
	// A span counts silentSuspect at most after the last heartbeat.
	g.fleet.silent[0] = silentSpan{id: "worker0009", from: now.Add(-silentSuspect - 4*time.Second)}
	if !g.heldForBusy(c, overdue(""), now) {
		t.Error("not held because of a worker silent for longer than silentSuspect")
	}
	// Spans that ended longer ago than a hold lasts are forgotten (the
	// three workers, silent by then, get spans of their own).
	g.recountFleet(now.Add((holdLimit + 1) * g.opts.EventTimeout))
	for _, s := range g.fleet.silent {
		if s.id == "worker0009" {
			t.Errorf("old span kept: %v", s)
		}
	}
	if len(g.fleet.silent) != 3 {
		t.Errorf("%d spans after the three workers fell silent, want 3", len(g.fleet.silent))
	}
}
