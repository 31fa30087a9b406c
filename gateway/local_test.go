package gateway_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"github.com/gobwas/ws/wsutil"

	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/worker"
)

// inproc is the worker of the in-process path tests. "count" adds one to
// the session's "n" and answers it; "api" sends "first" through the
// Gateway API and then "second" with the reply; "bye" closes the client;
// "panic" panics; "block" waits for release; anything else is echoed,
// prefixed with the worker's name.
type inproc struct {
	name    string
	release chan struct{}
	blocked chan time.Time // a "block" handler is running, with its event's deadline
	slow    atomic.Int64   // "block" handlers started
}

func (h *inproc) OnMessage(c *worker.Context, m worker.Message) error {
	switch m.Text() {
	case "count":
		n, _ := c.Session()["n"].(float64)
		c.Session()["n"] = n + 1
		return c.SendToCurrentClient([]byte(strconv.Itoa(int(n + 1))))
	case "api":
		if err := c.Gateway().SendToClient(c.ClientID(), []byte("first")); err != nil {
			return err
		}
		return c.SendToCurrentClient([]byte("second"))
	case "bye":
		c.CloseCurrentClient([]byte("bye"))
		return nil
	case "join":
		if err := c.Gateway().JoinGroup(c, c.ClientID(), "all"); err != nil {
			return err
		}
		return c.SendToCurrentClient([]byte("joined"))
	case "panic":
		panic("handler panics")
	case "block":
		h.slow.Add(1)
		dl, _ := c.EventDeadline()
		h.blocked <- dl
		<-h.release
		return c.SendToCurrentClient([]byte("unblocked"))
	}
	return c.SendToCurrentClient([]byte(h.name + ":" + m.Text()))
}

func newInproc(t *testing.T, name string) *inproc {
	h := &inproc{name: name, release: make(chan struct{}), blocked: make(chan time.Time, 16)}
	t.Cleanup(func() { close(h.release) })
	return h
}

// linked starts a gateway and a worker linked to it, as a node with
// worker.processes: 0 does.
func linked(t *testing.T, h *inproc, gopts []gateway.Option, wopts ...worker.Option) (*gateway.Gateway, *worker.Worker, string) {
	t.Helper()
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL(), gopts...)
	w := sbtest.Worker(t, ns.ClientURL(), h, wopts...)
	g.LinkLocal(w)
	return g, w, ns.ClientURL()
}

// dialSettled dials the gateway and waits until the client's connect
// event was answered: a message sent while an event is in flight waits
// behind it and then goes through NATS, like any event queued.
func dialSettled(t *testing.T, g *gateway.Gateway, name string) *sbtest.WS {
	t.Helper()
	c := sbtest.Dial(t, g, "/ws")
	c.Send("settle")
	c.Expect(name + ":settle")
	return c
}

// TestInProcessPathAnswersWithoutNATS: with its worker linked and no
// other worker, a client's messages are handled in the gateway's process
// and answered there (EventsLocal), in order, with the session a handler
// wrote read by the next; only the connect event crossed NATS.
func TestInProcessPathAnswersWithoutNATS(t *testing.T) {
	h := newInproc(t, "local")
	g, w, _ := linked(t, h, nil)
	c := dialSettled(t, g, "local")
	base := g.Stats()
	for i := 1; i <= 50; i++ {
		c.Send("count")
		c.Expect(strconv.Itoa(i))
	}
	for i := range 50 {
		c.Send("m" + strconv.Itoa(i))
	}
	for i := range 50 {
		c.Expect("local:m" + strconv.Itoa(i))
	}
	st := g.Stats()
	if st.EventsLocal-base.EventsLocal != 100 || w.HandledLocal() != st.EventsLocal {
		t.Fatalf("events answered in-process: gateway %d, worker %d; want 100 more than %d", st.EventsLocal, w.HandledLocal(), base.EventsLocal)
	}
	if st.EventsOut != base.EventsOut {
		t.Fatalf("events published to NATS: %d, want none", st.EventsOut-base.EventsOut)
	}
}

// TestInProcessPathKeepsAPIOrder: a handler that sends through the
// Gateway API and then replies gets its reply applied behind what it sent
// (the reply goes through NATS behind it), as without the in-process path.
func TestInProcessPathKeepsAPIOrder(t *testing.T) {
	h := newInproc(t, "local")
	g, _, _ := linked(t, h, nil)
	c := dialSettled(t, g, "local")
	base := g.Stats().EventsLocal
	for range 20 {
		c.Send("api")
		c.Expect("first")
		c.Expect("second")
	}
	c.Send("x")
	c.Expect("local:x")
	if n := g.Stats().EventsLocal - base; n != 21 {
		t.Fatalf("events run in-process: %d, want 21 (the replies of the 20 handlers that used the API went through NATS)", n)
	}
}

// TestInProcessPathCloseAndPanic: a handler's CloseCurrentClient closes
// the client after its last message, and a panicking handler leaves the
// client served.
func TestInProcessPathCloseAndPanic(t *testing.T) {
	h := newInproc(t, "local")
	g, _, _ := linked(t, h, nil)
	c := dialSettled(t, g, "local")
	base := g.Stats().EventsLocal
	c.Send("panic")
	c.Send("after")
	c.Expect("local:after")
	c.Send("bye")
	c.Expect("bye")
	expectClose(t, c.Conn, 1000)
	if n := g.Stats().EventsLocal - base; n != 3 {
		t.Fatalf("events answered in-process: %d, want 3", n)
	}
}

// TestInProcessPathDoesNotTimeOut: a handler running in the gateway's
// process longer than event_timeout is not redelivered (its worker
// cannot be lost without the gateway): it runs once and its answer
// arrives.
func TestInProcessPathDoesNotTimeOut(t *testing.T) {
	h := newInproc(t, "local")
	g, _, _ := linked(t, h, []gateway.Option{gateway.EventTimeout(50 * time.Millisecond)})
	c := dialSettled(t, g, "local")
	c.Send("block")
	dl := <-h.blocked
	// Past the event's deadline (the handler sees it in whole
	// milliseconds, rounded down), the timeout scan finds it running.
	time.Sleep(time.Until(dl.Add(time.Millisecond)))
	gateway.ScanEvents(g, time.Now())
	h.release <- struct{}{}
	c.Expect("unblocked")
	if st := g.Stats(); st.EventsRedelivered != 0 || h.slow.Load() != 1 {
		t.Fatalf("redelivered %d, handler started %d times; want 0 and 1", st.EventsRedelivered, h.slow.Load())
	}
}

// TestInProcessPathDeclinesWhenFull: with max_concurrency handlers
// running, the linked worker declines and the event goes through NATS to
// the queue group, where it waits for a handler slot: it is answered
// once the slot frees, not lost.
func TestInProcessPathDeclinesWhenFull(t *testing.T) {
	h := newInproc(t, "local")
	g, w, _ := linked(t, h, nil, worker.MaxConcurrency(1))
	a := dialSettled(t, g, "local")
	b := dialSettled(t, g, "local")
	// A client gets its answer before the handler's goroutine gives its
	// slot back: wait for the slot, or "block" finds it taken.
	sbtest.Eventually(t, 5*time.Second, "the worker's handler slot free", func() bool { return w.InFlight() == 0 })
	base := g.Stats().EventsLocal
	a.Send("block")
	<-h.blocked
	before := g.Stats().EventsOut
	b.Send("waits")
	sbtest.Eventually(t, 5*time.Second, "b's event published", func() bool { return g.Stats().EventsOut > before })
	h.release <- struct{}{}
	a.Expect("unblocked")
	b.Expect("local:waits")
	if n := g.Stats().EventsLocal - base; n != 1 {
		t.Fatalf("events answered in-process: %d, want 1", n)
	}
}

// TestInProcessPathSharesWithOtherWorkers: once another worker is heard
// of, events go through NATS so that it takes its share at once; when it
// leaves, the in-process path resumes.
func TestInProcessPathSharesWithOtherWorkers(t *testing.T) {
	h := newInproc(t, "local")
	g, _, url := linked(t, h, nil)
	c := dialSettled(t, g, "local")

	other := sbtest.Worker(t, url, newInproc(t, "other"))
	seen := map[string]int{}
	for i := 0; seen["other"] == 0; i++ {
		if i == 1000 {
			t.Fatalf("1000 messages after another worker started, none reached it: %v", seen)
		}
		c.Send("m")
		switch got := c.Read(5 * time.Second); got {
		case "local:m", "other:m":
			seen[got[:len(got)-2]]++
		default:
			t.Fatalf("got %q", got)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := other.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	local := g.Stats().EventsLocal
	sbtest.Eventually(t, 5*time.Second, "the in-process path back", func() bool {
		c.Send("m")
		if got := c.Read(5 * time.Second); got != "local:m" {
			t.Fatalf("got %q after the other worker stopped", got)
		}
		return g.Stats().EventsLocal > local
	})
}

// TestInProcessPathEveryTransport: a reply applied in-process is framed
// for the client's transport (tcp+text, tcp+frame, WebSocket with
// permessage-deflate) as one that came through NATS.
func TestInProcessPathEveryTransport(t *testing.T) {
	h := newInproc(t, "local")
	g, _, _ := linked(t, h, []gateway.Option{gateway.Compression(true),
		gateway.Listen("ws://127.0.0.1:0", "tcp+text://127.0.0.1:0", "tcp+frame://127.0.0.1:0")})
	tc := dialText(t, hostOf(t, g, "tcp+text"))
	tc.send("settle")
	tc.expect("local:settle")
	fc := dialFrame(t, hostOf(t, g, "tcp+frame"))
	fc.send([]byte("settle"))
	fc.expect("local:settle")
	c, ok := dialDeflate(t, g)
	if !ok {
		t.Fatal("the gateway did not accept permessage-deflate")
	}
	deflateEcho := func(m string) {
		t.Helper()
		writeCompressed(t, c, []byte(m))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		f, err := ws.ReadFrame(c)
		if err != nil {
			t.Fatal(err)
		}
		// The gateway compresses what is 128 bytes or more.
		if long := len("local:"+m) >= 128; f.Header.Rsv1() != long || long && int(f.Header.Length) >= len("local:"+m) {
			t.Fatalf("echo of %d bytes: rsv1 %v, %d bytes on the wire; want it compressed: %v", len("local:"+m), f.Header.Rsv1(), f.Header.Length, long)
		}
		if f.Header.Rsv1() {
			if f, err = wsflate.DecompressFrame(f); err != nil {
				t.Fatal(err)
			}
		}
		if string(f.Payload) != "local:"+m {
			t.Fatalf("deflate echo: got %d bytes, want %q", len(f.Payload), "local:"+m[:min(len(m), 20)])
		}
	}
	deflateEcho("settle")

	// Every client's connect was answered: what they send now runs
	// in-process.
	base := g.Stats().EventsLocal
	tc.send("text")
	tc.expect("local:text")
	fc.send([]byte("frame"))
	fc.expect("local:frame")
	deflateEcho(strings.Repeat("switchboard ", 100))
	if n := g.Stats().EventsLocal - base; n != 3 {
		t.Fatalf("events run in-process: %d, want 3 (text, frame, the compressed one)", n)
	}
}

// TestInProcessPathBesideBroadcasts: clients whose messages run in-process
// while group messages keep arriving for them through the inbound
// dispatcher (both write to the same sockets, under -race) each get every
// answer, in order, with the session each handler wrote, and every
// broadcast.
func TestInProcessPathBesideBroadcasts(t *testing.T) {
	h := newInproc(t, "local")
	g, _, url := linked(t, h, nil)
	api := sbtest.Client(t, url)
	const clients, rounds, casts = 10, 50, 100
	cs := make([]*sbtest.WS, clients)
	for i := range cs {
		cs[i] = dialSettled(t, g, "local")
		cs[i].Send("join")
		cs[i].Expect("joined")
	}
	base := g.Stats().EventsLocal
	go func() {
		for i := range casts {
			if err := api.SendToGroup("all", []byte("cast "+strconv.Itoa(i))); err != nil {
				t.Errorf("broadcast: %v", err)
				return
			}
		}
	}()
	done := make(chan error, clients)
	for _, c := range cs {
		go func() {
			counts, next := 0, 0
			for i := 1; i <= rounds; i++ {
				if err := wsutil.WriteClientText(c.Conn, []byte("count")); err != nil {
					done <- err
					return
				}
				for got := false; !got; {
					m, err := c.ReadErr(10 * time.Second)
					if err != nil {
						done <- err
						return
					}
					if cast, ok := strings.CutPrefix(m, "cast "); ok {
						if cast != strconv.Itoa(next) {
							done <- fmt.Errorf("broadcast %s, want %d", cast, next)
							return
						}
						next++
						continue
					}
					if counts++; m != strconv.Itoa(counts) {
						done <- fmt.Errorf("answer %q, want %d", m, counts)
						return
					}
					got = true
				}
			}
			for next < casts {
				m, err := c.ReadErr(10 * time.Second)
				if err != nil {
					done <- fmt.Errorf("after %d broadcasts: %w", next, err)
					return
				}
				if m != "cast "+strconv.Itoa(next) {
					done <- fmt.Errorf("got %q, want broadcast %d", m, next)
					return
				}
				next++
			}
			done <- nil
		}()
	}
	for range cs {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if n := g.Stats().EventsLocal - base; n != clients*rounds {
		t.Fatalf("events run in-process: %d, want %d", n, clients*rounds)
	}
}
