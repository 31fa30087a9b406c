package e2e

import (
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/internal/sbtest"
)

func TestBusBlink(t *testing.T) {
	port := sbtest.FreePort(t)
	ns := sbtest.NATSOnPort(t, port)
	url := ns.ClientURL()
	cl := &cluster{url: url, w: &ctl{}}
	cl.g1 = sbtest.Gateway(t, url)
	sbtest.Worker(t, url, cl.w)
	cl.api = sbtest.Client(t, url)
	a := dial(t, cl.g1)
	do(t, a, "join room")

	ns.Shutdown()
	ns.WaitForShutdown()
	// The client socket stays open while the bus is away.
	a.ExpectNothing(200 * time.Millisecond)
	ns2 := sbtest.NATSOnPort(t, port)
	defer ns2.Shutdown()

	// Client → worker → client works again, with no process restarted.
	sbtest.Eventually(t, 10*time.Second, "echo after the bus came back", func() bool {
		a.Send("ping")
		s, err := a.ReadErr(300 * time.Millisecond)
		for err == nil && s != "ping" {
			s, err = a.ReadErr(300 * time.Millisecond)
		}
		return err == nil
	})
	// Drain echoes of earlier attempts that were still queued.
	for {
		if _, err := a.ReadErr(300 * time.Millisecond); err != nil {
			break
		}
	}
	// API → group → client works again: the group subscription came back.
	sbtest.Eventually(t, 10*time.Second, "group send after the bus came back", func() bool {
		if err := cl.api.SendToGroup("room", []byte("back")); err != nil {
			return false
		}
		s, err := a.ReadErr(300 * time.Millisecond)
		return err == nil && s == "back"
	})
}
