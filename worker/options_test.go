package worker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/internal/wire"
	"github.com/switchboard-go/switchboard/worker"
)

// introspect answers each message with what its Context says of the
// event, and fails the message "fail".
type introspect struct{}

func (introspect) OnMessage(c *worker.Context, m worker.Message) error {
	if m.Text() == "fail" {
		return errors.New("failing on purpose")
	}
	c.Logger().Debug("introspect", "message", m.Text())
	return c.SendToCurrentClient(fmt.Appendf(nil, "gateway=%s worker=%s redelivered=%t remote=%t",
		c.GatewayID(), c.Worker().ID(), c.Redelivered(), strings.HasPrefix(c.RemoteAddr(), "127.0.0.1:")))
}

// TestWorkerOptionsAndContext: the options a worker is built with take
// effect (Observe sees every event with its kind and error, Prefix
// namespaces it, MaxConcurrency must be positive), a Context describes
// its event, and bus.Client.Workers lists the live worker.
func TestWorkerOptionsAndContext(t *testing.T) {
	ns := sbtest.NATS(t)
	if _, err := worker.New(sbtest.Conn(t, ns.ClientURL()), struct{}{}); err == nil {
		t.Fatal("New with no handler: want an error")
	}
	if _, err := worker.New(sbtest.Conn(t, ns.ClientURL()), introspect{}, worker.MaxConcurrency(0)); err == nil {
		t.Fatal("MaxConcurrency(0): want an error")
	}
	var mu sync.Mutex
	observed := map[string]int{}
	failed := 0
	observe := worker.Observe(func(kind string, d time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		observed[kind]++
		if err != nil {
			failed++
		}
	})
	g := sbtest.Gateway(t, ns.ClientURL(), gateway.Prefix("app"))
	w := sbtest.Worker(t, ns.ClientURL(), introspect{}, worker.Prefix("app"), worker.APITimeout(2*time.Second),
		worker.MaxConcurrency(4), observe)
	c := sbtest.Dial(t, g, "/")
	c.Send("who")
	c.Expect(fmt.Sprintf("gateway=%s worker=%s redelivered=false remote=true", g.ID(), w.ID()))
	c.Send("fail")
	c.Send("again")
	c.Expect(fmt.Sprintf("gateway=%s worker=%s redelivered=false remote=true", g.ID(), w.ID()))
	mu.Lock()
	if observed[wire.EventConnect] != 1 || observed[wire.EventMessage] != 3 || failed != 1 {
		t.Errorf("observed %v with %d errors; want 1 connect, 3 messages, 1 error", observed, failed)
	}
	mu.Unlock()
	if w.InFlight() != 0 {
		t.Errorf("%d events in flight after every reply came", w.InFlight())
	}

	api := sbtest.Client(t, ns.ClientURL(), bus.WithPrefix("app"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, err := api.Workers(ctx, 200*time.Millisecond)
	if err != nil || len(ws) != 1 || ws[0].ID != w.ID() {
		t.Fatalf("Workers = %+v, %v; want the one worker %s", ws, err, w.ID())
	}
	other := sbtest.Client(t, ns.ClientURL())
	if ws, err := other.Workers(ctx, 100*time.Millisecond); err != nil || len(ws) != 0 {
		t.Fatalf("Workers in another namespace = %+v, %v; want none", ws, err)
	}
}
