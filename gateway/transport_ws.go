package gateway

import (
	"encoding/binary"
	"errors"
	"io"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/switchboard-go/switchboard/internal/wire"
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
// are copied straight into pooled events, so a message allocates nothing.
//
// It is a push parser: feed takes whatever bytes one read returned and
// keeps its place between calls (the header bytes received so far, the
// frame being read and how much of its payload is still to come), so a
// byte is parsed once whatever the reads' sizes, and a frame's buffer
// grows with the bytes that arrived, never with what its header announced.
type wsReader struct {
	limit   int
	msg     *pendingEvent // the message being reassembled, nil if none
	fr      *pendingEvent // the frame whose payload is being read, nil between frames
	h       ws.Header     // fr's header
	start   int           // where fr's payload starts in fr.data
	left    int           // payload bytes of fr still to come
	hdr     [ws.MaxHeaderSize]byte
	hdrLen  int       // bytes of the next header received so far
	deflate bool      // permessage-deflate was negotiated
	op      ws.OpCode // opcode of the message being reassembled, 0 if none
	rsv1    bool      // the message being reassembled is compressed
}

// readGrowChunk is the room a frame's buffer gets beyond the bytes that
// arrived when it must grow: the buffer at most doubles, so a header
// announcing a megabyte followed by a trickle costs what arrived.
const readGrowChunk = 4 << 10

// growFor makes room in b for n more bytes of a payload of which total
// bytes are still to come (n included): at most doubling, never past what
// the frame can still bring.
func growFor(b []byte, n, total int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	grown := make([]byte, len(b), min(len(b)+total, max(2*cap(b), len(b)+n, len(b)+readGrowChunk)))
	copy(grown, b)
	return grown
}

// partial reports whether a message or frame has begun but not ended.
func (r *wsReader) partial() bool { return r.hdrLen > 0 || r.fr != nil || r.msg != nil }

// reset gives back the events of an unfinished frame and message (the
// connection ended).
func (r *wsReader) reset() {
	if r.fr != nil && r.fr != r.msg {
		r.fr.release()
	}
	if r.msg != nil {
		r.msg.release()
	}
	*r = wsReader{limit: r.limit, deflate: r.deflate}
}

// feed parses p, the next bytes from the client. It stops after the first
// complete data message or control frame and returns the bytes it used
// and that message's opcode and event (from the pool; the caller owns it
// and enqueues or releases it); ev is nil when p ended first, with every
// byte of p used. After an error the reader must not be fed again.
func (r *wsReader) feed(p []byte, pools *eventPools) (n int, op ws.OpCode, ev *pendingEvent, err error) {
	for n < len(p) || (r.fr != nil && r.left == 0) {
		if r.fr == nil {
			// The header, byte by byte as it arrives.
			need := 2
			if r.hdrLen >= 2 {
				need = headerSize(r.hdr[0], r.hdr[1])
			}
			k := copy(r.hdr[r.hdrLen:need], p[n:])
			r.hdrLen += k
			n += k
			if r.hdrLen < 2 {
				continue
			}
			if need = headerSize(r.hdr[0], r.hdr[1]); r.hdrLen < need {
				continue
			}
			r.hdrLen = 0
			h, err := parseHeader(r.hdr[:need])
			if err != nil {
				return n, 0, nil, err
			}
			if err := r.check(h); err != nil {
				return n, 0, nil, err
			}
			// fr receives this frame's payload: the message being
			// reassembled for a continuation, a new event for anything else.
			r.fr = r.msg
			if h.OpCode != ws.OpContinuation {
				r.fr = pools.event(wire.EventMessage)
			}
			r.h, r.start, r.left = h, len(r.fr.data), int(h.Length)
		}
		if k := min(r.left, len(p)-n); k > 0 {
			r.fr.data = append(growFor(r.fr.data, k, r.left), p[n:n+k]...)
			r.left -= k
			n += k
		}
		if r.left > 0 {
			continue
		}
		op, ev, err := r.frameDone()
		if err != nil || ev != nil {
			return n, op, ev, err
		}
	}
	return n, 0, nil, nil
}

// frameDone ends the frame whose payload is complete: it returns a control
// frame, or a data message on its final frame.
func (r *wsReader) frameDone() (ws.OpCode, *pendingEvent, error) {
	fr, h := r.fr, r.h
	r.fr = nil
	ws.Cipher(fr.data[r.start:], h.Mask, 0)
	switch h.OpCode {
	case ws.OpPing, ws.OpPong:
		return h.OpCode, fr, nil
	case ws.OpClose:
		if err := checkClose(fr.data); err != nil {
			fr.release()
			return 0, nil, err
		}
		return h.OpCode, fr, nil
	case ws.OpText, ws.OpBinary:
		r.op, r.msg, r.rsv1 = h.OpCode, fr, h.Rsv1()
	}
	if !h.Fin {
		return 0, nil, nil
	}
	op, msg, compressed := r.op, r.msg, r.rsv1
	r.op, r.msg, r.rsv1 = 0, nil, false
	if err := finishMessage(op, msg, compressed, r.limit); err != nil {
		msg.release()
		return 0, nil, err
	}
	return op, msg, nil
}

// headerSize is the length of a client frame header from its first two
// bytes.
func headerSize(b0, b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

// parseHeader decodes a complete frame header (RFC 6455 §5.2) and refuses
// a length not in its minimal encoding (16 bits for less than 126, 64 bits
// for less than 65536 or with the most significant bit set).
func parseHeader(b []byte) (ws.Header, error) {
	h := ws.Header{
		Fin:    b[0]&0x80 != 0,
		Rsv:    (b[0] >> 4) & 0x7,
		OpCode: ws.OpCode(b[0] & 0x0f),
		Masked: b[1]&0x80 != 0,
	}
	rest := b[2:]
	switch n := b[1] & 0x7f; n {
	case 126:
		h.Length = int64(binary.BigEndian.Uint16(rest))
		rest = rest[2:]
		if h.Length < 126 {
			return h, &protocolError{ws.StatusProtocolError, "length not minimally encoded"}
		}
	case 127:
		u := binary.BigEndian.Uint64(rest)
		rest = rest[8:]
		if u>>63 != 0 || u < 1<<16 {
			return h, &protocolError{ws.StatusProtocolError, "length not minimally encoded"}
		}
		h.Length = int64(u)
	default:
		h.Length = int64(n)
	}
	if h.Masked {
		copy(h.Mask[:], rest)
	}
	return h, nil
}

// checkClose validates a close frame's body (RFC 6455 §5.5.1, §7.4): empty,
// or a status code a peer may send followed by a UTF-8 reason.
func checkClose(body []byte) error {
	switch {
	case len(body) == 0:
		return nil
	case len(body) == 1:
		return &protocolError{ws.StatusProtocolError, "close frame of one byte"}
	case !validCloseCode(binary.BigEndian.Uint16(body)):
		return &protocolError{ws.StatusProtocolError, "invalid close code"}
	case !utf8.Valid(body[2:]):
		return &protocolError{ws.StatusInvalidFramePayloadData, "invalid UTF-8 in close reason"}
	}
	return nil
}

// validCloseCode reports whether a peer may send code in a close frame:
// the codes IANA assigned for use on the wire (1000–1003, 1007–1014) and
// the ranges for libraries and applications (3000–4999). 1004–1006 and
// 1015 must never be sent; 1016–2999 are unassigned.
func validCloseCode(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	}
	return code >= 3000 && code <= 4999
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
// It feeds the parser what the buffered reader holds, like netpoll feeds it
// what one read returned.
func (c *conn) readLoop() {
	c.wsr = c.newWSReader()
	defer c.wsr.reset()
	for {
		if _, err := c.br.Peek(1); err != nil {
			if c.wsr.partial() && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			c.readFailed(err)
			return
		}
		b, _ := c.br.Peek(c.br.Buffered())
		ok := c.handleData(b)
		_, _ = c.br.Discard(len(b))
		if !ok {
			return
		}
	}
}

// handleData feeds data, the bytes of one read, to the frame parser and
// acts on every message and control frame it completes. It reports false
// when the connection is ending and reading must stop.
func (c *conn) handleData(data []byte) bool {
	for len(data) > 0 {
		n, op, ev, err := c.wsr.feed(data, c.g.pools)
		data = data[n:]
		if err != nil {
			c.readFailed(err)
			return false
		}
		if ev == nil {
			break
		}
		if !c.wsr.partial() { // a ping inside a fragmented message does not end it
			c.messageDone()
		}
		if !c.handleWS(op, ev) {
			return false
		}
	}
	if c.wsr.partial() {
		c.messageBegun()
	}
	return true
}

func (c *conn) newWSReader() wsReader {
	return wsReader{limit: c.g.opts.MaxMessageBytes, deflate: c.t == transportWSDeflate}
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
