package e2e

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/worker"
)

// invocations counts handler calls per client message, by worker.
type invocations struct {
	mu    sync.Mutex
	calls map[string][]string // "<client>|<text>" → workers that ran it
}

func (iv *invocations) add(key, who string) {
	iv.mu.Lock()
	iv.calls[key] = append(iv.calls[key], who)
	iv.mu.Unlock()
}

// recordingEcho echoes every message and records the call. When block is
// set, the first message's handler waits on it (and that call is recorded
// apart, as "<name>-blocked": it started before its deadline).
type recordingEcho struct {
	name    string
	iv      *invocations
	block   chan struct{}
	blocked chan struct{} // closed when the blocking call started
	once    sync.Once
}

func (e *recordingEcho) OnMessage(c *worker.Context, m worker.Message) error {
	who := e.name
	if e.block != nil {
		first := false
		e.once.Do(func() { first = true; close(e.blocked) })
		if first {
			<-e.block
			who += "-blocked"
		}
	}
	e.iv.add(c.ClientID()+"|"+m.Text(), who)
	return c.SendToCurrentClient(m.Data)
}

// eventsDelivered is how many event messages the server handed to the
// connection cid (subjects <p>.ev.*, <p>.evb.* and its direct subject
// <p>.wd.<id>.*).
func eventsDelivered(t *testing.T, ns *server.Server, cid uint64) uint64 {
	t.Helper()
	cz, err := ns.Connz(&server.ConnzOptions{CID: cid, SubscriptionsDetail: true})
	if err != nil || len(cz.Conns) != 1 {
		t.Fatalf("connz of cid %d: %v (%d conns)", cid, err, len(cz.Conns))
	}
	var n uint64
	for _, sd := range cz.Conns[0].SubsDetail {
		if strings.HasPrefix(sd.Subject, "sb.ev.") || strings.HasPrefix(sd.Subject, "sb.evb.") || strings.HasPrefix(sd.Subject, "sb.wd.") {
			n += uint64(sd.Msgs)
		}
	}
	return n
}

// TestStaleEventsNotHandled: a worker whose only handler goroutine is
// stuck holds the events that NATS keeps giving it; the gateway times them
// out and redelivers them to another worker. When the stuck worker comes
// back it must not run those events (their Sb-Deadline passed): every
// client message is handled exactly once (besides the stuck call itself,
// which started in time), and each client gets its echoes once, in order.
func TestStaleEventsNotHandled(t *testing.T) {
	ns := sbtest.NATS(t)
	url := ns.ClientURL()
	// One event per NATS message, so that the server's delivery count is
	// the worker's event count (batches carry the same deadline check:
	// worker.TestStaleBatchSkipped).
	g := sbtest.Gateway(t, url, gateway.EventTimeout(500*time.Millisecond),
		gateway.MaxRedeliveries(30), gateway.MaxEventBatch(1))
	iv := &invocations{calls: map[string][]string{}}

	stuck := &recordingEcho{name: "stuck", iv: iv, block: make(chan struct{}), blocked: make(chan struct{})}
	ncA := sbtest.Conn(t, url)
	a, err := worker.New(ncA, stuck, worker.MaxConcurrency(1), worker.DeadlineSkew(0), worker.Logger(sbtest.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	released := false
	t.Cleanup(func() {
		if !released {
			close(stuck.block)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Stop(ctx)
	})
	cidA, err := ncA.GetClientID()
	if err != nil {
		t.Fatal(err)
	}

	const clients = 4
	cs := make([]*sbtest.WS, clients)
	for i := range cs {
		cs[i] = sbtest.Dial(t, g, "/ws")
	}
	cs[0].Send("0")
	select {
	case <-stuck.blocked:
	case <-time.After(5 * time.Second):
		t.Fatal("the stuck worker never got the first message")
	}
	for _, c := range cs[1:] {
		c.Send("0") // queued behind the stuck call, in the stuck worker
	}
	// Every client's "0" timed out at least once while only the stuck
	// worker was there: each has a stale copy in it.
	sbtest.Eventually(t, 10*time.Second, "a redelivery of every client's first message",
		func() bool { return g.Stats().EventsRedelivered >= clients })

	sbtest.Worker(t, url, &recordingEcho{name: "fresh", iv: iv}, worker.DeadlineSkew(0))
	for _, c := range cs {
		c.Expect("0") // redelivered until it reached the fresh worker
	}
	// Every copy in the stuck worker was sent before its client's answer
	// arrived, so each deadline is at most event_timeout from now: once
	// that has passed, every copy there is stale (a copy sent just before
	// the answer would otherwise still be within its deadline and run).
	time.Sleep(600 * time.Millisecond)
	close(stuck.block)
	released = true
	const perClient = 6
	for _, c := range cs {
		for i := 1; i < perClient; i++ {
			c.Send(strconv.Itoa(i))
			c.Expect(strconv.Itoa(i))
		}
		c.Send("end") // the next message is this echo: no duplicate came before it
		c.Expect("end")
	}
	// Wait until the stuck worker has gone through every event the server
	// gave it: handled or skipped.
	sbtest.Eventually(t, 10*time.Second, "the stuck worker to go through its events", func() bool {
		return a.Handled()+a.StaleSkipped() == eventsDelivered(t, ns, cidA)
	})

	iv.mu.Lock()
	defer iv.mu.Unlock()
	blocked, stale := 0, 0
	for key, who := range iv.calls {
		var ran []string
		for _, w := range who {
			if w == "stuck-blocked" {
				blocked++
				continue
			}
			ran = append(ran, w)
		}
		if len(ran) != 1 {
			stale++
			t.Errorf("%s handled %d times (by %v), want once", key, len(ran), who)
		}
	}
	if want := clients * (perClient + 1); len(iv.calls) != want {
		t.Errorf("%d messages handled, want %d", len(iv.calls), want)
	}
	if blocked != 1 {
		t.Errorf("%d blocked calls, want 1", blocked)
	}
	t.Logf("stuck worker: %d events delivered, %d handled, %d stale events skipped; %d redeliveries",
		eventsDelivered(t, ns, cidA), a.Handled(), a.StaleSkipped(), g.Stats().EventsRedelivered)
	if a.StaleSkipped() < clients-1 {
		t.Errorf("stuck worker skipped %d stale events, want at least %d", a.StaleSkipped(), clients-1)
	}
}

// TestNodeWorkerSkipsStaleEvents: the Node example worker skips an event,
// alone or in a batch, whose Sb-Deadline passed more than 1 s ago or
// cannot be read, and answers a fresh one. Events of one subject run in
// order up to their reply, so a stale event that was handled would be
// answered before the fresh one that follows it.
func TestNodeWorkerSkipsStaleEvents(t *testing.T) {
	ns := sbtest.NATS(t)
	startNodeWorker(t, ns.ClientURL())
	nc := sbtest.Conn(t, ns.ClientURL())
	replies := make(chan string, 16)
	if _, err := nc.Subscribe("sb.gw.gwtest0001.r.>", func(m *nats.Msg) { replies <- m.Subject }); err != nil {
		t.Fatal(err)
	}
	ms := func(d time.Duration) string { return strconv.FormatInt(time.Now().Add(d).UnixMilli(), 10) }
	publish := func(subject, reply, deadline string, h nats.Header, data string) {
		t.Helper()
		h.Set("Sb-Deadline", deadline)
		if err := nc.PublishMsg(&nats.Msg{Subject: subject, Reply: reply, Header: h, Data: []byte(data)}); err != nil {
			t.Fatal(err)
		}
	}
	closeEvent := func(seq, deadline string) {
		publish("sb.ev.close", "sb.gw.gwtest0001.r."+seq+".1", deadline,
			nats.Header{"Sb-Client": {"gwtest0001-" + seq}, "Sb-Remote": {"10.0.0.1:1"}}, "")
	}
	batch := func(a, b, deadline string) {
		publish("sb.evb.message", "sb.gw.gwtest0001.b."+a+".1."+b+".1", deadline,
			nats.Header{"Sb-Frames": {"1,1"}, "Sb-Remote": {"10.0.0.1:1", "10.0.0.1:2"}}, "xy")
	}
	next := func(want string) {
		t.Helper()
		select {
		case got := <-replies:
			if got != want {
				t.Fatalf("reply on %s, want %s (a stale event was answered)", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no reply, want %s", want)
		}
	}
	closeEvent("1", ms(-2*time.Second))
	closeEvent("2", "soon")
	closeEvent("3", ms(time.Minute))
	next("sb.gw.gwtest0001.r.3.1")
	batch("4", "5", ms(-2*time.Second))
	batch("6", "7", ms(time.Minute))
	var got []string
	for range 2 {
		select {
		case r := <-replies:
			got = append(got, r)
		case <-time.After(10 * time.Second):
			t.Fatalf("replies %v, want two", got)
		}
	}
	slices.Sort(got)
	if want := []string{"sb.gw.gwtest0001.r.6.1", "sb.gw.gwtest0001.r.7.1"}; !slices.Equal(got, want) {
		t.Fatalf("replies %v, want %v (a stale batch was answered)", got, want)
	}
	select {
	case r := <-replies:
		t.Fatalf("unexpected reply on %s", r)
	default:
	}
}
