package gateway

import (
	"errors"
	"io"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/switchboard-go/switchboard/bus"
)

// protocolError closes a connection with a WebSocket status code.
type protocolError struct {
	code   ws.StatusCode
	reason string
}

func (e *protocolError) Error() string { return e.reason }

// readLoop reads frames until the connection ends. Messages become events;
// ping is answered with pong; close is answered and ends the loop.
func (c *conn) readLoop() {
	var msg []byte // a fragmented message being reassembled
	var msgOp ws.OpCode
	for {
		h, err := ws.ReadHeader(c.br)
		if err != nil {
			c.readFailed(err)
			return
		}
		if err := c.checkHeader(h, len(msg), msgOp != 0); err != nil {
			c.readFailed(err)
			return
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(c.br, payload); err != nil {
			c.readFailed(err)
			return
		}
		ws.Cipher(payload, h.Mask, 0)
		c.lastActive.Store(time.Now().UnixNano())
		switch h.OpCode {
		case ws.OpPing:
			c.send(appendWSFrame(nil, ws.OpPong, payload))
			continue
		case ws.OpPong:
			continue
		case ws.OpClose:
			c.closeGracefully(appendWSFrame(nil, ws.OpClose, closeEcho(payload)), "client closed")
			return
		case ws.OpText, ws.OpBinary:
			msgOp, msg = h.OpCode, payload
		case ws.OpContinuation:
			msg = append(msg, payload...)
		}
		if !h.Fin {
			continue
		}
		if msgOp == ws.OpText && !utf8.Valid(msg) {
			c.readFailed(&protocolError{ws.StatusInvalidFramePayloadData, "invalid UTF-8 in text message"})
			return
		}
		c.g.metrics.msgsIn.Add(1)
		if !c.allowMessage(time.Now()) {
			c.readFailed(&protocolError{ws.StatusPolicyViolation, "message rate limit exceeded"})
			return
		}
		if !c.enqueue(&pendingEvent{kind: bus.EventMessage, data: msg, binary: msgOp == ws.OpBinary}, false) {
			return
		}
		msg, msgOp = nil, 0
	}
}

// checkHeader enforces RFC 6455 and the gateway's size limit.
func (c *conn) checkHeader(h ws.Header, assembled int, fragmented bool) error {
	switch {
	case !h.Masked:
		return &protocolError{ws.StatusProtocolError, "client frame not masked"}
	case h.Rsv != 0:
		return &protocolError{ws.StatusProtocolError, "reserved bits set"}
	case h.OpCode.IsReserved():
		return &protocolError{ws.StatusProtocolError, "reserved opcode"}
	case h.OpCode.IsControl() && (h.Length > 125 || !h.Fin):
		return &protocolError{ws.StatusProtocolError, "invalid control frame"}
	case h.OpCode == ws.OpContinuation && !fragmented:
		return &protocolError{ws.StatusProtocolError, "continuation without a message"}
	case h.OpCode.IsData() && h.OpCode != ws.OpContinuation && fragmented:
		return &protocolError{ws.StatusProtocolError, "new message inside a fragmented one"}
	case h.Length < 0 || h.Length > int64(c.g.opts.maxMessageBytes-assembled):
		return &protocolError{ws.StatusMessageTooBig, "message too large"}
	}
	return nil
}

// readFailed ends the connection after a read error: protocol errors get a
// close frame with their status code, I/O errors just close.
func (c *conn) readFailed(err error) {
	var pe *protocolError
	if errors.As(err, &pe) {
		c.g.log.Info("client protocol error", "client_id", c.id, "err", pe.reason, "code", int(pe.code))
		c.closeGracefully(c.t.closeFrame(pe.code, pe.reason), pe.reason)
		return
	}
	c.terminate("read: " + err.Error())
}

// closeEcho returns the body of the close frame answering a client's close:
// its status code, or nothing.
func closeEcho(body []byte) []byte {
	if len(body) < 2 {
		return nil
	}
	return body[:2]
}
