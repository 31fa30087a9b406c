package gateway

import (
	"github.com/switchboard-go/switchboard/internal/wire"
)

// A client is never dropped silently. When the scanner gives up a message
// event (max_redeliveries exhausted, or no worker within no_worker_wait),
// the client's stream has a hole the application never saw: the client
// is closed (WebSocket close 1013 "try again later", a TCP client's socket
// closed), counted as refused{reason="event_dropped"}, and the message
// events queued behind the dropped one are dropped with it (counted in
// events_dropped): they would run after a gap, for a client that was told
// to try again. Its close event still goes to a worker, which saw it
// connect. A dropped connect event is handled apart (loseConnectLocked),
// a dropped close event needs nothing: the client is gone.

// abandonLocked marks c abandoned after its message event in flight was
// dropped and releases the message events queued behind it. It returns
// how many events were given up, the dropped one included. The caller
// holds c.evMu.
func (c *conn) abandonLocked() int {
	n := 1
	if !c.abandoned {
		c.abandoned = true
		var keep []*pendingEvent
		for q := c.queue.pop(); q != nil; q = c.queue.pop() {
			if q.kind != wire.EventMessage {
				keep = append(keep, q) // its close event
				continue
			}
			n++
			c.pendingBytes -= len(q.data)
			q.release()
		}
		for _, q := range keep {
			c.queue.push(q)
		}
		c.evCond.Broadcast() // a reader waiting for room gives up
	}
	return n
}

// closeAbandoned closes a client whose message event was dropped, and
// counts the n events given up. At shutdown the client is about to be
// closed with 1001 anyway: it is only counted.
func (g *Gateway) closeAbandoned(c *conn, n int) {
	g.metrics.eventsDropped.Add(uint64(n - 1)) // the scanner counted the first
	if g.closing.Load() {
		return
	}
	g.metrics.limits.hit(limitEventDropped)
	g.log.Warn("a message event of the client was dropped; closing it", "client_id", c.id, "events_dropped", n)
	c.closeGracefully(c.t.closeFrame(statusTryAgainLater, "try again later"), "message event dropped")
}
