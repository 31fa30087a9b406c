package gateway_test

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"
	"github.com/nats-io/nats.go"
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/internal/wire"
	"github.com/switchboard-go/switchboard/natsserver"
	"github.com/switchboard-go/switchboard/worker"
)

// freezableLink is a TCP proxy between one NATS client and the server
// that can stop forwarding in both directions without closing anything:
// to the server and to the client the other side looks like a process
// stopped with SIGSTOP (its socket open, nothing read, nothing sent).
type freezableLink struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	thawed chan struct{} // closed while the link forwards
	conns  []net.Conn
}

func newFreezableLink(t *testing.T, natsURL string) *freezableLink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &freezableLink{ln: ln, target: strings.TrimPrefix(natsURL, "nats://"), thawed: make(chan struct{})}
	close(l.thawed)
	go l.accept()
	t.Cleanup(func() {
		l.thaw()
		_ = ln.Close()
		l.mu.Lock()
		for _, c := range l.conns {
			_ = c.Close()
		}
		l.mu.Unlock()
	})
	return l
}

func (l *freezableLink) URL() string { return "nats://" + l.ln.Addr().String() }

func (l *freezableLink) accept() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", l.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		l.mu.Lock()
		l.conns = append(l.conns, c, s)
		l.mu.Unlock()
		go l.pipe(s, c)
		go l.pipe(c, s)
	}
}

// pipe copies src to dst; while the link is frozen it neither reads nor
// writes (bytes read just before the freeze wait for the thaw).
func (l *freezableLink) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		l.wait()
		n, err := src.Read(buf)
		if n > 0 {
			l.wait()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				_ = src.Close()
				return
			}
		}
		if err != nil {
			_ = dst.Close()
			return
		}
	}
}

func (l *freezableLink) wait() {
	l.mu.Lock()
	ch := l.thawed
	l.mu.Unlock()
	<-ch
}

func (l *freezableLink) freeze() {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.thawed:
		l.thawed = make(chan struct{})
	default:
	}
}

func (l *freezableLink) thaw() {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.thawed:
	default:
		close(l.thawed)
	}
}

// TestRedeliveryAvoidsSilentWorker: two echo workers, A behind a link
// that freezes (as SIGSTOP would freeze A), on a NATS server that pings
// only every minute, so that A stays in the queue group for the whole
// test (as with an external server's default ping of minutes). Once A's
// last heartbeat is older than 1.5 heartbeat intervals, clients send:
// the queue group gives A its share, those events time out, and every
// redelivery goes to B's direct subject, never to A's; with
// max_redeliveries 1 every client gets every echo, none is dropped.
// Fails before direct redelivery: a redelivery through the queue group
// lands on A again about half the time, the event is dropped and the
// client misses its echo.
func TestRedeliveryAvoidsSilentWorker(t *testing.T) {
	ns, err := natsserver.Start(natsserver.Config{Port: -1, PingInterval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	url := ns.ClientURL()
	link := newFreezableLink(t, url)
	g := sbtest.Gateway(t, url, gateway.EventTimeout(300*time.Millisecond), gateway.MaxRedeliveries(1))

	type directSend struct {
		worker string
		at     time.Time
	}
	var (
		mu       sync.Mutex
		sends    []directSend
		lastBeat = map[string]time.Time{} // workers announcing the direct feature
	)
	spy := sbtest.Conn(t, url)
	if _, err := spy.Subscribe("sb.wd.>", func(m *nats.Msg) {
		mu.Lock()
		sends = append(sends, directSend{strings.Split(m.Subject, ".")[2], time.Now()})
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := spy.Subscribe("sb.whb", func(m *nats.Msg) {
		if id := m.Header.Get(wire.HdrWorker); id != "" && strings.Contains(m.Header.Get(wire.HdrFeatures), wire.FeatureDirect) {
			mu.Lock()
			lastBeat[id] = time.Now()
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := spy.Flush(); err != nil {
		t.Fatal(err)
	}
	a := sbtest.Worker(t, link.URL(), echo{})
	b := sbtest.Worker(t, url, echo{})
	t.Cleanup(link.thaw) // before the workers stop
	beat := func(id string) time.Time {
		mu.Lock()
		defer mu.Unlock()
		return lastBeat[id]
	}
	sbtest.Eventually(t, 5*time.Second, "both workers announce direct events", func() bool {
		return !beat(a.ID()).IsZero() && !beat(b.ID()).IsZero()
	})

	const clients, perClient = 20, 5
	cs := make([]*sbtest.WS, clients)
	for i := range cs {
		cs[i] = sbtest.Dial(t, g, "/ws")
		cs[i].Send("warm")
		cs[i].Expect("warm")
	}

	link.freeze()
	frozenAt := time.Now()
	// Wait for the gateway's view too: it heard A's last heartbeat at
	// about the time the spy did.
	sbtest.Eventually(t, 10*time.Second, "worker A silent for 2 s", func() bool {
		return time.Since(beat(a.ID())) > 2*time.Second
	})
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range perClient {
				msg := string(rune('a'+i)) + string(rune('0'+n))
				if err := wsutil.WriteClientText(c.Conn, []byte(msg)); err != nil {
					t.Errorf("client %d: send: %v", i, err)
					return
				}
				if got, err := c.ReadErr(5 * time.Second); err != nil || got != msg {
					t.Errorf("client %d: got %q, %v; want %q", i, got, err, msg)
					return
				}
			}
		}()
	}
	wg.Wait()

	st := g.Stats()
	mu.Lock()
	toA, toB := 0, 0
	for _, s := range sends {
		switch {
		case s.at.Before(frozenAt):
		case s.worker == a.ID():
			toA++
		case s.worker == b.ID():
			toB++
		}
	}
	mu.Unlock()
	t.Logf("%d messages while A was frozen: %d redelivered (%d direct), %d dropped; direct sends to A %d, to B %d",
		clients*perClient, st.EventsRedelivered, st.EventsRedeliveredDirect, st.EventsDropped, toA, toB)
	if toA != 0 {
		t.Errorf("%d resends went to the frozen worker's direct subject", toA)
	}
	if st.EventsRedelivered == 0 || toB == 0 || st.EventsRedeliveredDirect == 0 {
		t.Errorf("no event landed on the frozen worker and was redelivered to B (redelivered %d, direct %d, to B %d)",
			st.EventsRedelivered, st.EventsRedeliveredDirect, toB)
	}
	if st.EventsDropped != 0 {
		t.Errorf("%d events dropped", st.EventsDropped)
	}
}

// recordSink records every message it is given and never answers
// "stuck" (until the test ends).
type recordSink struct {
	release chan struct{}
	mu      sync.Mutex
	got     []string
}

func (s *recordSink) OnMessage(c *worker.Context, m worker.Message) error {
	s.mu.Lock()
	s.got = append(s.got, m.Text())
	s.mu.Unlock()
	if m.Text() == "stuck" {
		<-s.release
		return nil
	}
	return c.SendToCurrentClient(m.Data)
}

// TestDroppedMessageClosesClient: when the gateway gives up a message
// event (here max_redeliveries 0), a TCP client is closed (a WebSocket
// client gets 1013: TestRedeliveryLimitDropsTheEvent), counted as
// refused{reason="event_dropped"}; the message queued behind the dropped
// one is dropped with it (events_dropped 2) and never reaches a worker,
// and the worker still gets the client's close event.
func TestDroppedMessageClosesClient(t *testing.T) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL(), gateway.Listen("tcp+text://127.0.0.1:0"),
		gateway.EventTimeout(200*time.Millisecond), gateway.MaxRedeliveries(0))
	s := &recordSink{release: make(chan struct{})}
	w := sbtest.Worker(t, ns.ClientURL(), s)
	t.Cleanup(func() { close(s.release) })

	c, err := net.Dial("tcp", hostOf(t, g, "tcp+text"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "stuck\nqueued\n"); err != nil {
		t.Fatal(err)
	}
	if err := expectClosedFor(c, false); err != nil {
		t.Fatal(err)
	}
	sbtest.Eventually(t, 5*time.Second, "the drop counted and the close event handled", func() bool {
		st := g.Stats()
		// connect and close handled; "stuck" still in its handler
		return st.Refused["event_dropped"] == 1 && st.EventsDropped == 2 && w.Handled() == 2 && st.Connections == 0
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.got) != 1 || s.got[0] != "stuck" {
		t.Errorf("the worker got %q, want only \"stuck\"", s.got)
	}
}
