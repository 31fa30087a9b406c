package gateway

import (
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/internal/wire"
)

// TestEventsCarryDeadline: a lone event, a redelivery and a batch each
// carry Sb-Deadline, event_timeout after they were published, in Unix
// milliseconds (docs/protocol.md §5.1).
func TestEventsCarryDeadline(t *testing.T) {
	const timeout = 3 * time.Second
	f := newPathFixture(t, 2, EventTimeout(timeout))
	nc, err := nats.Connect(f.g.nc.ConnectedUrl())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	got := make(chan *nats.Msg, 4)
	for _, subject := range []string{f.g.subj.Event(wire.EventMessage), f.g.subj.EventBatch(wire.EventMessage)} {
		if _, err := nc.QueueSubscribe(subject, wire.WorkerQueue, func(m *nats.Msg) { got <- m }); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	check := func(what string, publish func()) {
		t.Helper()
		before := time.Now()
		publish()
		after := time.Now()
		var m *nats.Msg
		select {
		case m = <-got:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: nothing received", what)
		}
		ms, err := strconv.ParseInt(m.Header.Get(wire.HdrDeadline), 10, 64)
		if err != nil {
			t.Fatalf("%s: Sb-Deadline %q: %v", what, m.Header.Get(wire.HdrDeadline), err)
		}
		if lo, hi := before.Add(timeout).UnixMilli(), after.Add(timeout).UnixMilli(); ms < lo || ms > hi {
			t.Fatalf("%s: deadline %d, want within [%d, %d]", what, ms, lo, hi)
		}
	}
	event := func(c *conn, seq uint64) *pendingEvent {
		ev := f.g.pools.event(wire.EventMessage)
		ev.data = append(ev.data, "hi"...)
		ev.seq = seq
		ev.publishing, ev.finished = 1, true // publishDone gives it back
		return ev
	}
	check("lone event", func() { f.g.publishSingle(f.conns[0], event(f.conns[0], 1), false) })
	check("redelivery", func() { f.g.publishSingle(f.conns[0], event(f.conns[0], 2), true) })
	var bm batchMsg
	check("batch", func() {
		items := []batchItem{{f.conns[0], event(f.conns[0], 3)}, {f.conns[1], event(f.conns[1], 1)}}
		if n := f.g.publishBatch(&bm, items); n != 2 {
			t.Fatalf("published %d of 2 events", n)
		}
	})
}
