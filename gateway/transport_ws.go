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

// wsReader turns client frames into messages: it checks every header
// against RFC 6455 and the size limit, unmasks, reassembles fragments,
// inflates permessage-deflate messages and checks text is UTF-8.
type wsReader struct {
	limit   int
	deflate bool // permessage-deflate was negotiated
	msg     []byte
	op      ws.OpCode // opcode of the message being reassembled, 0 if none
	rsv1    bool      // the message being reassembled is compressed
}

// next reads until it has a complete data message or a control frame and
// returns its opcode and payload.
func (r *wsReader) next(br io.Reader) (ws.OpCode, []byte, error) {
	for {
		h, err := ws.ReadHeader(br)
		if err != nil {
			return 0, nil, err
		}
		if err := r.check(h); err != nil {
			return 0, nil, err
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(br, payload); err != nil {
			return 0, nil, err
		}
		ws.Cipher(payload, h.Mask, 0)
		switch h.OpCode {
		case ws.OpPing, ws.OpPong, ws.OpClose:
			return h.OpCode, payload, nil
		case ws.OpText, ws.OpBinary:
			r.op, r.msg, r.rsv1 = h.OpCode, payload, h.Rsv1()
		case ws.OpContinuation:
			r.msg = append(r.msg, payload...)
		}
		if !h.Fin {
			continue
		}
		op, msg, compressed := r.op, r.msg, r.rsv1
		r.op, r.msg, r.rsv1 = 0, nil, false
		if compressed {
			if msg, err = inflate(msg, r.limit); err != nil {
				return 0, nil, err
			}
		}
		if op == ws.OpText && !utf8.Valid(msg) {
			return 0, nil, &protocolError{ws.StatusInvalidFramePayloadData, "invalid UTF-8 in text message"}
		}
		return op, msg, nil
	}
}

// readLoop reads messages until the connection ends. Messages become
// events; ping is answered with pong; close is answered and ends the loop.
func (c *conn) readLoop() {
	r := c.newWSReader()
	for {
		op, payload, err := r.next(c.br)
		if err != nil {
			c.readFailed(err)
			return
		}
		if !c.handleWS(op, payload) {
			return
		}
	}
}

func (c *conn) newWSReader() wsReader {
	return wsReader{limit: c.g.opts.maxMessageBytes, deflate: c.t == transportWSDeflate}
}

// handleWS acts on one message or control frame; false means the
// connection is ending and reading must stop.
func (c *conn) handleWS(op ws.OpCode, payload []byte) bool {
	now := time.Now()
	c.lastActive.Store(now.UnixNano())
	switch op {
	case ws.OpPing:
		c.send(appendWSFrame(nil, ws.OpPong, payload))
		return true
	case ws.OpPong:
		return true
	case ws.OpClose:
		c.closeGracefully(appendWSFrame(nil, ws.OpClose, closeEcho(payload)), "client closed")
		return false
	}
	c.g.metrics.msgsIn.Add(1)
	c.g.metrics.bytesIn.Add(uint64(len(payload)))
	if !c.allowMessage(now) {
		c.readFailed(&protocolError{ws.StatusPolicyViolation, "message rate limit exceeded"})
		return false
	}
	return c.enqueue(&pendingEvent{kind: bus.EventMessage, data: payload, binary: op == ws.OpBinary}, false)
}

// check enforces RFC 6455, the negotiated extensions and the size limit.
func (r *wsReader) check(h ws.Header) error {
	fragmented := r.op != 0
	rsv := h.Rsv
	if r.deflate && h.OpCode != ws.OpContinuation && h.OpCode.IsData() {
		rsv &^= 0x4 // RSV1 marks a compressed message
	}
	switch {
	case !h.Masked:
		return &protocolError{ws.StatusProtocolError, "client frame not masked"}
	case rsv != 0:
		return &protocolError{ws.StatusProtocolError, "reserved bits set"}
	case h.OpCode.IsReserved():
		return &protocolError{ws.StatusProtocolError, "reserved opcode"}
	case h.OpCode.IsControl() && (h.Length > 125 || !h.Fin):
		return &protocolError{ws.StatusProtocolError, "invalid control frame"}
	case h.OpCode == ws.OpContinuation && !fragmented:
		return &protocolError{ws.StatusProtocolError, "continuation without a message"}
	case h.OpCode.IsData() && h.OpCode != ws.OpContinuation && fragmented:
		return &protocolError{ws.StatusProtocolError, "new message inside a fragmented one"}
	case h.Length < 0 || h.Length > int64(r.limit-len(r.msg)):
		return &protocolError{ws.StatusMessageTooBig, "message too large"}
	}
	return nil
}

// readFailed ends the connection after a read error: protocol errors get a
// close frame with their status code, I/O errors just close.
func (c *conn) readFailed(err error) {
	var pe *protocolError
	if errors.As(err, &pe) {
		c.g.metrics.limits.hit(limitOf(pe.code))
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
