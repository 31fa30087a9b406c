package loadtest

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// wakeData marks the fleet's stop eventfd in epoll events; connection
// events carry the connection's index in the fleet.
const wakeData = -1

// poller reads its share of the fleet's connections on one goroutine with
// level-triggered epoll and one read buffer.
type poller struct {
	id     int
	f      *fleet
	epfd   int
	buf    []byte
	events []unix.EpollEvent
	w      frameWriter // replies written from this poller (echo, pong)

	// Owned by the poller goroutine; read by others only after it stopped.
	hist     histogram
	lastTime int64 // fleet time of the last counted operation

	// Readable while the poller runs.
	ops    atomic.Int64 // operations counted by the scenario's handler
	closed atomic.Int64 // connections the server closed (or broke)
}

func newPoller(f *fleet, id int) (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeData}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, f.wake, &ev); err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	return &poller{id: id, f: f, epfd: epfd, buf: make([]byte, 2*maxFrame), events: make([]unix.EpollEvent, 256)}, nil
}

// add registers connection i of the fleet.
func (p *poller) add(i int, c *conn) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(i)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

// run reads ready connections until the fleet's stop eventfd fires.
func (p *poller) run() {
	for {
		n, err := unix.EpollWait(p.epfd, p.events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return // only when epfd is broken; the fleet then stops anyway
		}
		for _, ev := range p.events[:n] {
			if ev.Fd == wakeData {
				return
			}
			if c := p.f.conn(int(ev.Fd)); c != nil && !c.closed {
				p.readReady(c)
			}
		}
	}
}

// readReady reads once from a ready connection (level-triggered epoll
// reports it again if more is waiting) and handles the frames read.
func (p *poller) readReady(c *conn) {
	off := copy(p.buf, c.partial)
	c.partial = nil
	var n int
	for {
		var err error
		n, err = unix.Read(c.fd, p.buf[off:])
		if err == nil {
			break
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EAGAIN) {
			c.partial = bytes.Clone(p.buf[:off])
			return
		}
		p.drop(c)
		return
	}
	if n == 0 {
		p.drop(c)
		return
	}
	rest, ok := p.consume(c, p.buf[:off+n], p.f.now())
	if !ok {
		p.drop(c)
		return
	}
	if len(rest) > 0 {
		c.partial = bytes.Clone(rest)
	}
}

// consume hands every complete frame in data to the fleet's handler and
// returns the bytes of an incomplete last frame; ok is false when the
// connection must be dropped (close frame, oversized frame, failed pong).
func (p *poller) consume(c *conn, data []byte, now int64) (rest []byte, ok bool) {
	for {
		h, size, complete := parseHeader(data)
		if !complete {
			return data, true
		}
		if h.Length > maxFrame {
			return nil, false
		}
		end := size + int(h.Length)
		if len(data) < end {
			return data, true
		}
		payload := data[size:end]
		if h.Masked {
			ws.Cipher(payload, h.Mask, 0)
		}
		switch h.OpCode {
		case ws.OpText, ws.OpBinary, ws.OpContinuation:
			p.f.onFrame(p, c, payload, now)
		case ws.OpPing:
			if writeAll(c.fd, p.w.frame(ws.OpPong, payload)) != nil {
				return nil, false
			}
		case ws.OpClose:
			return nil, false
		}
		data = data[end:]
	}
}

// drop stops reading a connection the server closed; its descriptor is
// closed with the fleet.
func (p *poller) drop(c *conn) {
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	c.closed = true
	c.partial = nil
	p.closed.Add(1)
}
