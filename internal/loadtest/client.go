//go:build linux

package loadtest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// maxFrame is the largest server frame a client accepts; it must fit the
// poller's read buffer together with a partial frame before it.
const maxFrame = 64 << 10

// maxPayload is the largest payload a scenario sends.
const maxPayload = 32 << 10

// conn is one client WebSocket: a raw non-blocking socket read by one
// poller. Its state is a few words; the bytes of a frame split across
// reads are kept only until the rest arrives.
type conn struct {
	fd      int
	partial []byte // poller-owned: start of a frame not complete yet
	lastSeq int64  // poller-owned: last broadcast sequence seen
	closed  bool   // poller-owned: the server closed it
	echoed  bool   // poller-owned: oneshot counted its echo
	sentAt  atomic.Int64
}

// dialFD opens one WebSocket to target and returns a non-blocking
// descriptor of its socket that the Go runtime does not poll, and the
// bytes the server sent after the handshake, if any.
// A non-nil source is the local address to connect from.
func dialFD(ctx context.Context, target string, timeout time.Duration, source net.IP) (int, []byte, error) {
	d := ws.Dialer{Timeout: timeout}
	if source != nil {
		nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: source}, Control: bindNoPort}
		d.NetDial = nd.DialContext
	}
	nc, br, _, err := d.Dial(ctx, target)
	if err != nil {
		return -1, nil, fmt.Errorf("dial %s: %w", target, err)
	}
	// The descriptor is duplicated and nc closed: the socket stays open
	// through the duplicate, outside the runtime's poller, with no
	// net.Conn or bufio buffers kept per connection.
	defer nc.Close()
	var pending []byte
	if br != nil {
		if n := br.Buffered(); n > 0 {
			b, _ := br.Peek(n)
			pending = bytes.Clone(b)
		}
		ws.PutReader(br)
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1, nil, fmt.Errorf("dial %s: %T is not a socket", target, nc)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, nil, fmt.Errorf("dial %s: %w", target, err)
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(f uintptr) {
		fd, dupErr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, nil, fmt.Errorf("dial %s: %w", target, err)
	}
	if dupErr != nil {
		return -1, nil, fmt.Errorf("dial %s: dup: %w", target, dupErr)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return -1, nil, fmt.Errorf("dial %s: %w", target, err)
	}
	return fd, pending, nil
}

// bindNoPort sets IP_BIND_ADDRESS_NO_PORT on a socket about to be bound
// to a source address: the port is chosen at connect time, per
// destination, instead of at bind time from the ports free on all.
func bindNoPort(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	}); err != nil {
		return err
	}
	return serr
}

// sourceAddr returns the k-th loopback source address, 127.0.x.y from
// 127.0.0.2 on.
func sourceAddr(k int) net.IP { return net.IPv4(127, 0, byte(k/250), byte(2+k%250)) }

// frameWriter builds frames in a reused buffer: masked ones for the load
// client, plain ones for the raw server. Each goroutine that writes has
// its own.
type frameWriter struct {
	hdr [ws.MaxHeaderSize]byte
	buf []byte
}

// Write appends to the frame being built (ws.WriteHeaderBuffer uses it).
func (w *frameWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// frame returns a masked frame of the given opcode carrying payload; it is
// valid until the next call.
func (w *frameWriter) frame(op ws.OpCode, payload []byte) []byte {
	return w.encode(ws.Header{OpCode: op, Masked: true, Mask: ws.NewMask()}, payload)
}

// serverFrame returns an unmasked frame, as a server sends; it is valid
// until the next call.
func (w *frameWriter) serverFrame(op ws.OpCode, payload []byte) []byte {
	return w.encode(ws.Header{OpCode: op}, payload)
}

// encode builds one final frame with h's opcode and mask around payload.
func (w *frameWriter) encode(h ws.Header, payload []byte) []byte {
	h.Fin, h.Length = true, int64(len(payload))
	w.buf = w.buf[:0]
	_ = ws.WriteHeaderBuffer(w, h, w.hdr[:]) // cannot fail: the length is bounded
	start := len(w.buf)
	w.buf = append(w.buf, payload...)
	if h.Masked {
		ws.Cipher(w.buf[start:], h.Mask, 0)
	}
	return w.buf
}

// send writes one masked text frame to c. Only one goroutine writes to a
// connection at a time (the scenarios make sure of it).
func (w *frameWriter) send(c *conn, payload []byte) error {
	return writeAll(c.fd, w.frame(ws.OpText, payload))
}

// writeAll writes b to a non-blocking socket, waiting (up to 10 s) for
// room when the socket buffer is full.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		switch {
		case err == nil:
			b = b[n:]
		case errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.EAGAIN):
			if err := waitWritable(fd, 10*time.Second); err != nil {
				return err
			}
		default:
			return fmt.Errorf("write: %w", err)
		}
	}
	return nil
}

func waitWritable(fd int, d time.Duration) error {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	n, err := unix.Poll(fds, int(d/time.Millisecond))
	if err != nil && !errors.Is(err, unix.EINTR) {
		return fmt.Errorf("write: poll: %w", err)
	}
	if err == nil && n == 0 {
		return fmt.Errorf("write: socket not writable for %v", d)
	}
	return nil
}

// parseHeader decodes the header of the server frame at the start of
// data; ok is false until the whole header is there.
func parseHeader(data []byte) (h ws.Header, size int, ok bool) {
	if len(data) < 2 {
		return h, 0, false
	}
	h.Fin = data[0]&0x80 != 0
	h.OpCode = ws.OpCode(data[0] & 0x0f)
	h.Masked = data[1]&0x80 != 0
	size = 2
	switch l := data[1] & 0x7f; l {
	case 126:
		if len(data) < 4 {
			return h, 0, false
		}
		h.Length, size = int64(binary.BigEndian.Uint16(data[2:])), 4
	case 127:
		if len(data) < 10 {
			return h, 0, false
		}
		h.Length, size = int64(binary.BigEndian.Uint64(data[2:])&(1<<63-1)), 10
	default:
		h.Length = int64(l)
	}
	if h.Masked {
		if len(data) < size+4 {
			return h, 0, false
		}
		copy(h.Mask[:], data[size:])
		size += 4
	}
	return h, size, true
}

// CheckTarget returns an error unless target is a ws:// URL on a loopback
// host (127.0.0.0/8, ::1 or localhost); any host is accepted when
// allowRemote is set.
func CheckTarget(target string, allowRemote bool) error {
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("target %q: %w", target, err)
	}
	if u.Scheme != "ws" {
		return fmt.Errorf("target %q: only ws:// URLs are supported", target)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("target %q: no host", target)
	}
	if allowRemote || isLoopbackHost(host) {
		return nil
	}
	return fmt.Errorf("refusing target %s: not loopback (127.0.0.0/8, ::1, localhost); use -allow-remote to load a remote host", host)
}
