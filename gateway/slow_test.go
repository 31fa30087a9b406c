package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/worker"
)

// closeCounter counts OnClose per client and joins clients to "stream".
type closeCounter struct {
	joiner
	mu     sync.Mutex
	closed map[string]int
}

func (cc *closeCounter) OnConnect(c *worker.Context) error {
	if err := c.Gateway().JoinGroup(c, c.ClientID(), "stream"); err != nil {
		return err
	}
	return c.SendToCurrentClient([]byte(c.ClientID()))
}

func (cc *closeCounter) OnClose(c *worker.Context) error {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.closed[c.ClientID()]++
	return nil
}

func TestSlowReaderIsClosedAndOthersGetEverything(t *testing.T) {
	const (
		others     = 1000
		messages   = 200
		payload    = 1024
		sendBuffer = 64 << 10
	)
	ns := sbtest.NATS(t)
	// The reply to the slow client's close event comes in behind the
	// fan-out of 200,000 frames, which on a loaded machine takes longer
	// than event_timeout: the gateway must wait for it, not redeliver
	// the event (heldForInbound), so OnClose runs once.
	g := sbtest.Gateway(t, ns.ClientURL(), gateway.SendBufferBytes(sendBuffer))
	cc := &closeCounter{closed: map[string]int{}}
	sbtest.Worker(t, ns.ClientURL(), cc)
	api := sbtest.Client(t, ns.ClientURL())

	// The slow client shrinks its receive buffer and never reads.
	d := ws.Dialer{NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			_ = c.(*net.TCPConn).SetReadBuffer(4096)
		}
		return c, err
	}}
	slow, err := sbtest.DialWith(t.Context(), d, "ws://"+g.Addr().String()+"/")
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	idBytes, err := wsutil.ReadServerText(slow)
	if err != nil {
		t.Fatal(err)
	}
	slowID := string(idBytes)

	// The 1,000 fast clients share the test's CPU with the gateway (two
	// cores, under -race, with other work on the machine). Each reads
	// through a buffer and without checking UTF-8: wsutil.ReadServerText
	// makes two or three read calls per frame and checks every byte,
	// which for the 200,000 frames here cost the test 4.5 times the CPU
	// of the gateway's whole fan-out (a CPU profile under -race), left
	// the inbound dispatcher a small share of the process and made a 60 s
	// deadline for all messages fail on a loaded machine, with nothing
	// wrong in the gateway. What the clients must
	// see is progress: each gets a deadline per message, from the moment
	// the messages start, so a client left without a message for 30 s
	// fails however loaded the machine is, and a slow machine does not.
	const stall = 30 * time.Second
	var wg sync.WaitGroup
	errs := make(chan error, others)
	ready := make(chan error, others)
	start := make(chan struct{})
	for i := range others {
		c, err := sbtest.DialErr(g, "/")
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
			_, err := wsutil.ReadServerText(c) // its id: it has joined
			ready <- err
			if err != nil {
				return
			}
			select {
			case <-start:
			case <-t.Context().Done():
				return
			}
			br := bufio.NewReaderSize(c, 16<<10)
			buf := make([]byte, payload)
			for n := range messages {
				_ = c.SetReadDeadline(time.Now().Add(stall))
				b, err := readTextFrame(br, buf)
				if err != nil {
					errs <- fmt.Errorf("message %d: %w", n, err)
					return
				}
				if want := fmt.Sprintf("%04d", n); len(b) < 4 || string(b[:4]) != want {
					errs <- fmt.Errorf("got message %q, want %s", b[:min(len(b), 4)], want)
					return
				}
			}
		}()
	}
	for range others {
		if err := <-ready; err != nil {
			t.Fatalf("a client did not join: %v", err)
		}
	}
	close(start)
	body := make([]byte, payload)
	big := make([]byte, 64<<10)
	for n := range messages {
		copy(body, fmt.Sprintf("%04d", n))
		if err := api.SendToGroup("stream", body); err != nil {
			t.Fatal(err)
		}
		// The slow client also gets a bigger stream of its own, so that
		// its queue passes the bound whatever the kernel buffers hold.
		if err := api.SendToClient(slowID, big); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a fast client missed messages: %v", err)
	}
	sbtest.Eventually(t, 60*time.Second, "OnClose of the slow client", func() bool {
		cc.mu.Lock()
		defer cc.mu.Unlock()
		return cc.closed[slowID] >= 1
	})
	if st := g.Stats(); st.EventsRedelivered != 0 {
		t.Fatalf("%d events redelivered", st.EventsRedelivered)
	} else {
		t.Logf("overdue events held for the inbound backlog: %d", st.RedeliveriesHeld)
	}
	cc.mu.Lock()
	if n := cc.closed[slowID]; n != 1 {
		t.Errorf("OnClose of the slow client ran %d times", n)
	}
	cc.mu.Unlock()
	st := g.Stats()
	if st.Refused["slow_client"] != 1 {
		t.Fatalf("slow closes = %d, want 1", st.Refused["slow_client"])
	}
	if st.MaxQueuedBytes > sendBuffer {
		t.Fatalf("queued %d bytes for one client, over send_buffer_bytes %d", st.MaxQueuedBytes, sendBuffer)
	}
	if on, err := api.IsOnline(t.Context(), slowID); on || err != nil {
		t.Fatalf("the slow client is still online (%v)", err)
	}
}

// readTextFrame reads the next text frame from the server into buf (grown
// if needed) and returns its payload; other frames (pings) are skipped.
// The server sends whole, unmasked frames (RFC 6455 §5.1).
func readTextFrame(br *bufio.Reader, buf []byte) ([]byte, error) {
	for {
		h, err := ws.ReadHeader(br)
		if err != nil {
			return nil, err
		}
		if h.Length > 1<<20 {
			return nil, fmt.Errorf("frame of %d bytes", h.Length)
		}
		if int(h.Length) > cap(buf) {
			buf = make([]byte, h.Length)
		}
		b := buf[:h.Length]
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, err
		}
		switch {
		case h.OpCode == ws.OpText && h.Fin:
			return b, nil
		case h.OpCode == ws.OpClose:
			return nil, fmt.Errorf("closed by the gateway: %w", io.ErrUnexpectedEOF)
		case h.OpCode.IsControl():
			continue
		default:
			return nil, fmt.Errorf("unexpected frame: opcode %d, fin %v", h.OpCode, h.Fin)
		}
	}
}

// countingEcho echoes messages and counts the handler's runs.
type countingEcho struct {
	joiner
	runs atomic.Int64
}

func (e *countingEcho) OnMessage(c *worker.Context, m worker.Message) error {
	e.runs.Add(1)
	return e.joiner.OnMessage(c, m)
}

// TestReplyBehindInboundBacklogIsNotRedelivered: a worker's reply waits
// for the inbound dispatcher in order behind the group messages that came
// before it. When the goroutine is behind (here held at a group message,
// as by a long broadcast or a starved CPU) past event_timeout, the reply
// is not lost, it is queued: the event is not sent again and the handler
// runs once.
func TestReplyBehindInboundBacklogIsNotRedelivered(t *testing.T) {
	const timeout = 2 * time.Second
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL(), gateway.EventTimeout(timeout))
	h := &countingEcho{}
	sbtest.Worker(t, ns.ClientURL(), h)
	nc := sbtest.Conn(t, ns.ClientURL())
	api, err := bus.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	c := sbtest.Dial(t, g, "/")
	c.Expect("joined")

	release := gateway.HoldInbound(g)
	held := true
	defer func() {
		if held {
			release()
		}
	}()
	if err := api.SendToGroup("mixed", []byte("broadcast")); err != nil {
		t.Fatal(err)
	}
	// The server routed the group message to the gateway before the
	// client sends, so the worker's reply comes in behind it.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	c.Send("hello")
	sbtest.Eventually(t, timeout, "the reply queued for the inbound dispatcher", func() bool {
		return gateway.InboundQueued(g) >= 1
	})
	sbtest.Eventually(t, 5*timeout, "the overdue event held or redelivered", func() bool {
		st := g.Stats()
		return st.RedeliveriesHeld+st.EventsRedelivered > 0
	})
	release()
	held = false
	c.Expect("broadcast")
	c.Expect("hello")
	if st := g.Stats(); st.EventsRedelivered != 0 {
		t.Fatalf("%d events redelivered while their reply waited for the inbound dispatcher", st.EventsRedelivered)
	}
	if n := h.runs.Load(); n != 1 {
		t.Fatalf("OnMessage ran %d times", n)
	}
}
