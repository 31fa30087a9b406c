package e2e

import (
	"bufio"
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/worker"
)

// streamAndCheck sends n numbered messages from c while during() runs
// concurrently, and checks every echo arrives, in order.
func streamAndCheck(t *testing.T, c *sbtest.WS, n int, during func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			c.Send(strconv.Itoa(i))
			if i%50 == 0 {
				time.Sleep(time.Millisecond) // a steady stream, not one burst
			}
		}
	}()
	during()
	for i := range n {
		s, err := c.ReadErr(10 * time.Second)
		if err != nil || s != strconv.Itoa(i) {
			t.Fatalf("echo %d: got %q, %v", i, s, err)
		}
	}
	<-done
}

func TestWorkersJoinAndDrainWithoutLosingEvents(t *testing.T) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL())
	o := &orderCheck{next: map[string]int{}, busy: map[string]bool{}, holdEach: 200 * time.Microsecond}
	w1 := sbtest.Worker(t, ns.ClientURL(), o)
	w2 := sbtest.Worker(t, ns.ClientURL(), o)
	clients := make([]*sbtest.WS, 4)
	for i := range clients {
		clients[i] = sbtest.Dial(t, g, "/ws")
	}

	t.Run("a third worker takes events at once, no configuration", func(t *testing.T) {
		w3 := sbtest.Worker(t, ns.ClientURL(), o)
		before := w3.Handled()
		c := sbtest.Dial(t, g, "/ws")
		streamAndCheck(t, c, 300, func() {})
		if w3.Handled() == before {
			t.Fatal("the new worker handled no event")
		}
	})

	t.Run("stopping a worker mid-stream loses no event", func(t *testing.T) {
		errs := make(chan error, len(clients))
		for _, c := range clients[1:] {
			go func() {
				defer func() { errs <- nil }()
				streamAndCheck(t, c, 1000, func() {})
			}()
		}
		before := w1.Handled()
		streamAndCheck(t, clients[0], 1000, func() {
			// Mid-stream: the worker is handling the streams' events.
			sbtest.Eventually(t, 10*time.Second, "the worker busy with the streams", func() bool { return w1.Handled() >= before+50 })
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := w1.Stop(ctx); err != nil {
				t.Errorf("stop worker: %v", err)
			}
		})
		for range clients[1:] {
			<-errs
		}
		if w1.Handled() == 0 || w2.Handled() == 0 {
			t.Fatalf("events were not spread: w1 %d, w2 %d", w1.Handled(), w2.Handled())
		}
		if st := g.Stats(); st.EventsRedelivered != 0 || st.EventsDropped != 0 {
			t.Fatalf("%d events redelivered, %d dropped across the stop; want none", st.EventsRedelivered, st.EventsDropped)
		}
	})
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.errs) > 0 {
		t.Fatalf("%d order violations, first: %s", len(o.errs), o.errs[0])
	}
}

// stuck takes its first message and never answers: a worker that dies
// mid-event.
type stuck struct{ got, release chan struct{} }

func (s stuck) OnMessage(c *worker.Context, m worker.Message) error {
	close(s.got)
	<-s.release
	return nil
}

// marker echoes and says whether the event was redelivered.
type marker struct{}

func (marker) OnMessage(c *worker.Context, m worker.Message) error {
	return c.SendToCurrentClient([]byte(m.Text() + " redelivered=" + strconv.FormatBool(c.Redelivered())))
}

func TestTimedOutEventIsRedeliveredToAnotherWorker(t *testing.T) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL(), gatewayEventTimeout(300*time.Millisecond))
	s := stuck{got: make(chan struct{}), release: make(chan struct{})}
	dead := sbtest.Worker(t, ns.ClientURL(), s)
	t.Cleanup(func() { close(s.release) })
	c := sbtest.Dial(t, g, "/ws")
	c.Send("hello")
	<-s.got
	dead.Client().Conn().Close() // the worker dies with the event in hand
	sbtest.Worker(t, ns.ClientURL(), marker{})
	c.Expect("hello redelivered=true")
	c.Send("next")
	c.Expect("next redelivered=false")
}

// TestEventWaitsForAWorkerToAppear: a TCP client (no handshake: with no
// worker running, a WebSocket handshake is refused with 503) connects while
// no worker runs; its events wait for one.
func TestEventWaitsForAWorkerToAppear(t *testing.T) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL(), gateway.Listen("tcp+text://127.0.0.1:0"))
	c, err := net.Dial("tcp", strings.TrimPrefix(g.Addrs()[0], "tcp+text://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "early\n"); err != nil { // no worker: "no responders", the gateway retries
		t.Fatal(err)
	}
	// The connect event has been retried at least once, so the message is
	// queued behind it with no worker anywhere.
	sbtest.Eventually(t, 5*time.Second, "a retried event", func() bool { return g.Stats().EventsOut >= 2 })
	sbtest.Worker(t, ns.ClientURL(), marker{})
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "early redelivered=false\n" {
		t.Fatalf("reply %q, %v", line, err)
	}
}
