package gateway_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/worker"
)

// idSender tells each client its id on connect and echoes messages.
type idSender struct{ echo }

func (idSender) OnConnect(c *worker.Context) error {
	return c.SendToCurrentClient([]byte(c.ClientID()))
}

// TestJoinGroupsCapped: a client in max_groups_per_client groups cannot
// join another (the caller gets a limit error, the refusal is counted),
// joining a group it is in still works, and leaving makes room.
func TestJoinGroupsCapped(t *testing.T) {
	const max, tries = 50, 200
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL(), gateway.MaxGroupsPerClient(max))
	sbtest.Worker(t, ns.ClientURL(), idSender{})
	api := sbtest.Client(t, ns.ClientURL())
	c := sbtest.Dial(t, g, "/")
	c.ID = c.Read(5 * time.Second)
	ok, refused := 0, 0
	for i := range tries {
		err := api.JoinGroup(t.Context(), c.ID, fmt.Sprintf("g%d", i))
		switch {
		case err == nil:
			ok++
		case errors.Is(err, bus.ErrRemote) && strings.Contains(err.Error(), "max_groups_per_client"):
			refused++
		default:
			t.Fatalf("join %d: %v", i, err)
		}
	}
	if ok != max || refused != tries-max {
		t.Fatalf("%d joins succeeded and %d were refused, want %d and %d", ok, refused, max, tries-max)
	}
	if got := g.Stats().Refused["max_groups_per_client"]; got != tries-max {
		t.Errorf("refused max_groups_per_client = %d, want %d", got, tries-max)
	}
	if err := api.JoinGroup(t.Context(), c.ID, "g0"); err != nil {
		t.Errorf("joining a group the client is in: %v", err)
	}
	if err := api.LeaveGroup(t.Context(), c.ID, "g0"); err != nil {
		t.Fatal(err)
	}
	if err := api.JoinGroup(t.Context(), c.ID, "another"); err != nil {
		t.Errorf("join after a leave: %v", err)
	}
	if err := api.SendToGroup("another", []byte("in")); err != nil {
		t.Fatal(err)
	}
	c.Expect("in")
}

// setter sets, in a reply, the session the message asks for.
type setter struct{ idSender }

func (setter) OnMessage(c *worker.Context, m worker.Message) error {
	c.SetSession(bus.Session{"big": string(m.Data)})
	return c.SendToCurrentClient([]byte("set"))
}

// TestSessionSizeCapped: a session over max_session_bytes is refused,
// from the API (error "limit") and from a worker's reply (ignored, with a
// warning); an update that would pass it changes nothing; each is counted.
func TestSessionSizeCapped(t *testing.T) {
	const max = 1024
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL(), gateway.MaxSessionBytes(max))
	sbtest.Worker(t, ns.ClientURL(), setter{})
	api := sbtest.Client(t, ns.ClientURL())
	c := sbtest.Dial(t, g, "/")
	c.ID = c.Read(5 * time.Second)
	ctx := t.Context()

	if err := api.SetSession(ctx, c.ID, bus.Session{"name": "ann"}); err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("x", 1<<20)
	if err := api.SetSession(ctx, c.ID, bus.Session{"big": huge}); err == nil || !strings.Contains(err.Error(), "max_session_bytes") {
		t.Errorf("SetSession of 1 MiB: %v, want a max_session_bytes error", err)
	}
	if err := api.UpdateSession(ctx, c.ID, bus.Session{"big": strings.Repeat("y", max)}); err == nil {
		t.Error("UpdateSession past the limit succeeded")
	}
	c.Send(strings.Repeat("z", 2*max)) // the worker sets a session too big
	c.Expect("set")
	s, err := api.Session(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 1 || s["name"] != "ann" {
		t.Errorf("session %v after refused changes, want the first one", s)
	}
	if got := g.Stats().Refused["max_session_bytes"]; got != 3 {
		t.Errorf("refused max_session_bytes = %d, want 3", got)
	}
	c.Send("small") // a change within the limit still applies
	c.Expect("set")
	if s, err = api.Session(ctx, c.ID); err != nil || s["big"] != "small" {
		t.Errorf("session %v (%v), want big=small", s, err)
	}
}

// gatedEcho holds every message until the gate opens.
type gatedEcho struct {
	idSender
	gate chan struct{}
}

func (h *gatedEcho) OnMessage(c *worker.Context, m worker.Message) error {
	<-h.gate
	return h.echo.OnMessage(c, m)
}

// TestPendingEventsBoundedInBytes: a client that sends 64 KiB messages
// faster than a stuck worker takes them has at most max_pending_bytes of
// them waiting in the gateway (here 256 KiB, where max_pending_events
// alone would allow 64 × 64 KiB = 4 MiB); its reader waits (counted), and
// once the worker goes on every message is echoed, in order.
func TestPendingEventsBoundedInBytes(t *testing.T) {
	const (
		size     = 64 << 10
		messages = 40
		maxBytes = 256 << 10
	)
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL(), gateway.MaxPendingBytes(maxBytes), gateway.EventTimeout(time.Minute))
	h := &gatedEcho{gate: make(chan struct{})}
	sbtest.Worker(t, ns.ClientURL(), h)
	c := sbtest.Dial(t, g, "/")
	c.ID = c.Read(5 * time.Second)
	sent := make(chan error, 1)
	go func() {
		for i := range messages {
			msg := fmt.Sprintf("%04d", i) + strings.Repeat(".", size-4)
			if err := wsutil.WriteClientText(c.Conn, []byte(msg)); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	sbtest.Eventually(t, 10*time.Second, "the reader to wait for room", func() bool {
		return g.Stats().Backpressure > 0
	})
	st := g.Stats()
	t.Logf("while the worker is stuck: most pending for one client %d KiB, reader waited %d times", st.MaxPendingBytes>>10, st.Backpressure)
	if st.MaxPendingBytes > maxBytes {
		t.Errorf("%d bytes pending for one client, over max_pending_bytes %d", st.MaxPendingBytes, maxBytes)
	}
	close(h.gate)
	for i := range messages {
		got := c.Read(10 * time.Second)
		if want := fmt.Sprintf("%04d", i); got[:4] != want || len(got) != size {
			t.Fatalf("echo %d: %q... (%d bytes), want %s", i, got[:4], len(got), want)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if st := g.Stats(); st.MaxPendingBytes > maxBytes {
		t.Errorf("%d bytes pending for one client, over max_pending_bytes %d", st.MaxPendingBytes, maxBytes)
	}
}
