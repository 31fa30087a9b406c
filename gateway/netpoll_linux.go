package gateway

import (
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// netpoll reads idle WebSocket connections without a goroutine or a buffer
// each ("A Million WebSockets and Go"): one goroutine waits on epoll; when a
// connection becomes readable a short-lived goroutine reads what arrived
// into a pooled buffer, feeds it to the connection's frame parser and
// re-arms the connection. The parser keeps its place between reads (see
// wsReader), so a frame split across reads is parsed once and no read
// buffer is kept.
type netpoll struct {
	epfd  int
	wake  int // an eventfd in the epoll set: written to stop run (stop)
	mu    sync.Mutex
	conns map[int32]*conn
	bufs  sync.Pool // *pollBuf
	g     *Gateway
}

const netpollReadSize = 4 << 10

// pollBuf is the buffer a reading goroutine borrows to read into.
type pollBuf struct {
	b []byte
}

func newNetpoll(g *Gateway) (*netpoll, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	if err := unix.EpollCtl(fd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}); err != nil {
		_ = unix.Close(wake)
		_ = unix.Close(fd)
		return nil, err
	}
	p := &netpoll{epfd: fd, wake: wake, conns: map[int32]*conn{}, g: g}
	p.bufs.New = func() any { return &pollBuf{b: make([]byte, netpollReadSize)} }
	return p, nil
}

// stop makes run return: the gateway closed g.stop, and run, which waits
// in epoll_wait without a timeout, wakes on the eventfd.
func (p *netpoll) stop() {
	var one [8]byte
	one[0], one[7] = 1, 1 // a non-zero uint64 in either byte order
	_, _ = unix.Write(p.wake, one[:])
}

// add starts watching c; pending holds bytes already read with the
// handshake.
func (p *netpoll) add(c *conn, pending []byte) error {
	c.wsr = c.newWSReader()
	c.pending = pending
	p.mu.Lock()
	p.conns[int32(c.fd)] = c
	p.mu.Unlock()
	if len(pending) > 0 {
		go p.readable(c, false)
		return nil
	}
	return unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, c.fd, pollEvent(c))
}

// pollEvent tags the registration with the connection's sequence number,
// so an event for a closed connection is not taken for a new one that got
// the same descriptor.
func pollEvent(c *conn) *unix.EpollEvent {
	return &unix.EpollEvent{Events: pollEvents, Fd: int32(c.fd), Pad: int32(c.seq)}
}

const pollEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

// forget stops watching c (its socket is being closed).
func (p *netpoll) forget(c *conn) {
	p.mu.Lock()
	if p.conns[int32(c.fd)] == c {
		delete(p.conns, int32(c.fd))
	}
	p.mu.Unlock()
}

// run waits for readable connections until the gateway stops. It waits
// without a timeout: an idle gateway's poller does not wake its process
// (at light load each wake-up of an idle runtime costs about what a
// message does; docs/performance.md), and stop wakes it.
func (p *netpoll) run() {
	defer p.g.wg.Done()
	events := make([]unix.EpollEvent, 512)
	for {
		select {
		case <-p.g.stop:
			_ = unix.Close(p.epfd)
			_ = unix.Close(p.wake)
			return
		default:
		}
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			p.g.log.Error("epoll wait", "err", err)
			return
		}
		for i := range n {
			if events[i].Fd == int32(p.wake) {
				continue // stop: seen at the top of the loop
			}
			p.mu.Lock()
			c := p.conns[events[i].Fd]
			p.mu.Unlock()
			if c != nil && int32(c.seq) == events[i].Pad {
				go p.readable(c, true)
			}
		}
	}
}

// readable reads and handles what arrived on c, then re-arms it.
func (p *netpoll) readable(c *conn, registered bool) {
	// EPOLLONESHOT already lets one goroutine at a time read c; the lock
	// makes that order visible to the race detector, and costs nothing
	// uncontended.
	c.readMu.Lock()
	defer c.readMu.Unlock()
	// The last frame before this wake-up (or the connect): see busy below.
	prev := c.lastActive.Load()
	if ahead := c.pending; len(ahead) > 0 {
		c.pending = nil
		if !c.handleData(ahead) {
			p.forget(c)
			return
		}
	}
	pb := p.bufs.Get().(*pollBuf)
	defer p.bufs.Put(pb)
	for {
		n, err := syscall.Read(c.fd, pb.b)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if errors.Is(err, syscall.EAGAIN) {
			break
		}
		if n <= 0 {
			if err == nil {
				err = io.EOF
			}
			p.forget(c)
			c.readFailed(err)
			return
		}
		if !c.handleData(pb.b[:n]) {
			p.forget(c)
			return
		}
		if n < len(pb.b) {
			break
		}
	}
	// Only a connection that is busy lingers: one that had sent a frame
	// within lingerTime before this wake-up. The first message after a
	// quiet spell goes back to epoll at once, so idle clients that each
	// send one message do not hold a goroutine, its stack and a read
	// buffer apiece for lingerTime (thousands at once after a broadcast
	// that every client answers, kept as the process's RSS afterwards).
	if busy := time.Now().UnixNano()-prev < int64(lingerTime); busy && !p.linger(c, pb) {
		p.forget(c)
		return
	}
	op := unix.EPOLL_CTL_MOD
	if !registered {
		op = unix.EPOLL_CTL_ADD
	}
	if c.isClosed() {
		return
	}
	if err := unix.EpollCtl(p.epfd, op, c.fd, pollEvent(c)); err != nil && !c.isClosed() {
		p.forget(c)
		c.terminate("epoll: " + err.Error())
	}
}

// lingerTime is how long a busy connection (one that sent again within
// lingerTime) keeps its reader goroutine after it went quiet: a busy client
// is read like with a goroutine of its own (the Go runtime's poller, no
// epoll_ctl per message), an idle one goes back to epoll and holds
// nothing.
const lingerTime = 100 * time.Millisecond

// linger reads c with a blocking read while it keeps sending, until it has
// been quiet for lingerTime. It reports false when the connection ended.
func (p *netpoll) linger(c *conn, pb *pollBuf) bool {
	// The deadline is moved once per lingerTime, not per read: a timer
	// change per message would cost more than the read.
	last := time.Now()
	_ = c.nc.SetReadDeadline(last.Add(lingerTime))
	for {
		n, err := c.nc.Read(pb.b)
		if n > 0 {
			last = time.Now()
			if !c.handleData(pb.b[:n]) {
				return false
			}
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			if quiet := time.Since(last); quiet < lingerTime {
				_ = c.nc.SetReadDeadline(last.Add(lingerTime))
				continue
			}
			_ = c.nc.SetReadDeadline(time.Time{})
			return true
		}
		if err != nil {
			c.readFailed(err)
			return false
		}
	}
}
