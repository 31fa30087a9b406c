//go:build linux

package loadtest

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// dialTimeout bounds one connect and handshake.
const dialTimeout = 10 * time.Second

// frameHandler receives every data frame a connection reads, on the
// goroutine of the poller p that reads it; now is the fleet time of the
// read. payload is valid only during the call.
type frameHandler func(p *poller, c *conn, payload []byte, now int64)

// fleet is the client connections of a run and the pollers reading them.
// Connection i is read by poller i mod len(pollers).
type fleet struct {
	start   time.Time
	onFrame frameHandler
	pollers []*poller
	conns   []atomic.Pointer[conn] // fixed capacity; published before epoll sees them
	n       atomic.Int64           // connection slots taken
	sources int                    // loopback source addresses to spread over (0: the default)
	wake    int                    // eventfd that stops the pollers
	wg      sync.WaitGroup
	once    sync.Once
}

// newFleet starts pollers reading goroutines for up to capacity
// connections.
func newFleet(pollers, capacity int, onFrame frameHandler) (*fleet, error) {
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	f := &fleet{start: time.Now(), onFrame: onFrame, conns: make([]atomic.Pointer[conn], capacity), wake: wake}
	for i := range max(pollers, 1) {
		p, err := newPoller(f, i)
		if err != nil {
			f.close()
			return nil, err
		}
		f.pollers = append(f.pollers, p)
	}
	for _, p := range f.pollers {
		f.wg.Go(p.run)
	}
	return f, nil
}

// now is the time since the fleet started, in nanoseconds.
func (f *fleet) now() int64 { return int64(time.Since(f.start)) }

// conn returns connection i, or nil.
func (f *fleet) conn(i int) *conn {
	if i < 0 || i >= len(f.conns) {
		return nil
	}
	return f.conns[i].Load()
}

// count is the number of connections opened so far.
func (f *fleet) count() int {
	n := 0
	for i := range min(int(f.n.Load()), len(f.conns)) {
		if f.conns[i].Load() != nil {
			n++
		}
	}
	return n
}

// dial opens one more connection and starts reading it.
func (f *fleet) dial(ctx context.Context, target string) (*conn, error) {
	i := int(f.n.Add(1) - 1)
	if i >= len(f.conns) {
		return nil, fmt.Errorf("dial: more than the %d connections planned", len(f.conns))
	}
	var source net.IP
	if f.sources > 0 {
		source = sourceAddr(i % f.sources)
	}
	fd, pending, err := dialFD(ctx, target, dialTimeout, source)
	if err != nil {
		return nil, err
	}
	// Bytes the server sent right after the handshake are handled with
	// the next read of the connection.
	c := &conn{fd: fd, partial: pending, lastSeq: -1}
	f.conns[i].Store(c) // publishes c to the poller before epoll can report it
	if err := f.pollers[i%len(f.pollers)].add(i, c); err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	return c, nil
}

// dialMany opens n connections with at most conc handshakes at once and
// stops at the first failure.
func (f *fleet) dialMany(ctx context.Context, target string, n, conc int) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(max(conc, 1), max(n, 1)) {
		wg.Go(func() {
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				if _, err := f.dial(ctx, target); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("connected %d of %d: %w", f.count(), n, err)
	}
	return nil
}

// close stops the pollers, then closes every connection.
func (f *fleet) close() {
	f.once.Do(func() {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		_, _ = unix.Write(f.wake, one[:])
		f.wg.Wait()
		for i := range f.conns {
			if c := f.conns[i].Load(); c != nil {
				_ = unix.Close(c.fd)
			}
		}
		for _, p := range f.pollers {
			_ = unix.Close(p.epfd)
		}
		_ = unix.Close(f.wake)
	})
}

// ops sums the operations the pollers counted.
func (f *fleet) ops() int64 {
	var n int64
	for _, p := range f.pollers {
		n += p.ops.Load()
	}
	return n
}

// closedByServer sums the connections the server closed.
func (f *fleet) closedByServer() int64 {
	var n int64
	for _, p := range f.pollers {
		n += p.closed.Load()
	}
	return n
}

// results merges the pollers' histograms and returns the time of the last
// counted operation; call it only after close.
func (f *fleet) results() (h histogram, last int64) {
	for _, p := range f.pollers {
		h.merge(&p.hist)
		last = max(last, p.lastTime)
	}
	return h, last
}
