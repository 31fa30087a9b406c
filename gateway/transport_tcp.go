package gateway

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/internal/wire"
)

// readTCP reads newline-delimited or length-prefixed messages until the
// connection ends. A message over max_message_bytes closes the connection.
func (c *conn) readTCP() {
	for {
		ev, err := c.nextTCPMessage()
		if err != nil {
			if errors.Is(err, bus.ErrMessageTooLarge) {
				c.g.metrics.limits.hit(limitMessageTooLarge)
			}
			if err != io.EOF {
				c.g.log.Info("client read failed", "client_id", c.id, "transport", c.t.String(), "err", err)
			}
			c.terminate("read: " + err.Error())
			return
		}
		c.lastActive.Store(time.Now().UnixNano())
		c.g.metrics.msgsIn.Add(1)
		c.g.metrics.bytesIn.Add(uint64(len(ev.data)))
		if !c.allowMessage(time.Now()) {
			ev.release()
			c.g.log.Info("client over its message rate, closing", "client_id", c.id)
			c.g.metrics.limits.hit(limitRate)
			c.terminate("rate limit")
			return
		}
		if !c.enqueue(ev, false) {
			return
		}
	}
}

// nextTCPMessage reads the next message straight into a pooled event's
// buffer. The event is taken once the message starts arriving, so an idle
// client's reader holds none.
func (c *conn) nextTCPMessage() (*pendingEvent, error) {
	if _, err := c.br.Peek(1); err != nil {
		return nil, err
	}
	ev := c.g.pools.event(wire.EventMessage)
	var err error
	ev.data, err = readTCPMessage(c.br, c.t, c.g.opts.MaxMessageBytes, ev.data, &c.msgStart)
	c.messageDone()
	if err != nil {
		ev.release()
		return nil, err
	}
	return ev, nil
}

// readTCPMessage reads one message in t's framing, at most limit bytes,
// into buf's array (reused when it has room). Before it waits for more
// bytes of a message it marks begun (unless nil or marked already) with
// the time: the message must end within message_read_timeout.
func readTCPMessage(br *bufio.Reader, t transport, limit int, buf []byte, begun *atomic.Int64) ([]byte, error) {
	if t == transportTCPFrame {
		if br.Buffered() < 4 {
			markBegun(begun)
		}
		// Peek, not ReadFull into a local array: that would escape to the
		// heap through the io.Reader call.
		hdr, err := br.Peek(4)
		if err != nil {
			if len(hdr) > 0 && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return buf[:0], err
		}
		n := binary.BigEndian.Uint32(hdr)
		if int64(n) > int64(limit) {
			return buf[:0], fmt.Errorf("message of %d bytes: %w", n, bus.ErrMessageTooLarge)
		}
		_, _ = br.Discard(4)
		// The buffer grows with the bytes that arrive (growFor), not with
		// what the header announced.
		msg := buf[:0]
		for len(msg) < int(n) {
			if len(msg) == cap(msg) {
				msg = growFor(msg, 1, int(n)-len(msg))
			}
			if br.Buffered() == 0 {
				markBegun(begun)
			}
			k, err := br.Read(msg[len(msg):min(cap(msg), int(n))])
			msg = msg[:len(msg)+k]
			if err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return msg[:0], err
			}
		}
		return msg, nil
	}
	msg := buf[:0]
	for {
		if b, _ := br.Peek(br.Buffered()); bytes.IndexByte(b, '\n') < 0 {
			markBegun(begun)
		}
		chunk, err := br.ReadSlice('\n')
		if len(msg)+len(chunk) > limit+1 {
			return msg[:0], fmt.Errorf("line over %d bytes: %w", limit, bus.ErrMessageTooLarge)
		}
		msg = append(msg, chunk...)
		if err == nil {
			return bytes.TrimSuffix(bytes.TrimSuffix(msg, []byte("\n")), []byte("\r")), nil
		}
		if err != bufio.ErrBufferFull {
			return msg[:0], err
		}
	}
}
