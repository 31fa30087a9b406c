package gateway

import (
	"crypto/tls"

	"golang.org/x/sys/unix"
)

// UnreadBytes reports how many bytes of the client id wait in the gateway's socket receive queue, and
// whether that client is connected. Tests use it as a barrier: once it is
// 0 the gateway has read everything written so far, so the next write
// arrives in a read of its own.
func UnreadBytes(g *Gateway, id string) (int, bool) {
	fd := -1
	g.hub.each(func(c *conn) {
		if c.id != id || c.isClosed() {
			return
		}
		fd = c.fd
		if tc, ok := c.nc.(*tls.Conn); ok {
			fd = socketFD(tc.NetConn())
		}
	})
	if fd < 0 {
		return 0, false
	}
	n, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
	if err != nil {
		return 0, false
	}
	return n, true
}

// LingerTime is how long a busy connection's reader keeps reading after
// it went quiet (netpoll_linux.go).
const LingerTime = lingerTime
