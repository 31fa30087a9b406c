package gateway_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/nats-io/nats.go"
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/internal/wire"
	"github.com/switchboard-go/switchboard/worker"
)

// eventSpy is a passive subscriber on every event subject: it records
// each event published, as "kind:body".
type eventSpy struct {
	mu     sync.Mutex
	events []string
}

func spyEvents(t *testing.T, url string, subjects ...string) *eventSpy {
	t.Helper()
	s := &eventSpy{}
	nc := sbtest.Conn(t, url)
	// Never sb.ev.wsconnect: a subscriber there would be asked to answer
	// handshakes.
	for _, subject := range subjects {
		if _, err := nc.Subscribe(subject, func(m *nats.Msg) {
			kind := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
			s.mu.Lock()
			s.events = append(s.events, kind+":"+string(m.Data))
			s.mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return s
}

// expectNone fails if any event published so far is one of these.
func (s *eventSpy) expectNone(t *testing.T, unwanted ...string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.events {
		for _, u := range unwanted {
			if e == u {
				t.Errorf("event %q was published (all: %q)", e, s.events)
			}
		}
	}
}

func (s *eventSpy) count(event string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.events {
		if e == event {
			n++
		}
	}
	return n
}

// TestConnectWithNoWorkerClosesClient: with no worker running, a client
// whose connect event waits past no_worker_wait is closed (WebSocket 1013,
// TCP: the socket closes), counted, and nothing it sent meanwhile, nor its
// close, reaches the workers.
func TestConnectWithNoWorkerClosesClient(t *testing.T) {
	ns := sbtest.NATS(t)
	// Not on the connect subject: the connect must find no responders.
	spy := spyEvents(t, ns.ClientURL(), "sb.ev.message", "sb.ev.close", "sb.evb.message")
	g := sbtest.Gateway(t, ns.ClientURL(),
		gateway.Listen("ws://127.0.0.1:0", "tcp+text://127.0.0.1:0"),
		gateway.NoWorkerWait(300*time.Millisecond), gateway.EventTimeout(200*time.Millisecond))
	// A worker is announced (so handshakes are accepted: it does not vet
	// them) but nothing answers connect events.
	subj, _ := wire.NewSubjects("sb")
	sbtest.AnnounceWorker(t, sbtest.Conn(t, ns.ClientURL()), subj, "silent0001", "")

	c := sbtest.Dial(t, g, "/")
	c.Send("queued behind the connect")
	start := time.Now()
	expectClose(t, c.Conn, 1013)
	t.Logf("WebSocket client closed with 1013 after %v", time.Since(start).Round(time.Millisecond))

	tc := dialText(t, hostOf(t, g, "tcp+text"))
	tc.send("queued behind the connect")
	expectEOF(t, tc.c)

	sbtest.Eventually(t, 5*time.Second, "both clients counted", func() bool {
		st := g.Stats()
		return st.Refused["connect_dropped"] == 2 && st.Disconnects == 2 && st.Connections == 0
	})
	// Once a worker runs, a new client works and the old ones' later
	// events never reach it (a later publish would come before this
	// client's round trip on the gateway's one connection).
	sbtest.Worker(t, ns.ClientURL(), echo{})
	ok := sbtest.Dial(t, g, "/")
	ok.Send("hello")
	ok.Expect("hello")
	// The spy gets the gateway's publishes in order: once it has the new
	// client's message, it has anything published for the old ones.
	sbtest.Eventually(t, 5*time.Second, "the spy to see the new client's message", func() bool {
		return spy.count("message:hello") == 1
	})
	spy.expectNone(t, "message:queued behind the connect", "close:")
}

// stuckConnect never answers OnConnect until released; it records every
// message it handles.
type stuckConnect struct {
	echo
	release chan struct{}
	mu      sync.Mutex
	msgs    []string
	closes  []string
}

func (s *stuckConnect) OnConnect(c *worker.Context) error {
	<-s.release
	return nil
}

func (s *stuckConnect) OnMessage(c *worker.Context, m worker.Message) error {
	s.mu.Lock()
	s.msgs = append(s.msgs, c.ClientID()+":"+string(m.Data))
	s.mu.Unlock()
	return s.echo.OnMessage(c, m)
}

func (s *stuckConnect) OnClose(c *worker.Context) error {
	s.mu.Lock()
	s.closes = append(s.closes, c.ClientID())
	s.mu.Unlock()
	return nil
}

// TestConnectDroppedAfterRedeliveriesClosesClient: a connect event that no
// worker answers within event_timeout, max_redeliveries times, is dropped
// and the client closed with 1013; the message it sent behind the connect
// is never handled, and the worker gets no OnClose for it.
func TestConnectDroppedAfterRedeliveriesClosesClient(t *testing.T) {
	ns := sbtest.NATS(t)
	// sb.wd.*.*: a redelivery goes to one worker's direct subject.
	spy := spyEvents(t, ns.ClientURL(), "sb.ev.connect", "sb.ev.message", "sb.ev.close", "sb.evb.message", "sb.wd.*.*")
	g := sbtest.Gateway(t, ns.ClientURL(),
		gateway.EventTimeout(200*time.Millisecond), gateway.MaxRedeliveries(1))
	h := &stuckConnect{release: make(chan struct{})}
	sbtest.Worker(t, ns.ClientURL(), h)

	c := sbtest.Dial(t, g, "/")
	c.Send("never handled")
	expectClose(t, c.Conn, 1013)
	sbtest.Eventually(t, 5*time.Second, "the client counted and gone", func() bool {
		st := g.Stats()
		return st.Refused["connect_dropped"] == 1 && st.Connections == 0 && st.EventsDropped == 1
	})
	close(h.release) // the stuck OnConnect handlers return now

	// A new client's round trip goes through the same worker after
	// anything the gateway published before.
	ok := sbtest.Dial(t, g, "/")
	ok.Send("hello")
	ok.Expect("hello")
	h.mu.Lock()
	msgs, closes := h.msgs, h.closes
	h.mu.Unlock()
	if len(msgs) != 1 || !strings.HasSuffix(msgs[0], ":hello") {
		t.Errorf("handled messages %v, want only the new client's hello", msgs)
	}
	if len(closes) != 0 {
		t.Errorf("OnClose ran for %v, whose connect no worker finished", closes)
	}
	sbtest.Eventually(t, 5*time.Second, "the spy to see the new client's message", func() bool {
		return spy.count("message:hello") == 1
	})
	spy.expectNone(t, "message:never handled", "close:")
	if n := spy.count("connect:"); n != 3 {
		t.Errorf("%d connect events published, want 3 (the lost one, its one redelivery, the new client's)", n)
	}
}

// slowEcho answers every message after 200 ms and counts the handlers
// running.
type slowEcho struct {
	echo
	running atomic.Int32
}

func (s *slowEcho) OnMessage(c *worker.Context, m worker.Message) error {
	s.running.Add(1)
	time.Sleep(200 * time.Millisecond) // the handler's work
	return s.echo.OnMessage(c, m)
}

// TestShutdownAnswersEventsInFlight: Shutdown waits for the events it
// already read to be answered and written before it closes the clients
// with 1001: with a 200 ms handler and 100 clients each with a message in
// flight, every client gets its echo, then the close.
func TestShutdownAnswersEventsInFlight(t *testing.T) {
	const clients = 100
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL())
	h := &slowEcho{}
	sbtest.Worker(t, ns.ClientURL(), h, worker.MaxConcurrency(clients))

	conns := make([]*sbtest.WS, clients)
	for i := range conns {
		conns[i] = sbtest.Dial(t, g, "/")
	}
	for i, c := range conns {
		c.Send(fmt.Sprintf("echo %d", i))
	}
	sbtest.Eventually(t, 10*time.Second, "every message in a handler", func() bool {
		return h.running.Load() == clients
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shutdown := make(chan error, 1)
	go func() { shutdown <- g.Shutdown(ctx) }()

	var lost atomic.Int32
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.Conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, code := readUntilClose(c.Conn)
			if want := fmt.Sprintf("echo %d", i); len(got) != 1 || got[0] != want {
				lost.Add(1)
				t.Errorf("client %d got %q before the close, want [%q]", i, got, want)
			}
			if code != ws.StatusGoingAway {
				t.Errorf("client %d: close code %d, want 1001", i, code)
			}
		}()
	}
	wg.Wait()
	if err := <-shutdown; err != nil {
		t.Errorf("shutdown: %v", err)
	}
	t.Logf("%d of %d echoes lost at shutdown", lost.Load(), clients)
}

// readUntilClose reads text messages until a close frame and returns them
// with the close code (0 if the connection ended without one).
func readUntilClose(c net.Conn) (msgs []string, code ws.StatusCode) {
	for {
		f, err := ws.ReadFrame(c)
		if err != nil {
			return msgs, 0
		}
		switch f.Header.OpCode {
		case ws.OpText:
			msgs = append(msgs, string(f.Payload))
		case ws.OpClose:
			code, _ = ws.ParseCloseFrameData(f.Payload)
			return msgs, code
		}
	}
}

// TestBusOutagePausesEventDeadlines: events waiting while NATS is away
// for several times event_timeout × (max_redeliveries + 1) are not
// dropped: their deadlines pause during the outage and resume after it,
// and every message sent before and during the outage is echoed.
func TestBusOutagePausesEventDeadlines(t *testing.T) {
	const clients = 20
	port := sbtest.FreePort(t)
	ns := sbtest.NATSOnPort(t, port)
	url := ns.ClientURL()
	g := sbtest.Gateway(t, url, gateway.EventTimeout(200*time.Millisecond), gateway.MaxRedeliveries(1),
		gateway.NoWorkerWait(10*time.Second)) // the worker's own reconnect may take seconds on a loaded machine
	sbtest.Worker(t, url, echo{})
	conns := make([]*sbtest.WS, clients)
	for i := range conns {
		conns[i] = sbtest.Dial(t, g, "/")
		conns[i].Send("hello")
		conns[i].Expect("hello")
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	for i, c := range conns { // sent while the bus is away
		c.Send(fmt.Sprintf("during %d", i))
	}
	// Away for 3 s: 15 event timeouts.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if st := g.Stats(); st.EventsDropped != 0 || st.EventsRedelivered != 0 {
			t.Fatalf("while the bus is away: %d events dropped, %d redelivered", st.EventsDropped, st.EventsRedelivered)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ns2 := sbtest.NATSOnPort(t, port)
	defer ns2.Shutdown()
	for i, c := range conns {
		got, err := c.ReadErr(15 * time.Second)
		if want := fmt.Sprintf("during %d", i); err != nil || got != want {
			st := g.Stats()
			t.Fatalf("client %d: got %q (%v), want %q; %d dropped, %d redelivered, %d published", i, got, err, want,
				st.EventsDropped, st.EventsRedelivered, st.EventsOut)
		}
	}
	st := g.Stats()
	t.Logf("after a 3 s outage: %d dropped, %d redelivered", st.EventsDropped, st.EventsRedelivered)
	if st.EventsDropped != 0 {
		t.Errorf("%d events dropped", st.EventsDropped)
	}
}
