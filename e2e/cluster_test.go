package e2e

import (
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
)

// TestThreeNodeCluster attaches gateways and workers to different NATS
// nodes: events, group messages and queries cross the routes.
func TestThreeNodeCluster(t *testing.T) {
	nodes := sbtest.NATSCluster(t, 3)
	w := &ctl{}
	cl := &cluster{w: w}
	cl.g1 = sbtest.Gateway(t, nodes[0].ClientURL())
	cl.g2 = sbtest.Gateway(t, nodes[1].ClientURL())
	sbtest.Worker(t, nodes[2].ClientURL(), w) // the only worker, on the third node
	cl.api = sbtest.Client(t, nodes[2].ClientURL())

	a := dial(t, cl.g1) // connect event crossed from node 1 to node 3 and back
	b := dial(t, cl.g2)
	do(t, a, "join team")
	do(t, b, "join team")
	// Interest in the group subject reaches the other nodes shortly after
	// the join; wait for it instead of assuming it.
	sbtest.Eventually(t, 5*time.Second, "group send across the routes", func() bool {
		_ = cl.api.SendToGroup("team", []byte("probe"))
		_, errA := a.ReadErr(100 * time.Millisecond)
		return errA == nil
	})
	drain(a)
	drain(b)
	if err := cl.api.SendToGroup("team", []byte("hello team")); err != nil {
		t.Fatal(err)
	}
	a.Expect("hello team")
	b.Expect("hello team")
	if err := cl.api.SendToClient(a.ID, []byte("direct")); err != nil {
		t.Fatal(err)
	}
	a.Expect("direct")
	ids, err := cl.api.ClientIDsByGroup(ctx(t), "team")
	if err != nil || len(ids) != 2 {
		t.Fatalf("ClientIDsByGroup across nodes = %v, %v", ids, err)
	}
	gws, err := cl.api.Gateways(ctx(t))
	if err != nil || len(gws) != 2 {
		t.Fatalf("Gateways across nodes = %v, %v", gws, err)
	}
	// Close the clients while the worker runs: their close events cross
	// the routes. Were the worker stopped first (the cleanups run in
	// reverse order), a close event published while its leaving had not
	// yet reached the gateway's node would be lost without a "no
	// responders", and the gateway's shutdown would wait event_timeout
	// for it ("1 clients still closing").
	closeClient(t, cl, a)
	closeClient(t, cl, b)
}

// drain reads whatever is pending on c.
func drain(c *sbtest.WS) {
	for {
		if _, err := c.ReadErr(100 * time.Millisecond); err != nil {
			return
		}
	}
}

// TestNamespacesDoNotSeeEachOther runs two applications with different
// prefixes on one NATS server.
func TestNamespacesDoNotSeeEachOther(t *testing.T) {
	ns := sbtest.NATS(t)
	url := ns.ClientURL()
	wa, wb := &ctl{}, &ctl{}
	ga := sbtest.Gateway(t, url, gateway.Prefix("app.a"))
	gb := sbtest.Gateway(t, url, gateway.Prefix("app.b"))
	sbtest.Worker(t, url, wa, workerPrefix("app.a"))
	sbtest.Worker(t, url, wb, workerPrefix("app.b"))
	apiA := sbtest.Client(t, url, bus.WithPrefix("app.a"))
	apiB := sbtest.Client(t, url, bus.WithPrefix("app.b"))

	a := dial(t, ga)
	b := dial(t, gb)
	do(t, a, "join room")
	do(t, b, "join room")
	if err := apiA.SendToGroup("room", []byte("for a")); err != nil {
		t.Fatal(err)
	}
	a.Expect("for a")
	b.ExpectNothingFrom(apiB)
	if err := apiA.SendToAll([]byte("all of a")); err != nil {
		t.Fatal(err)
	}
	a.Expect("all of a")
	b.ExpectNothingFrom(apiB)
	for name, api := range map[string]*bus.Client{"a": apiA, "b": apiB} {
		n, err := api.ClientCount(ctx(t))
		if err != nil || n != 1 {
			t.Fatalf("namespace %s counts %d clients (%v), want 1", name, n, err)
		}
	}
	if on, err := apiB.IsOnline(ctx(t), a.ID); err != nil || on {
		t.Fatalf("namespace b sees a's client: %v %v", on, err)
	}
	wa.mu.Lock()
	wb.mu.Lock()
	defer wa.mu.Unlock()
	defer wb.mu.Unlock()
	if len(wa.connect) != 1 || len(wb.connect) != 1 || wa.connect[0] != a.ID || wb.connect[0] != b.ID {
		t.Fatalf("workers handled the other namespace's events: a %v, b %v", wa.connect, wb.connect)
	}
}
