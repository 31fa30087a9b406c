package bench_test

import (
	"testing"
	"time"

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
	a.ExpectNothing(100 * time.Millisecond)
}
