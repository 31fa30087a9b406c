package gateway

import (
	"testing"

	"github.com/switchboard-go/switchboard/internal/wire"
)

// TestEventQueueOrderAndReuse: events come out in the order they went in,
// and a queue that keeps being refilled reuses its array.
func TestEventQueueOrderAndReuse(t *testing.T) {
	var q eventQueue
	evs := make([]*pendingEvent, 100)
	for i := range evs {
		evs[i] = &pendingEvent{seq: uint64(i)}
	}
	next := 0
	check := func() {
		t.Helper()
		if ev := q.pop(); ev != evs[next%len(evs)] {
			t.Fatalf("pop = %v, want event %d", ev, next)
		}
		next++
	}
	for i := range 6 { // a window of 6 events sliding over many rounds
		q.push(evs[i])
	}
	in := 6
	for range 10 {
		q.push(evs[in%len(evs)])
		in++
		check()
	}
	arr := &q.items[:cap(q.items)][0]
	for range 1000 {
		q.push(evs[in%len(evs)])
		in++
		check()
	}
	if &q.items[:cap(q.items)][0] != arr {
		t.Error("a steadily used queue grew a new array")
	}
	for q.len() > 0 {
		check()
	}
	if next != in || q.pop() != nil {
		t.Fatalf("popped %d of %d", next, in)
	}
}

// TestEventNotRecycledWhilePublished: when a reply finishes an event the
// scanner is still resending, the event goes back to the pool only when
// that publish ends, never while nats.go may be reading its data.
func TestEventNotRecycledWhilePublished(t *testing.T) {
	f := newPathFixture(t, 1, MaxEventBatch(1)) // enqueue publishes before it returns
	f.discardEvents(t)
	c := f.conns[0]
	ev := f.g.pools.event(wire.EventMessage)
	ev.data = append(ev.data, "hello"...)
	c.enqueue(ev, false)

	c.evMu.Lock()
	if c.inflight != ev || ev.publishing != 0 {
		t.Fatalf("in flight %p (want %p), %d publishes under way", c.inflight, ev, ev.publishing)
	}
	ev.publishing++ // the scanner starts resending it
	ev.done = true  // and a reply to the first attempt arrives
	c.evMu.Unlock()
	c.advance()
	if ev.kind != wire.EventMessage || string(ev.data) != "hello" {
		t.Fatal("the event was recycled while a publish of it was under way")
	}
	c.publishDone(ev, false) // the resend ends
	if ev.kind != "" || len(ev.data) != 0 {
		t.Fatal("the event was not recycled after its last publish")
	}
}
