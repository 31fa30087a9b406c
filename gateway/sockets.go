package gateway

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Every socket a listener accepts counts against max_connections and
// max_connections_per_ip from accept to close, whatever it turns out to
// be: a plain HTTP request, a handshake in progress, a WebSocket or a TCP
// client.

// sockets counts the open accepted sockets, in all and per remote IP.
type sockets struct {
	open      atomic.Int64
	lingering atomic.Int64 // refused sockets being closed gracefully
	mu        sync.Mutex
	perIP     map[string]int
}

// acquire counts a new socket from ip, or reports which limit refuses it.
func (g *Gateway) acquire(ip string) (limit, bool) {
	s := &g.sockets
	if perIP := g.opts.MaxConnectionsPerIP; perIP > 0 {
		s.mu.Lock()
		if s.perIP[ip] >= perIP {
			s.mu.Unlock()
			return limitMaxConnectionsPerIP, false
		}
		s.perIP[ip]++
		s.mu.Unlock()
	}
	if n := s.open.Add(1); g.opts.MaxConnections > 0 && n > int64(g.opts.MaxConnections) {
		s.open.Add(-1)
		g.forgetIP(ip)
		return limitMaxConnections, false
	}
	return 0, true
}

// release uncounts a socket acquired from ip.
func (g *Gateway) release(ip string) {
	g.sockets.open.Add(-1)
	g.forgetIP(ip)
}

func (g *Gateway) forgetIP(ip string) {
	if g.opts.MaxConnectionsPerIP <= 0 {
		return
	}
	s := &g.sockets
	s.mu.Lock()
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
	s.mu.Unlock()
}

// remoteIP is the address a per-IP count is kept under.
func remoteIP(a net.Addr) string {
	if tcp, ok := a.(*net.TCPAddr); ok {
		return tcp.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// trackedConn is an accepted socket that gives its count back when it is
// closed, once. A plain socket is unwrapped when it becomes a client
// (writev and netpoll need the socket itself), and the client releases
// the count when it ends (conn.release).
type trackedConn struct {
	net.Conn
	g    *Gateway
	ip   string
	done atomic.Bool
}

func (t *trackedConn) Close() error {
	err := t.Conn.Close()
	t.releaseOnce()
	return err
}

func (t *trackedConn) releaseOnce() {
	if t.done.CompareAndSwap(false, true) {
		t.g.release(t.ip)
	}
}

// SyscallConn gives socketFD the descriptor of a plain socket.
func (t *trackedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := t.Conn.(syscall.Conn)
	if !ok {
		return nil, syscall.EINVAL
	}
	return sc.SyscallConn()
}

// untrack hands a client's socket count to the client: c.nc becomes the
// socket itself and c.release gives the count back when the client ends.
func untrack(c *conn) {
	if t, ok := c.nc.(*trackedConn); ok {
		c.nc, c.release = t.Conn, t.releaseOnce
	}
}

// lingerLimit bounds the refused sockets closed gracefully at once; past
// it a refused socket is closed at once.
const lingerLimit = 1024

// refuseSocket turns away a socket over a connection limit: WebSocket
// listeners answer 503 (the request is not read: the limit protects
// descriptors), TCP listeners close. The answer is followed by a graceful
// close, bounded to a second, so that the client reads it rather than a
// reset.
func (g *Gateway) refuseSocket(nc net.Conn, l limit, http bool) {
	g.metrics.limits.hit(l)
	g.log.Debug("connection refused", "limit", l.String(), "remote", nc.RemoteAddr().String())
	if !http {
		_ = nc.Close()
		return
	}
	if g.sockets.lingering.Add(1) > lingerLimit {
		g.sockets.lingering.Add(-1)
		_ = nc.Close()
		return
	}
	defer g.sockets.lingering.Add(-1)
	_ = nc.SetDeadline(time.Now().Add(time.Second))
	_, _ = io.WriteString(nc, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: "+retryAfter+
		"\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n\r\ntoo many connections")
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		_, _ = io.Copy(io.Discard, io.LimitReader(nc, 64<<10))
	}
	_ = nc.Close()
}
