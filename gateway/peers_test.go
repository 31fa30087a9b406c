package gateway_test

import (
	"slices"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
)

// TestPeerListDropsDeadGateway: a gateway that dies without a goodbye (its
// NATS connection cut) leaves the others' peer lists once three of its
// heartbeat intervals passed. Queries also probe a silent gateway
// (bus), so this checks the list itself: a list that kept dead gateways
// would make every query pay that probe, forever.
func TestPeerListDropsDeadGateway(t *testing.T) {
	ns := sbtest.NATS(t)
	beat := gateway.HeartbeatInterval(50 * time.Millisecond)
	g1 := sbtest.Gateway(t, ns.ClientURL(), beat)
	nc2 := sbtest.Conn(t, ns.ClientURL())
	g2 := sbtest.GatewayOn(t, nc2, beat)
	sbtest.Eventually(t, 5*time.Second, "g1 to count g2 alive", func() bool {
		return slices.Contains(gateway.PeersAlive(g1), g2.ID())
	})
	nc2.Close() // g2's process dies: no goodbye
	sbtest.Eventually(t, 5*time.Second, "g1 to drop g2 from its peers", func() bool {
		return slices.Equal(gateway.PeersAlive(g1), []string{g1.ID()})
	})
}
