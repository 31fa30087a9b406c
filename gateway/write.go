package gateway

import (
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
)

// Writes to a client never block the caller. When nothing is queued the
// frame is written at once with one non-blocking write; what the socket does
// not take is queued and a flusher goroutine, which exists only while the
// queue is not empty, writes the queue with writev. The queue is bounded by
// send_buffer_bytes: a client that cannot keep up is disconnected.

// frameOverhead is what a queued frame costs besides its bytes: its slice
// header in the queue (24 bytes) and, for a frame of its own, the
// allocator's rounding. send_buffer_bytes counts it, so a flood of tiny
// frames is bounded by memory, not by its few payload bytes.
const frameOverhead = 32

// sendPong answers a ping. While a queue is waiting for the socket only
// the latest ping is answered (RFC 6455 §5.5.3 allows it): its payload is
// kept, replacing any earlier one, and the flusher sends one pong when it
// next takes the queue, so a ping flood from a client that does not read
// holds one pong, not millions.
func (c *conn) sendPong(payload []byte) {
	c.wmu.Lock()
	if c.flushing && !c.wclosed && !c.closing {
		c.pong = append(c.pong[:0], payload...)
		c.pongWaiting = true
		c.wmu.Unlock()
		return
	}
	c.wmu.Unlock()
	c.send(appendWSFrame(nil, ws.OpPong, payload))
}

// send queues one encoded frame for the client. frame must not be modified
// afterwards: group frames are shared by all members.
func (c *conn) send(frame []byte) {
	one := [1][]byte{frame}
	c.sendv(one[:])
}

// sendv queues several frames, written with one writev when the socket is
// free. It reports whether it kept any of them in the send queue: until the
// queue is written, such frames must not be modified, and the others may
// be reused as soon as it returns.
func (c *conn) sendv(frames [][]byte) (kept bool) {
	c.wmu.Lock()
	if c.wclosed || c.closing {
		c.wmu.Unlock()
		return false
	}
	total := 0
	for _, f := range frames {
		total += len(f)
	}
	c.g.metrics.bytesOut.Add(uint64(total))
	if c.flushing {
		for _, f := range frames {
			c.enqueueLocked(f)
		}
		c.wmu.Unlock()
		return true
	}
	n, err := c.tryWritev(frames)
	if err != nil {
		c.wclosed = true
		c.wmu.Unlock()
		c.terminate("write: " + err.Error())
		return false
	}
	kept = n < total
	if kept {
		for _, f := range frames {
			if n >= len(f) {
				n -= len(f)
				continue
			}
			c.enqueueLocked(f[n:])
			n = 0
		}
		if !c.wclosed {
			c.flushing = true
			go c.flush()
		}
	}
	c.wmu.Unlock()
	return kept
}

// tryWritev writes what the socket takes now, one system call, straight
// on the descriptor: the runtime's RawConn bookkeeping cost 5% of a
// broadcast. The caller holds wmu and has seen wclosed false; terminate
// sets wclosed under wmu before it closes the socket, so the descriptor is
// open (and not yet reused for another socket) during the call.
func (c *conn) tryWritev(frames [][]byte) (int, error) {
	if c.fd < 0 {
		// No descriptor to try (TLS): let the flusher write it.
		return 0, nil
	}
	n, err := writeFD(c.fd, frames)
	if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR) {
		return 0, nil
	}
	return max(n, 0), err
}

func (c *conn) enqueueLocked(frame []byte) {
	if c.wclosed {
		// An earlier frame of the same sendv overflowed the queue: the
		// client is being closed and was counted once.
		return
	}
	cost := len(frame) + frameOverhead
	if c.wqBytes+cost > c.g.opts.SendBufferBytes {
		c.wclosed = true
		c.wq = nil
		c.g.log.Warn("client too slow, disconnecting", "client_id", c.id,
			"queued_bytes", c.wqBytes, "send_buffer_bytes", c.g.opts.SendBufferBytes)
		c.g.metrics.limits.hit(limitSlowClient)
		go c.terminate("send buffer full")
		return
	}
	c.wq = append(c.wq, frame)
	c.wqBytes += cost
	storeMax(&c.g.metrics.maxQueued, int64(c.wqBytes))
}

// storeMax raises m to v if v is larger.
func storeMax(m *atomic.Int64, v int64) {
	for {
		old := m.Load()
		if v <= old || m.CompareAndSwap(old, v) {
			return
		}
	}
}

// flush writes the queue until it is empty, then closes the connection if a
// graceful close was waiting for it.
func (c *conn) flush() {
	for {
		c.wmu.Lock()
		if c.pongWaiting && !c.wclosed {
			c.pongWaiting = false
			c.enqueueLocked(appendWSFrame(nil, ws.OpPong, c.pong))
		}
		if len(c.wq) == 0 || c.wclosed {
			c.flushing = false
			closeNow := c.closeAfterFlush
			c.wmu.Unlock()
			if closeNow {
				c.terminate(c.closeReason)
			}
			return
		}
		bufs, queued := c.wq, c.wqBytes
		c.wq = nil
		c.wmu.Unlock()
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.g.opts.writeTimeout))
		_, err := (*net.Buffers)(&bufs).WriteTo(c.nc)
		c.wmu.Lock()
		c.wqBytes -= queued
		c.wmu.Unlock()
		if err != nil {
			c.wmu.Lock()
			c.wclosed, c.flushing = true, false
			c.wmu.Unlock()
			c.terminate("write: " + err.Error())
			return
		}
	}
}

// closeGracefully sends a close frame after everything queued and then
// closes the socket.
func (c *conn) closeGracefully(frame []byte, reason string) {
	c.wmu.Lock()
	if c.pongWaiting && !c.wclosed && !c.closing {
		// The latest ping is answered before the close frame: nothing may
		// follow a close, and the flusher would add the pong after it.
		c.pongWaiting = false
		c.enqueueLocked(appendWSFrame(nil, ws.OpPong, c.pong))
	}
	c.wmu.Unlock()
	if frame != nil {
		c.send(frame)
	}
	c.wmu.Lock()
	c.closing = true
	c.closeReason = reason
	if c.flushing {
		c.closeAfterFlush = true
		c.wmu.Unlock()
		return
	}
	c.wclosed = true
	c.wmu.Unlock()
	c.terminate(reason)
}

// queuedBytes reports the bytes waiting to be written to the client.
func (c *conn) queuedBytes() int {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.wqBytes
}
