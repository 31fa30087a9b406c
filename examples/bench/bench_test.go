package bench_test

import (
	"testing"

	"github.com/switchboard-go/switchboard/examples/bench"
	"github.com/switchboard-go/switchboard/internal/sbtest"
)

func TestBenchProtocol(t *testing.T) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL())
	sbtest.Worker(t, ns.ClientURL(), bench.Events{})
	a, b, c := sbtest.Dial(t, g, "/"), sbtest.Dial(t, g, "/"), sbtest.Dial(t, g, "/")
	a.Send("join g")
	a.Expect("ok")
	b.Send("join g")
	b.Expect("ok")
	c.Send("bcast g hello world")
	a.Expect("hello world")
	b.Expect("hello world")
	c.Send("echo me")
	c.Expect("echo me")
	// The echo went to c alone: a's own echo, answered after it by the
	// same worker connection (so the gateway applies them in order), is
	// the next message a gets.
	a.Send("a's marker")
	a.Expect("a's marker")
}
