package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/internal/wire"
	"github.com/switchboard-go/switchboard/natsserver"
	"github.com/switchboard-go/switchboard/worker"
)

// Event batches (docs/protocol.md, "Event batches"): many clients
// pipelining at once make the gateway batch their message events.
const batchClients, batchPerClient = 50, 40

// counter echoes each message, in the same kind of frame, with the
// number of messages its client sent before it, counted in the session:
// a batch that gave an event the wrong client's session, or let a
// client's events overtake each other, shows in the count.
type counter struct{}

func (counter) OnMessage(c *worker.Context, m worker.Message) error {
	n, _ := c.Session()["n"].(float64)
	c.UpdateSession(bus.Session{"n": n + 1})
	reply := fmt.Appendf(nil, "%s n=%d", m.Data, int(n))
	if m.Binary {
		return c.SendToCurrentClient(reply, bus.Binary())
	}
	return c.SendToCurrentClient(reply)
}

// counted is what counter answers to message i of client k.
func counted(k, i int) (string, ws.OpCode) {
	op := ws.OpText
	if batchBinary(i) {
		op = ws.OpBinary
	}
	return fmt.Sprintf("%d/%d n=%d", k, i, i), op
}

func batchBinary(i int) bool { return i%5 == 4 }

// pipeline dials batchClients clients and has each send batchPerClient
// numbered messages without waiting, all clients taking turns so that
// events of many clients wait at the gateway at once; then it checks that
// every client got want(k, i) for each of its messages, in order.
func pipeline(t *testing.T, g *gateway.Gateway, want func(k, i int) (string, ws.OpCode)) {
	t.Helper()
	clients := make([]*sbtest.WS, batchClients)
	for k := range clients {
		clients[k] = sbtest.Dial(t, g, "/ws")
	}
	for i := range batchPerClient {
		for k, c := range clients {
			msg := fmt.Appendf(nil, "%d/%d", k, i)
			write := wsutil.WriteClientText
			if batchBinary(i) {
				write = wsutil.WriteClientBinary
			}
			if err := write(c.Conn, msg); err != nil {
				t.Fatalf("client %d: send %s: %v", k, msg, err)
			}
		}
	}
	for k, c := range clients {
		for i := range batchPerClient {
			// Each reply in its own time: on a busy machine under -race
			// all 2,000 can take longer than one short deadline.
			_ = c.Conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			data, op, err := wsutil.ReadServerData(c.Conn)
			wantData, wantOp := want(k, i)
			if err != nil || string(data) != wantData || op != wantOp {
				t.Fatalf("client %d, reply %d: got %q (op %v), %v; want %q (op %v)", k, i, data, op, err, wantData, wantOp)
			}
		}
	}
}

// TestEventBatches: under load the gateway batches message events, and
// every client still gets its replies in order, each handled with its own
// session.
func TestEventBatches(t *testing.T) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL())
	sbtest.Worker(t, ns.ClientURL(), counter{})
	pipeline(t, g, counted)
	st := g.Stats()
	checkBatched(t, "event", st.EventBatches, st.EventsBatched)
	checkPublishedOnce(t, g, nil)
}

// checkBatched checks that batches of some kind were sent and that they
// carried at least two items each on average.
func checkBatched(t *testing.T, kind string, batches, items uint64) {
	t.Helper()
	if batches == 0 || items == 0 {
		t.Fatalf("no %s was batched (%d batches, %d items)", kind, batches, items)
	}
	if items < 2*batches {
		t.Errorf("%d %s batches carried only %d items", batches, kind, items)
	}
}

// TestEventBatchesOff: MaxEventBatch(1) sends every event on its own.
func TestEventBatchesOff(t *testing.T) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL(), gateway.MaxEventBatch(1))
	sbtest.Worker(t, ns.ClientURL(), counter{})
	pipeline(t, g, counted)
	st := g.Stats()
	if st.EventBatches != 0 || st.EventsBatched != 0 {
		t.Fatalf("%d batches of %d events with batching off", st.EventBatches, st.EventsBatched)
	}
	checkPublishedOnce(t, g, nil)
}

// checkPublishedOnce checks that the gateway published each event of
// pipeline (connects and messages) once, plus the bounced ones again, and
// dropped or redelivered none.
//
// The gateway counts a publish just after making it, so on a busy machine
// the count can lag the last reply: it waits until the count reached
// what is wanted (or stats says it cannot: EventsOut counts no fewer than
// the events, so a short count that stays short is reported after 5 s),
// then checks it did not pass it.
func checkPublishedOnce(t *testing.T, g *gateway.Gateway, bounced func(gateway.Stats) uint64) {
	t.Helper()
	want := func(st gateway.Stats) uint64 {
		w := uint64(batchClients * (1 + batchPerClient))
		if bounced != nil {
			w += bounced(st)
		}
		return w
	}
	st := g.Stats()
	for end := time.Now().Add(5 * time.Second); st.EventsOut < want(st) && time.Now().Before(end); st = g.Stats() {
		time.Sleep(5 * time.Millisecond)
	}
	if st.EventsOut != want(st) {
		t.Errorf("%d events published, want %d", st.EventsOut, want(st))
	}
	if st.EventsDropped != 0 || st.EventsRedelivered != 0 {
		t.Errorf("%d events dropped, %d redelivered", st.EventsDropped, st.EventsRedelivered)
	}
}

// TestEventBatchesForeignWorker: a worker that takes no batches
// (another language's, subscribing <prefix>.ev.* only) but announces
// event-batches by mistake still gets every event, at once: the gateway
// republishes each event of a batch nobody took. Falling back through
// event_timeout instead would take 30 s. (It must announce itself: with no
// worker known, handshakes are refused.)
func TestEventBatchesForeignWorker(t *testing.T) {
	ns := sbtest.NATS(t)
	nc := sbtest.Conn(t, ns.ClientURL()) // closed after the gateway: it answers the close events
	subj, _ := wire.NewSubjects("sb")
	sbtest.AnnounceWorker(t, nc, subj, "foreign001", wire.FeatureEventBatches)
	_, err := nc.QueueSubscribe(subj.Event("*"), wire.WorkerQueue, func(m *nats.Msg) {
		var body []byte
		if m.Subject == subj.Event(wire.EventMessage) {
			body = m.Data // a bare body: one text frame
		}
		_ = m.Respond(body)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	g := sbtest.Gateway(t, ns.ClientURL(), gateway.EventTimeout(30*time.Second))
	start := time.Now()
	pipeline(t, g, func(k, i int) (string, ws.OpCode) { return fmt.Sprintf("%d/%d", k, i), ws.OpText })
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("replies took %v", d)
	}
	st := g.Stats()
	if st.EventBatches == 0 {
		t.Fatal("no batch was tried, so the fallback was not tested")
	}
	checkPublishedOnce(t, g, func(st gateway.Stats) uint64 { return st.EventsBatched })
}

// bigSession gives each client a 48 KiB session and echoes messages.
type bigSession struct{ echo }

func (bigSession) OnConnect(c *worker.Context) error {
	c.SetSession(bus.Session{"pad": strings.Repeat("x", 48<<10)})
	return nil
}

// TestEventBatchesWithBigSessions: each event carries its client's
// session in a header. One such event fits a stock nats-server's 1 MiB
// max_payload; a batch must fit too, or the events must go out another way.
// (When batches counted only their bodies, a batch of 22 of these events
// was over 1 MiB, PublishMsg refused it, and its events were retried as
// "no worker" again and again: replies came tens of seconds late.)
func TestEventBatchesWithBigSessions(t *testing.T) {
	ns, err := natsserver.Start(natsserver.Config{Port: -1, MaxPayload: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	g := sbtest.Gateway(t, ns.ClientURL())
	sbtest.Worker(t, ns.ClientURL(), bigSession{})
	defer func() { t.Logf("gateway stats: %+v", g.Stats()) }()
	pipeline(t, g, func(k, i int) (string, ws.OpCode) { return fmt.Sprintf("%d/%d", k, i), ws.OpText })
	checkPublishedOnce(t, g, nil)
}

// echoer echoes each message in the same kind of frame, with the number
// of the last message of its client that counted itself in the session.
// Every third message does, so the replies in a reply batch mix session
// changes and none: a change lost, given to the wrong client or applied
// out of order shows in the echo.
type echoer struct{}

func (echoer) OnMessage(c *worker.Context, m worker.Message) error {
	_, num, _ := strings.Cut(string(m.Data), "/")
	last, _ := c.Session()["last"].(string)
	if i, _ := strconv.Atoi(num); i%3 == 0 {
		c.UpdateSession(bus.Session{"last": num})
	}
	var opts []bus.SendOption
	if m.Binary {
		opts = append(opts, bus.Binary())
	}
	return c.SendToCurrentClient(fmt.Appendf(nil, "%s last=%s", m.Data, last), opts...)
}

// setter is echoer with SetSession: every third message replaces the
// whole session (Sb-Session-Set) instead of merging into it.
type setter struct{}

func (setter) OnMessage(c *worker.Context, m worker.Message) error {
	_, num, _ := strings.Cut(string(m.Data), "/")
	last, _ := c.Session()["last"].(string)
	if i, _ := strconv.Atoi(num); i%3 == 0 {
		c.SetSession(bus.Session{"last": num})
	}
	var opts []bus.SendOption
	if m.Binary {
		opts = append(opts, bus.Binary())
	}
	return c.SendToCurrentClient(fmt.Appendf(nil, "%s last=%s", m.Data, last), opts...)
}

// echoed is what echoer answers to message i of client k.
func echoed(k, i int) (string, ws.OpCode) {
	_, op := counted(k, i)
	last := ""
	if i > 0 {
		last = strconv.Itoa((i - 1) / 3 * 3)
	}
	return fmt.Sprintf("%d/%d last=%s", k, i, last), op
}

// TestReplyBatches: under load the worker answers events of the
// gateway's batches in reply batches, and every client still gets its
// replies in order, each exactly once, with its session changes applied.
// Session changes in the batches are merges (Sb-Session-Update) in one
// run, replacements (Sb-Session-Set) in the other.
func TestReplyBatches(t *testing.T) {
	for _, tc := range []struct {
		name   string
		events any
	}{{"update", echoer{}}, {"set", setter{}}} {
		t.Run(tc.name, func(t *testing.T) { testReplyBatches(t, tc.events) })
	}
}

func testReplyBatches(t *testing.T, events any) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL())
	sbtest.Worker(t, ns.ClientURL(), events)
	pipeline(t, g, echoed)
	st := g.Stats()
	t.Logf("%d event batches of %d events, %d reply batches of %d replies",
		st.EventBatches, st.EventsBatched, st.ReplyBatches, st.RepliesBatched)
	checkBatched(t, "reply", st.ReplyBatches, st.RepliesBatched)
	if st.MsgsOut != batchClients*batchPerClient {
		t.Errorf("%d messages written to clients, want %d", st.MsgsOut, batchClients*batchPerClient)
	}
	checkPublishedOnce(t, g, nil)
}

// plainEcho echoes each message as one text frame, as the hand-made
// worker of TestMixedFleetSpreadsEvents does.
type plainEcho struct{}

func (plainEcho) OnMessage(c *worker.Context, m worker.Message) error {
	return c.SendToCurrentClient(m.Data)
}

// TestMixedFleetSpreadsEvents: while a worker that announces itself
// without taking event batches is live, the gateway publishes events one
// by one, so that it gets its share; after its goodbye, batching resumes.
func TestMixedFleetSpreadsEvents(t *testing.T) {
	ns := sbtest.NATS(t)
	nc := sbtest.Conn(t, ns.ClientURL()) // the other worker: closed after the gateway
	subj, _ := wire.NewSubjects("sb")
	var mu sync.Mutex
	handled := 0
	_, err := nc.QueueSubscribe(subj.Event("*"), wire.WorkerQueue, func(m *nats.Msg) {
		var body []byte
		if m.Subject == subj.Event(wire.EventMessage) {
			body = m.Data // a bare body: one text frame
			mu.Lock()
			handled++
			mu.Unlock()
		}
		_ = m.Respond(body)
	})
	if err != nil {
		t.Fatal(err)
	}
	announce := func(op string) {
		h := nats.Header{wire.HdrWorker: {"other00001"}} // no Sb-Features
		if op != "" {
			h.Set(wire.HdrOp, op)
		}
		if err := nc.PublishMsg(&nats.Msg{Subject: subj.WorkerHeartbeat(), Header: h, Data: []byte("{}")}); err != nil {
			t.Error(err)
		}
	}
	stop := make(chan struct{})
	beats := make(chan struct{})
	go func() {
		defer close(beats)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			announce("")
			select {
			case <-tick.C:
			case <-stop:
				return
			}
		}
	}()
	g := sbtest.Gateway(t, ns.ClientURL())
	sbtest.Worker(t, ns.ClientURL(), plainEcho{})
	sbtest.Eventually(t, 5*time.Second, "the gateway sees a worker without batches", func() bool {
		return g.Stats().WorkersWithoutBatches == 1
	})
	echo := func(k, i int) (string, ws.OpCode) { return fmt.Sprintf("%d/%d", k, i), ws.OpText }
	pipeline(t, g, echo)
	st := g.Stats()
	if st.EventBatches != 0 {
		t.Errorf("%d batches sent while a worker that takes none was live", st.EventBatches)
	}
	mu.Lock()
	share := float64(handled) / (batchClients * batchPerClient)
	mu.Unlock()
	if share < 0.2 || share > 0.8 {
		t.Errorf("the worker without batches handled %.0f%% of the messages, want about half", share*100)
	}
	checkPublishedOnce(t, g, nil)

	close(stop)
	<-beats
	announce(wire.OpBye)
	sbtest.Eventually(t, 5*time.Second, "the gateway forgets the worker", func() bool {
		return g.Stats().WorkersWithoutBatches == 0
	})
	pipeline(t, g, echo)
	if st := g.Stats(); st.EventBatches == 0 {
		t.Error("no batch after the worker without batches left")
	}
}
