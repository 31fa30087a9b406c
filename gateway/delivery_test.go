package gateway_test

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/worker"
)

// sink never answers the message "stuck" (until the test ends) and
// echoes every other message: a worker that hangs on one event.
type sink struct{ release chan struct{} }

func (s sink) OnMessage(c *worker.Context, m worker.Message) error {
	if m.Text() == "stuck" {
		<-s.release
		return nil
	}
	return c.SendToCurrentClient(m.Data)
}

// startSink starts a sink worker whose stuck handlers are let go at
// cleanup, before the worker is stopped.
func startSink(t *testing.T, url string) *worker.Worker {
	t.Helper()
	s := sink{release: make(chan struct{})}
	w := sbtest.Worker(t, url, s)
	t.Cleanup(func() { close(s.release) })
	return w
}

// TestRedeliveryLimitDropsTheEvent: an event whose reply never comes is
// sent again max_redeliveries times, each after event_timeout, and then
// dropped (counted). The client is not left talking past the hole: it is
// closed with 1013 (try again later) and counted as
// refused{reason="event_dropped"}; a new connection goes on.
func TestRedeliveryLimitDropsTheEvent(t *testing.T) {
	for _, max := range []int{0, 2} {
		t.Run("max_redeliveries="+strconv.Itoa(max), func(t *testing.T) {
			ns := sbtest.NATS(t)
			g := sbtest.Gateway(t, ns.ClientURL(), gateway.EventTimeout(100*time.Millisecond), gateway.MaxRedeliveries(max))
			startSink(t, ns.ClientURL())
			c := sbtest.Dial(t, g, "/ws")
			c.Send("stuck")
			expectClose(t, c.Conn, 1013)
			sbtest.Eventually(t, 5*time.Second, "the event dropped and the client counted", func() bool {
				st := g.Stats()
				return st.EventsDropped == 1 && st.Refused["event_dropped"] == 1
			})
			if st := g.Stats(); st.EventsRedelivered != uint64(max) {
				t.Fatalf("the event was redelivered %d times, want %d", st.EventsRedelivered, max)
			}
			again := sbtest.Dial(t, g, "/ws")
			again.Send("next")
			again.Expect("next")
		})
	}
}

// TestNoWorkerWaitDropsTheEvent: an event that finds no worker is tried
// again until no_worker_wait has passed, then dropped, and the client
// closed with 1013 (refused event_dropped); a worker that appears later
// gets the next connection's events, not the dropped one.
func TestNoWorkerWaitDropsTheEvent(t *testing.T) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL(), gateway.EventTimeout(time.Second), gateway.NoWorkerWait(300*time.Millisecond))
	w := startSink(t, ns.ClientURL())
	c := sbtest.Dial(t, g, "/ws")
	c.Send("first")
	c.Expect("first")
	ctx := t.Context()
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.Send("lost")
	sbtest.Eventually(t, 5*time.Second, "the event dropped", func() bool { return g.Stats().EventsDropped == 1 })
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("dropped after %v, before no_worker_wait", d)
	}
	if st := g.Stats(); st.EventsOut < 4 { // connect, first, lost and at least one retry
		t.Fatalf("%d events published: the event without a worker was not retried", st.EventsOut)
	}
	expectClose(t, c.Conn, 1013)
	sbtest.Eventually(t, 5*time.Second, "the client counted", func() bool { return g.Stats().Refused["event_dropped"] == 1 })
	startSink(t, ns.ClientURL())
	again := sbtest.Dial(t, g, "/ws")
	again.Send("after")
	again.Expect("after")
}

// TestMaxPendingEventsPushesBack: while a client has max_pending_events
// events waiting behind the one in flight, the gateway stops reading it.
// The client writes, in one write, a message the worker holds, eight more
// and a ping. The gateway answers the ping when it reads it, so with the
// limit of 2 the pong can only come once the fourth message is answered
// (one in flight, two queued); a gateway that read on would answer the
// ping before any message.
func TestMaxPendingEventsPushesBack(t *testing.T) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL(), gateway.MaxPendingEvents(2))
	h := &holdFirst{held: make(chan struct{}), release: make(chan struct{})}
	w := sbtest.Worker(t, ns.ClientURL(), h)
	c := sbtest.Dial(t, g, "/ws")
	sbtest.Eventually(t, 5*time.Second, "the connect event handled", func() bool { return w.Handled() == 1 })
	var out bytes.Buffer
	msgs := []string{"hold", "1", "2", "3", "4", "5", "6", "7", "8"}
	for _, m := range msgs {
		if err := ws.WriteFrame(&out, ws.MaskFrame(ws.NewTextFrame([]byte(m)))); err != nil {
			t.Fatal(err)
		}
	}
	if err := ws.WriteFrame(&out, ws.MaskFrame(ws.NewPingFrame([]byte("p")))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Conn.Write(out.Bytes()); err != nil {
		t.Fatal(err)
	}
	<-h.held
	// hold, 1, 2 and 3 read: 3 waits for room in the queue.
	sbtest.Eventually(t, 5*time.Second, "four messages read", func() bool { return g.Stats().MsgsIn >= 4 })
	close(h.release)
	var got []string
	_ = c.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(got) < len(msgs)+1 {
		f, err := ws.ReadFrame(c.Conn)
		if err != nil {
			t.Fatalf("read after %q: %v", got, err)
		}
		switch f.Header.OpCode {
		case ws.OpPong:
			got = append(got, "pong")
		case ws.OpText:
			got = append(got, string(f.Payload))
		}
	}
	pong := 0
	for pong < len(got) && got[pong] != "pong" {
		pong++
	}
	if pong < 4 {
		t.Fatalf("frames %q: the ping was answered after %d replies, want at least 4 (the reader went on past max_pending_events)", got, pong)
	}
}

// holdFirst holds the message "hold" until release, and echoes.
type holdFirst struct{ held, release chan struct{} }

func (h *holdFirst) OnMessage(c *worker.Context, m worker.Message) error {
	if m.Text() == "hold" {
		close(h.held)
		<-h.release
	}
	return c.SendToCurrentClient(m.Data)
}
