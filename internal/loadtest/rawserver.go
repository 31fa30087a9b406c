//go:build linux

package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// RawServer is a bench-protocol server (DESIGN section 5) with no bus and
// no event pipeline: what is left is the kernel's cost of the traffic, the
// floor a real gateway is compared with under the same client. It speaks
// WebSocket text frames:
//
//	join G            → add the connection to group G, reply "ok"
//	bcast G PAYLOAD   → one text frame with PAYLOAD, encoded once, written to
//	                    every member of G (the sender too if it is one), one
//	                    write(2) per member, on the sender's goroutine
//	anything else     → echoed to the sender as one text frame
//
// as examples/bench does through the gateway (SendToGroup excludes nobody;
// joining twice is joining once; an empty group name is refused silently).
// Each connection has a goroutine that reads it; members are idle.
type RawServer struct {
	ln net.Listener

	mu     sync.RWMutex         // groups; a broadcast holds it read-locked while it writes
	groups map[string]*rawGroup // by name

	connMu sync.Mutex
	conns  map[*rawConn]struct{}
	closed bool

	wg   sync.WaitGroup
	once sync.Once
}

type rawGroup struct {
	members []*rawConn
}

// rawConn is one server connection. Only its reading goroutine closes it,
// and only after taking it out of every group, so a broadcast never
// writes to its descriptor once closed (the number could be reused).
type rawConn struct {
	nc  net.Conn
	raw syscall.RawConn
	fd  int // nc's descriptor, non-blocking, polled by the runtime for reads

	wmu     sync.Mutex // one writer at a time: a partial write must be finished before another frame starts
	closing atomic.Bool

	groups map[string]int // index in each group's members; under RawServer.mu

	// Owned by the reading goroutine.
	br  *bufio.Reader
	msg []byte      // message being read (fragments joined)
	out frameWriter // frames written by this goroutine: replies and broadcasts
}

const (
	rawMaxMessage   = 1 << 20          // larger client messages close the connection
	rawReadBuffer   = 1 << 10          // per-connection read buffer
	rawWriteTimeout = 10 * time.Second // a member that takes no data for this long is closed
	rawHandshake    = 10 * time.Second
)

var (
	errRawProtocol = errors.New("raw server: websocket protocol error")
	errRawTooLarge = errors.New("raw server: message too large")
)

// StartRawServer listens on addr (host:port; port 0 picks one) and serves
// until Close.
func StartRawServer(addr string) (*RawServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("raw server: %w", err)
	}
	s := &RawServer{ln: ln, groups: map[string]*rawGroup{}, conns: map[*rawConn]struct{}{}}
	s.wg.Go(s.accept)
	return s, nil
}

// RunRawServer serves on addr until ctx is done; ready, if not nil, is
// called with the address once the server listens.
func RunRawServer(ctx context.Context, addr string, ready func(net.Addr)) error {
	s, err := StartRawServer(addr)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(s.Addr())
	}
	<-ctx.Done()
	return s.Close()
}

// Addr is the address the server listens on.
func (s *RawServer) Addr() net.Addr { return s.ln.Addr() }

// Close stops accepting, closes every connection and waits for their
// goroutines.
func (s *RawServer) Close() error {
	var err error
	s.once.Do(func() {
		err = s.ln.Close()
		s.connMu.Lock()
		s.closed = true
		for c := range s.conns {
			c.stop() // the reading goroutine closes it
		}
		s.connMu.Unlock()
		s.wg.Wait()
	})
	return err
}

func (s *RawServer) accept() {
	for {
		nc, err := s.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil { // out of descriptors, say: wait for some to be freed
			time.Sleep(10 * time.Millisecond)
			continue
		}
		c, err := newRawConn(nc)
		if err != nil {
			_ = nc.Close()
			continue
		}
		s.connMu.Lock()
		if s.closed {
			s.connMu.Unlock()
			_ = nc.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Go(func() { s.serve(c) })
		s.connMu.Unlock()
	}
}

func newRawConn(nc net.Conn) (*rawConn, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("%T is not a socket", nc)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	c := &rawConn{nc: nc, raw: raw, fd: -1}
	if err := raw.Control(func(fd uintptr) { c.fd = int(fd) }); err != nil {
		return nil, err
	}
	return c, nil
}

// stop makes the reading goroutine return soon and unblocks a write
// waiting for room; safe from any goroutine.
func (c *rawConn) stop() {
	c.closing.Store(true)
	past := time.Unix(1, 0)
	_ = c.nc.SetReadDeadline(past)
	_ = c.nc.SetWriteDeadline(past)
}

func (s *RawServer) serve(c *rawConn) {
	defer s.drop(c)
	// Each deadline is set before closing is checked: a stop after the
	// check sets its own deadlines after these.
	_ = c.nc.SetDeadline(time.Now().Add(rawHandshake))
	if c.closing.Load() {
		return
	}
	if _, err := ws.Upgrade(c.nc); err != nil {
		return
	}
	_ = c.nc.SetDeadline(time.Time{})
	if c.closing.Load() {
		return
	}
	c.br = bufio.NewReaderSize(c.nc, rawReadBuffer)
	for {
		msg, err := c.readMessage()
		if err != nil {
			return
		}
		if err := s.handle(c, msg); err != nil {
			return
		}
	}
}

// drop takes c out of its groups, then closes it.
func (s *RawServer) drop(c *rawConn) {
	c.stop()
	s.mu.Lock() // waits for broadcasts that may be writing to c
	for name, i := range c.groups {
		g := s.groups[name]
		last := len(g.members) - 1
		moved := g.members[last]
		g.members[i] = moved
		moved.groups[name] = i
		g.members[last] = nil
		g.members = g.members[:last]
		if len(g.members) == 0 {
			delete(s.groups, name)
		}
	}
	c.groups = nil
	s.mu.Unlock()
	s.connMu.Lock()
	delete(s.conns, c)
	s.connMu.Unlock()
	_ = c.nc.Close()
}

// handle runs one bench command from c.
func (s *RawServer) handle(c *rawConn, msg []byte) error {
	switch {
	case bytes.HasPrefix(msg, []byte("join ")):
		name := msg[len("join "):]
		if len(name) == 0 {
			return nil // JoinGroup refuses it; the bench worker replies nothing
		}
		s.join(c, string(name))
		return c.send(ws.OpText, []byte("ok"))
	case bytes.HasPrefix(msg, []byte("bcast ")):
		name, payload, _ := bytes.Cut(msg[len("bcast "):], []byte(" "))
		s.broadcast(name, c.out.serverFrame(ws.OpText, payload))
		return nil
	default:
		return c.send(ws.OpText, msg)
	}
}

func (s *RawServer) join(c *rawConn, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := c.groups[name]; ok {
		return
	}
	g := s.groups[name]
	if g == nil {
		g = &rawGroup{}
		s.groups[name] = g
	}
	if c.groups == nil {
		c.groups = map[string]int{}
	}
	c.groups[name] = len(g.members)
	g.members = append(g.members, c)
}

// broadcast writes frame to every member of the group: one write(2) each
// (more only for a member whose socket buffer is full). A member whose
// write fails is stopped; its reading goroutine then drops it.
func (s *RawServer) broadcast(name []byte, frame []byte) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	g := s.groups[string(name)]
	if g == nil {
		return
	}
	for _, m := range g.members {
		_ = m.write(frame)
	}
}

// send writes one frame to c from its reading goroutine.
func (c *rawConn) send(op ws.OpCode, payload []byte) error {
	return c.write(c.out.serverFrame(op, payload))
}

// write writes frame to c with one write(2) on its descriptor.
//
// The descriptor is the runtime's own, written directly: a write is one
// system call and nothing else — no net.Conn or RawConn.Write (whose
// closure escapes to the heap on every call, plus the descriptor's
// reference counting and poller bookkeeping), no second goroutine. A
// dup'd blocking descriptor is not an option: O_NONBLOCK belongs to the
// open file, which the duplicate shares, so the runtime's reads would
// block their threads (one per idle member), and 10,000 members would
// need 20,000 descriptors, the hard limit here. The descriptor cannot be
// closed under a write: a broadcast writes only to group members while
// holding s.mu, and a connection is taken out of its groups under s.mu
// before it is closed, by the only goroutine that writes it otherwise.
// Only when the socket buffer is full does the rest wait for room in the
// runtime's poller (RawConn.Write, bounded by rawWriteTimeout). wmu keeps
// another writer from starting a frame in the middle of a partial one;
// uncontended, it costs two atomic operations.
func (c *rawConn) write(frame []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n, err := unix.Write(c.fd, frame)
	if err == nil && n == len(frame) {
		return nil
	}
	if err := c.writeSlow(frame, n, err); err != nil {
		c.stop() // a frame may be cut short: nothing more can be sent
		return err
	}
	return nil
}

// writeSlow finishes a write that did not write all of frame; c.wmu is
// held.
func (c *rawConn) writeSlow(frame []byte, n int, err error) error {
	if err != nil {
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("write: %w", err)
		}
		n = 0
	}
	if c.closing.Load() {
		return net.ErrClosed
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(rawWriteTimeout))
	if c.closing.Load() { // stop's deadline may just have been replaced
		return net.ErrClosed
	}
	rest := frame[n:]
	var werr error
	if err := c.raw.Write(func(fd uintptr) bool {
		for len(rest) > 0 {
			n, err := unix.Write(int(fd), rest)
			switch {
			case err == nil:
				rest = rest[n:]
			case errors.Is(err, unix.EINTR):
			case errors.Is(err, unix.EAGAIN):
				return false // wait for room
			default:
				werr = err
				return true
			}
		}
		return true
	}); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if werr != nil {
		return fmt.Errorf("write: %w", werr)
	}
	return nil
}

// readMessage reads the next data message from c, joining fragments and
// answering control frames; the message is valid until the next call.
// It returns an error when the connection is to be closed: read error,
// close frame (answered), protocol error, message over rawMaxMessage.
func (c *rawConn) readMessage() ([]byte, error) {
	c.msg = c.msg[:0]
	fragmented := false
	var ctl [125]byte
	for {
		h, err := c.readHeader()
		if err != nil {
			return nil, err
		}
		if h.OpCode.IsControl() {
			if !h.Fin || h.Length > int64(len(ctl)) {
				return nil, errRawProtocol
			}
			p := ctl[:h.Length]
			if _, err := io.ReadFull(c.br, p); err != nil {
				return nil, err
			}
			ws.Cipher(p, h.Mask, 0)
			switch h.OpCode {
			case ws.OpPing:
				if err := c.send(ws.OpPong, p); err != nil {
					return nil, err
				}
			case ws.OpClose:
				_ = c.send(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
				return nil, io.EOF
			}
			continue
		}
		if (h.OpCode == ws.OpContinuation) != fragmented {
			return nil, errRawProtocol
		}
		if h.Length > int64(rawMaxMessage-len(c.msg)) {
			return nil, errRawTooLarge
		}
		start := len(c.msg)
		c.msg = append(c.msg, make([]byte, h.Length)...)
		p := c.msg[start:]
		if _, err := io.ReadFull(c.br, p); err != nil {
			return nil, err
		}
		ws.Cipher(p, h.Mask, 0)
		if h.Fin {
			return c.msg, nil
		}
		fragmented = true
	}
}

// readHeader reads the header of the next client frame from the read
// buffer (ws.ReadHeader allocates a buffer for each).
func (c *rawConn) readHeader() (ws.Header, error) {
	b, err := c.br.Peek(2)
	if err != nil {
		return ws.Header{}, err
	}
	if b[0]&0x70 != 0 || b[1]&0x80 == 0 {
		return ws.Header{}, errRawProtocol // no extensions; clients mask
	}
	size := 2 + 4
	switch b[1] & 0x7f {
	case 126:
		size += 2
	case 127:
		size += 8
	}
	if b, err = c.br.Peek(size); err != nil {
		return ws.Header{}, err
	}
	h, _, _ := parseHeader(b)
	_, _ = c.br.Discard(size)
	return h, nil
}

// CheckListen returns an error unless addr (host:port) is on a loopback
// host (127.0.0.0/8, ::1 or localhost); an empty host, meaning every
// interface, is refused too. Any host is accepted when allowRemote is set.
func CheckListen(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if allowRemote || isLoopbackHost(host) {
		return nil
	}
	if host == "" {
		host = "every interface"
	}
	return fmt.Errorf("refusing to listen on %s: not loopback (127.0.0.0/8, ::1, localhost); use -allow-remote to serve other hosts", host)
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
