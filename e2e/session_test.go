package e2e

import (
	"fmt"
	"testing"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/wire"
)

// TestSessions runs with event batching on (the default) and off: with
// batching, the next event of a client happens to be published a little
// later, which can hide a session change applied after it went out.
func TestSessions(t *testing.T) {
	forBatching(t, testSessions)
}

// forBatching runs test as two subtests, with the gateways' default
// event batching and with MaxEventBatch(1) (every event alone).
func forBatching(t *testing.T, test func(t *testing.T, opts ...gateway.Option)) {
	t.Run("batching", func(t *testing.T) { test(t) })
	t.Run("no batching", func(t *testing.T) { test(t, gateway.MaxEventBatch(1)) })
}

func testSessions(t *testing.T, opts ...gateway.Option) {
	cl := newCluster(t, opts...)
	a := dial(t, cl.g1)
	b := dial(t, cl.g2)

	t.Run("set in OnConnect, visible in OnMessage", func(t *testing.T) {
		a.Send("get greeted")
		a.Expect("yes")
	})
	t.Run("UpdateSession from outside is visible in the next event", func(t *testing.T) {
		if err := cl.api.UpdateSession(ctx(t), a.ID, bus.Session{"plan": "gold"}); err != nil {
			t.Fatal(err)
		}
		a.Send("get plan")
		a.Expect("gold")
		a.Send("get greeted")
		a.Expect("yes") // merged, not replaced
	})
	t.Run("SetSession replaces", func(t *testing.T) {
		if err := cl.api.SetSession(ctx(t), a.ID, bus.Session{"only": "this"}); err != nil {
			t.Fatal(err)
		}
		a.Send("get greeted")
		a.Expect("<nil>")
		a.Send("get only")
		a.Expect("this")
	})
	t.Run("Session of a client on another gateway", func(t *testing.T) {
		do(t, b, "set color green")
		s, err := cl.api.Session(ctx(t), b.ID)
		if err != nil || s["color"] != "green" || s["greeted"] != "yes" {
			t.Fatalf("Session(b) = %v, %v", s, err)
		}
	})
	t.Run("read-your-writes when the client sends ahead", func(t *testing.T) {
		// All 200 increments are on the wire before the first is handled;
		// each handler must see the previous handler's write.
		const n = 200
		for range n {
			b.Send("incr")
		}
		for i := 1; i <= n; i++ {
			b.Expect(fmt.Sprint(i))
		}
	})
	t.Run("unknown client", func(t *testing.T) {
		_, err := cl.api.Session(ctx(t), wire.ClientID(cl.g1.ID(), 999))
		if err == nil {
			t.Fatal("Session of an unknown client: want an error")
		}
	})
}
