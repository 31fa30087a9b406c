package gateway

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/switchboard-go/switchboard/bus"
)

// readTCP reads newline-delimited or length-prefixed messages until the
// connection ends. A message over max_message_bytes closes the connection.
func (c *conn) readTCP() {
	for {
		msg, err := c.readTCPMessage()
		if err != nil {
			if err != io.EOF {
				c.g.log.Info("client read failed", "client_id", c.id, "transport", c.t.String(), "err", err)
			}
			c.terminate("read: " + err.Error())
			return
		}
		c.lastActive.Store(time.Now().UnixNano())
		c.g.metrics.msgsIn.Add(1)
		if !c.allowMessage(time.Now()) {
			c.g.log.Info("client over its message rate, closing", "client_id", c.id)
			c.terminate("rate limit")
			return
		}
		if !c.enqueue(&pendingEvent{kind: bus.EventMessage, data: msg}, false) {
			return
		}
	}
}

func (c *conn) readTCPMessage() ([]byte, error) {
	limit := c.g.opts.maxMessageBytes
	if c.t == transportTCPFrame {
		var hdr [4]byte
		if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
			return nil, err
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if int64(n) > int64(limit) {
			return nil, fmt.Errorf("message of %d bytes: %w", n, bus.ErrMessageTooLarge)
		}
		msg := make([]byte, n)
		_, err := io.ReadFull(c.br, msg)
		return msg, err
	}
	var msg []byte
	for {
		chunk, err := c.br.ReadSlice('\n')
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
