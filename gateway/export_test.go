package gateway

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
