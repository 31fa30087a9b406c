package worker_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/worker"
)

// holder holds the message "hold" until release is closed, and echoes
// every message.
type holder struct{ held, release chan struct{} }

func newHolder() *holder { return &holder{held: make(chan struct{}), release: make(chan struct{})} }

func (h *holder) OnMessage(c *worker.Context, m worker.Message) error {
	if m.Text() == "hold" {
		close(h.held)
		<-h.release
	}
	return c.SendToCurrentClient(m.Data)
}

// TestStopWaitsForRunningHandlers: Stop returns only after the handler
// that runs when it is called has finished and its reply was sent. The
// worker's NATS connection is closed right after Stop, as a process that
// exits does, so a reply sent after Stop is lost and would only come back
// as a redelivery after event_timeout (30 s here, longer than the test
// waits).
func TestStopWaitsForRunningHandlers(t *testing.T) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL(), gateway.EventTimeout(30*time.Second))
	h := newHolder()
	w := sbtest.Worker(t, ns.ClientURL(), h)
	c := sbtest.Dial(t, g, "/ws")
	c.Send("hold")
	<-h.held

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := w.Stop(ctx)
		w.Client().Conn().Close() // the process exits
		stopped <- err
	}()
	// Stop must not return while the handler runs; a Stop that does is
	// caught here, or else by the lost reply below.
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a handler was still running", err)
	case <-time.After(100 * time.Millisecond):
	}
	released := time.Now()
	close(h.release)
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Stop: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return within 5 s of its last handler finishing")
	}
	if d := time.Since(released); d > 2*time.Second {
		t.Errorf("Stop returned %v after its last handler finished", d)
	}
	c.Expect("hold")
	if st := g.Stats(); st.EventsRedelivered != 0 || st.EventsDropped != 0 {
		t.Fatalf("%d events redelivered, %d dropped; want none", st.EventsRedelivered, st.EventsDropped)
	}
}

// TestStopDrainsBufferedEvents: events a worker has received but not yet
// started (they wait behind MaxConcurrency) are handled before Stop
// returns, not dropped: Stop drains its subscriptions instead of
// unsubscribing. Events go one per NATS message (MaxEventBatch(1)), so
// they wait in the subscription, not inside one batch being dispatched.
func TestStopDrainsBufferedEvents(t *testing.T) {
	ns := sbtest.NATS(t)
	gnc := sbtest.Conn(t, ns.ClientURL())
	g := sbtest.GatewayOn(t, gnc, gateway.EventTimeout(30*time.Second), gateway.MaxEventBatch(1))
	h := newHolder()
	w := sbtest.Worker(t, ns.ClientURL(), h, worker.MaxConcurrency(1))
	const n = 5
	clients := make([]*sbtest.WS, n)
	for i := range clients {
		clients[i] = sbtest.Dial(t, g, "/ws")
	}
	sbtest.Eventually(t, 5*time.Second, "the connect events handled", func() bool { return w.Handled() == n })
	clients[0].Send("hold")
	<-h.held
	for i, c := range clients[1:] {
		c.Send("m" + strconv.Itoa(i+1))
	}
	// The events reached the worker's connection: the gateway published
	// them, the server routed them (gateway flush), and the worker's
	// client read them before the answer to its own ping.
	sbtest.Eventually(t, 5*time.Second, "the events published", func() bool { return g.Stats().EventsOut == 2*n })
	if err := gnc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := w.Client().Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	subs := ns.NumSubscriptions()
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopped <- w.Stop(ctx)
	}()
	// The worker left the queue group (4 subscriptions: connect, message,
	// close and message batches) with the events still waiting in it.
	sbtest.Eventually(t, 5*time.Second, "the worker's subscriptions gone", func() bool { return ns.NumSubscriptions() <= subs-4 })
	close(h.release)
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	clients[0].Expect("hold")
	for i, c := range clients[1:] {
		c.Expect("m" + strconv.Itoa(i+1))
	}
	if st := g.Stats(); st.EventsRedelivered != 0 || st.EventsDropped != 0 {
		t.Fatalf("%d events redelivered, %d dropped; want none", st.EventsRedelivered, st.EventsDropped)
	}
}
