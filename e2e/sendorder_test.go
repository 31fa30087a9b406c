package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/worker"
)

// interleaver sends through the group subject and through the reply in
// both orders; the client must see them in the order the handler sent.
type interleaver struct{}

func (interleaver) OnConnect(c *worker.Context) error {
	return c.Gateway().JoinGroup(c, c.ClientID(), "g")
}

func (interleaver) OnMessage(c *worker.Context, m worker.Message) error {
	n := m.Text()
	if err := c.Gateway().SendToGroup("g", []byte(n+" group-first")); err != nil {
		return err
	}
	_ = c.SendToCurrentClient([]byte(n + " direct-second"))
	_ = c.SendToCurrentClient([]byte(n + " direct-third"))
	if err := c.Gateway().SendToGroup("g", []byte(n+" group-fourth")); err != nil {
		return err
	}
	// This one rides in the event reply, after the group message above.
	return c.SendToCurrentClient([]byte(n + " reply-fifth"))
}

func TestSendsKeepTheHandlersOrder(t *testing.T) {
	forBatching(t, testSendsKeepTheHandlersOrder)
}

func testSendsKeepTheHandlersOrder(t *testing.T, opts ...gateway.Option) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL(), opts...)
	sbtest.Worker(t, ns.ClientURL(), interleaver{})
	c := sbtest.Dial(t, g, "/")
	const rounds = 300
	for i := range rounds {
		c.Send(fmt.Sprint(i))
	}
	for i := range rounds {
		for _, want := range []string{"group-first", "direct-second", "direct-third", "group-fourth", "reply-fifth"} {
			got := c.Read(5 * time.Second)
			if got != fmt.Sprint(i)+" "+want {
				t.Fatalf("round %d: got %q, want %q", i, got, want)
			}
		}
	}
}
