package e2e

import (
	"testing"

	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/worker"
)

type echo struct{}

func (echo) OnMessage(c *worker.Context, m worker.Message) error {
	return c.SendToCurrentClient(m.Data)
}

func TestEcho(t *testing.T) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL())
	sbtest.Worker(t, ns.ClientURL(), echo{})
	c := sbtest.Dial(t, g, "/ws")
	c.Send("hello")
	c.Expect("hello")
}
