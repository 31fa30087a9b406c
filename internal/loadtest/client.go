package loadtest

import (
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
)

// Conn is one client WebSocket. Its frames are parsed by a poller; state
// is a few fields and, only while a frame is split across reads, the
// partial bytes.
type Conn struct {
	nc      net.Conn
	fd      int
	partial []byte
	onFrame func(c *Conn, payload []byte)
	closed  atomic.Bool
	// Scenario state.
	sentAt  int64 // unix nanoseconds of the message in flight (echo)
	id      int
	counter atomic.Int64
}

// consume parses server frames (unmasked) from data.
func (c *Conn) consume(data []byte) {
	if len(c.partial) > 0 {
		data = append(c.partial, data...)
		c.partial = nil
	}
	for {
		hdr, n, ok := frameSize(data)
		if !ok {
			break
		}
		if op := ws.OpCode(data[0] & 0x0f); op == ws.OpText || op == ws.OpBinary {
			c.onFrame(c, data[hdr:hdr+n])
		}
		data = data[hdr+n:]
	}
	if len(data) > 0 {
		c.partial = append([]byte(nil), data...)
	}
}

// frameSize returns the header and payload length of the frame at the
// start of data, and whether all of it is there.
func frameSize(data []byte) (hdr, n int, ok bool) {
	if len(data) < 2 {
		return 0, 0, false
	}
	switch l := int(data[1] & 0x7f); l {
	case 126:
		if len(data) < 4 {
			return 0, 0, false
		}
		hdr, n = 4, int(binary.BigEndian.Uint16(data[2:]))
	case 127:
		if len(data) < 10 {
			return 0, 0, false
		}
		hdr, n = 10, int(binary.BigEndian.Uint64(data[2:]))
	default:
		hdr, n = 2, l
	}
	return hdr, n, len(data) >= hdr+n
}

// Send writes one masked text frame with a single write when it can.
func (c *Conn) Send(payload []byte) error {
	buf := make([]byte, 0, len(payload)+14)
	buf = append(buf, 0x81)
	switch n := len(payload); {
	case n < 126:
		buf = append(buf, 0x80|byte(n))
	case n <= 0xffff:
		buf = append(buf, 0x80|126, byte(n>>8), byte(n))
	default:
		buf = append(buf, 0x80|127)
		buf = binary.BigEndian.AppendUint64(buf, uint64(n))
	}
	mask := ws.NewMask()
	buf = append(buf, mask[:]...)
	start := len(buf)
	buf = append(buf, payload...)
	ws.Cipher(buf[start:], mask, 0)
	for len(buf) > 0 {
		n, err := syscall.Write(c.fd, buf)
		if errors.Is(err, syscall.EAGAIN) {
			_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			n, err = c.nc.Write(buf)
		}
		if err != nil {
			return err
		}
		buf = buf[n:]
	}
	return nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// dial opens one WebSocket and registers it with p.
func dial(ctx context.Context, target string, p *poller, onFrame func(*Conn, []byte), source net.IP) (*Conn, error) {
	d := ws.Dialer{}
	if source != nil {
		// Spreading connections over several loopback source addresses
		// keeps the kernel's search for a free ephemeral port short; with
		// one source address it grows with every open connection.
		nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: source}, Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
			})
			if err != nil {
				return err
			}
			return serr
		}}
		d.NetDial = nd.DialContext
	}
	nc, br, _, err := d.Dial(ctx, target)
	if err != nil {
		return nil, err
	}
	fd, err := rawFD(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	c := &Conn{nc: nc, fd: fd, onFrame: onFrame}
	if br != nil && br.Buffered() > 0 {
		b, _ := br.Peek(br.Buffered())
		c.consume(b)
	}
	if err := p.add(c); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// ipBindAddressNoPort is Linux's IP_BIND_ADDRESS_NO_PORT: bind the source
// address now, choose the port at connect time.
const ipBindAddressNoPort = 24

// CheckTarget refuses anything but loopback unless allowRemote.
func CheckTarget(target string, allowRemote bool) error {
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	if allowRemote {
		return nil
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("target %s is not loopback (127.0.0.0/8, ::1, localhost); use -allow-remote", host)
}
