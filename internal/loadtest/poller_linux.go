package loadtest

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// poller reads many client connections on one goroutine with epoll.
type poller struct {
	epfd  int
	mu    sync.Mutex
	conns map[int32]*Conn
	buf   []byte
}

func newPoller() (*poller, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	return &poller{epfd: fd, conns: map[int32]*Conn{}, buf: make([]byte, 256<<10)}, nil
}

// add registers a connection; its frames go to c.onFrame.
func (p *poller) add(c *Conn) error {
	p.mu.Lock()
	p.conns[int32(c.fd)] = c
	p.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(c.fd)}
	return unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev)
}

func (p *poller) remove(c *Conn) {
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	p.mu.Lock()
	delete(p.conns, int32(c.fd))
	p.mu.Unlock()
}

// run reads ready connections until stop is closed (checked every 50 ms).
func (p *poller) run(stop <-chan struct{}) {
	events := make([]unix.EpollEvent, 256)
	for {
		select {
		case <-stop:
			return
		default:
		}
		n, err := unix.EpollWait(p.epfd, events, 50)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		for i := range n {
			p.mu.Lock()
			c := p.conns[events[i].Fd]
			p.mu.Unlock()
			if c != nil {
				p.readReady(c)
			}
		}
	}
}

// readReady reads what the socket holds and parses the frames in it.
func (p *poller) readReady(c *Conn) {
	for {
		n, err := syscall.Read(c.fd, p.buf)
		if n > 0 {
			c.consume(p.buf[:n])
		}
		if errors.Is(err, syscall.EAGAIN) {
			return
		}
		if n == 0 || err != nil {
			p.remove(c)
			c.closed.Store(true)
			return
		}
		if n < len(p.buf) {
			return
		}
	}
}

func (p *poller) close() { _ = unix.Close(p.epfd) }

// rawFD returns the descriptor of a TCP connection (kept open by conn).
func rawFD(conn net.Conn) (int, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return 0, errors.New("not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var fd int
	err = raw.Control(func(f uintptr) { fd = int(f) })
	return fd, err
}
