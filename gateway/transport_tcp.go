package gateway

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/switchboard-go/switchboard/bus"
)

// readTCP reads newline-delimited or length-prefixed messages until the
// connection ends. A message over max_message_bytes closes the connection.
func (c *conn) readTCP() {
	for {
		msg, err := readTCPMessage(c.br, c.t, c.g.opts.maxMessageBytes)
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
		c.g.metrics.bytesIn.Add(uint64(len(msg)))
		if !c.allowMessage(time.Now()) {
			c.g.log.Info("client over its message rate, closing", "client_id", c.id)
			c.g.metrics.limits.hit(limitRate)
			c.terminate("rate limit")
			return
		}
		if !c.enqueue(&pendingEvent{kind: bus.EventMessage, data: msg}, false) {
			return
		}
	}
}

// readTCPMessage reads one message in t's framing, at most limit bytes.
func readTCPMessage(br *bufio.Reader, t transport, limit int) ([]byte, error) {
	if t == transportTCPFrame {
		var hdr [4]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return nil, err
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if int64(n) > int64(limit) {
			return nil, fmt.Errorf("message of %d bytes: %w", n, bus.ErrMessageTooLarge)
		}
		msg := make([]byte, n)
		_, err := io.ReadFull(br, msg)
		return msg, err
	}
	var msg []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(msg)+len(chunk) > limit+1 {
			return nil, fmt.Errorf("line over %d bytes: %w", limit, bus.ErrMessageTooLarge)
		}
		msg = append(msg, chunk...)
		if err == nil {
			return bytes.TrimSuffix(bytes.TrimSuffix(msg, []byte("\n")), []byte("\r")), nil
		}
		if err != bufio.ErrBufferFull {
			return nil, err
		}
	}
}
