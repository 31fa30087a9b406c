package gateway

import "time"

// BegunMessages counts the clients of g with a message begun and not yet
// complete (the ones message_read_timeout watches).
func BegunMessages(g *Gateway) int {
	n := 0
	g.hub.each(func(c *conn) {
		if c.msgStart.Load() != 0 && !c.isClosed() {
			n++
		}
	})
	return n
}

// HoldInbound makes g's inbound dispatcher stop at its next group message,
// as if it were busy writing a big broadcast, until the returned function
// is called: it holds the lock that the goroutine takes to list the
// group's members.
func HoldInbound(g *Gateway) (release func()) {
	g.hub.mu.Lock()
	return g.hub.mu.Unlock
}

// InboundQueued is how many messages wait for g's inbound dispatcher.
func InboundQueued(g *Gateway) int { return len(g.inbound) }

// PeersAlive returns the gateways g counts as alive: itself and the peers
// whose heartbeats are recent (what queries wait for).
func PeersAlive(g *Gateway) []string { return g.peers.alive() }

// ScanEvents runs g's event timeout scan at now, as its ticker does.
func ScanEvents(g *Gateway, now time.Time) { g.scanEvents(now) }
