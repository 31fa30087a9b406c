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
// inflates permessage-deflate messages and checks text is UTF-8. Payloads
// are read straight into pooled events, so a message allocates nothing.
type wsReader struct {
	limit   int
	msg     *pendingEvent // the message being reassembled, nil if none
	hdr     [ws.MaxHeaderSize - 2]byte
	deflate bool      // permessage-deflate was negotiated
	op      ws.OpCode // opcode of the message being reassembled, 0 if none
	rsv1    bool      // the message being reassembled is compressed
}

// next reads until it has a complete data message or a control frame and
// returns its opcode and an event (from the pool) holding its payload in
// data. The caller owns the event: it enqueues or releases it.
func (r *wsReader) next(br io.Reader, pools *eventPools) (ws.OpCode, *pendingEvent, error) {
	for {
		// r.hdr rather than ws.ReadHeader, which allocates its buffer.
		h, err := ws.ReadHeaderBuffer(br, r.hdr[:])
		if err != nil {
			return 0, nil, err
		}
		if err := r.check(h); err != nil {
			return 0, nil, err
		}
		// fr receives this frame's payload: the message being reassembled
		// for a continuation, a new event for anything else.
		fr := r.msg
		if h.OpCode != ws.OpContinuation {
			fr = pools.event(bus.EventMessage)
		}
		start := len(fr.data)
		if err := fr.readData(br, int(h.Length)); err != nil {
			if fr != r.msg {
				fr.release()
			}
			return 0, nil, err
		}
		ws.Cipher(fr.data[start:], h.Mask, 0)
		switch h.OpCode {
		case ws.OpPing, ws.OpPong, ws.OpClose:
			return h.OpCode, fr, nil
		case ws.OpText, ws.OpBinary:
			r.op, r.msg, r.rsv1 = h.OpCode, fr, h.Rsv1()
		}
		if !h.Fin {
			continue
		}
		op, msg, compressed := r.op, r.msg, r.rsv1
		r.op, r.msg, r.rsv1 = 0, nil, false
		if err := finishMessage(op, msg, compressed, r.limit); err != nil {
			msg.release()
			return 0, nil, err
		}
		return op, msg, nil
	}
}

// finishMessage inflates a compressed message and checks text is UTF-8.
func finishMessage(op ws.OpCode, msg *pendingEvent, compressed bool, limit int) error {
	if compressed {
		data, err := inflate(msg.data, limit)
		if err != nil {
			return err
		}
		msg.data = data
	}
	if op == ws.OpText && !utf8.Valid(msg.data) {
		return &protocolError{ws.StatusInvalidFramePayloadData, "invalid UTF-8 in text message"}
	}
	return nil
}

// readLoop reads messages until the connection ends. Messages become
// events; ping is answered with pong; close is answered and ends the loop.
func (c *conn) readLoop() {
	c.wsr = c.newWSReader()
	for {
		op, ev, err := c.wsr.next(c.br, c.g.pools)
		if err != nil {
			c.readFailed(err)
			return
		}
		if !c.handleWS(op, ev) {
			return
		}
	}
}

func (c *conn) newWSReader() wsReader {
	return wsReader{limit: c.g.opts.maxMessageBytes, deflate: c.t == transportWSDeflate}
}

// handleWS acts on one message or control frame, read into ev (which it
// takes over); false means the connection is ending and reading must stop.
func (c *conn) handleWS(op ws.OpCode, ev *pendingEvent) bool {
	now := time.Now()
	c.lastActive.Store(now.UnixNano())
	if op.IsControl() {
		ok := c.handleControl(op, ev.data)
		ev.release()
		return ok
	}
	c.g.metrics.msgsIn.Add(1)
	c.g.metrics.bytesIn.Add(uint64(len(ev.data)))
	if !c.allowMessage(now) {
		ev.release()
		c.readFailed(&protocolError{ws.StatusPolicyViolation, "message rate limit exceeded"})
		return false
	}
	ev.binary = op == ws.OpBinary
	return c.enqueue(ev, false)
}

// handleControl answers ping with pong and close with close.
func (c *conn) handleControl(op ws.OpCode, payload []byte) bool {
	switch op {
	case ws.OpPing:
		c.sendPong(payload)
	case ws.OpClose:
		c.closeGracefully(appendWSFrame(nil, ws.OpClose, closeEcho(payload)), "client closed")
		return false
	}
	return true
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
	case h.Length < 0 || h.Length > int64(r.limit-r.msgLen()):
		return &protocolError{ws.StatusMessageTooBig, "message too large"}
	}
	return nil
}

// msgLen is the length of the message being reassembled.
func (r *wsReader) msgLen() int {
	if r.msg == nil {
		return 0
	}
	return len(r.msg.data)
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
