package gateway

import (
	"encoding/binary"
	"fmt"
	"net/url"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/internal/wire"
)

// transport is the framing of one kind of listener. Every transport
// reaches the same workers and API; a group may mix them.
type transport uint8

const (
	transportWS        transport = iota // ws:// and wss://: RFC 6455 WebSocket
	transportTCPText                    // tcp+text://: newline-delimited messages
	transportTCPFrame                   // tcp+frame://: 4-byte big-endian length, then the payload
	transportWSDeflate                  // a WebSocket client that negotiated permessage-deflate
	numTransports
)

func (t transport) String() string {
	switch t {
	case transportTCPText:
		return "tcp+text"
	case transportTCPFrame:
		return "tcp+frame"
	}
	return "ws"
}

// parseListen splits a listen URL into its transport, whether it uses
// TLS (wss://), and host:port.
func parseListen(addr string) (t transport, useTLS bool, host string, err error) {
	u, err := url.Parse(addr)
	if err != nil {
		return 0, false, "", fmt.Errorf("listen address %q: %w", addr, err)
	}
	switch u.Scheme {
	case "ws", "wss":
		t = transportWS
	case "tcp+text":
		t = transportTCPText
	case "tcp+frame":
		t = transportTCPFrame
	default:
		return 0, false, "", fmt.Errorf("listen address %q: unsupported scheme %q (want ws, wss, tcp+text or tcp+frame)", addr, u.Scheme)
	}
	if u.Host == "" {
		return 0, false, "", fmt.Errorf("listen address %q: no host:port", addr)
	}
	return t, u.Scheme == "wss", u.Host, nil
}

// appendFrame appends one server-to-client message in t's framing.
func (t transport) appendFrame(b []byte, f wire.Frame) []byte {
	switch t {
	case transportTCPText:
		b = append(b, f.Data...)
		return append(b, '\n')
	case transportTCPFrame:
		b = binary.BigEndian.AppendUint32(b, uint32(len(f.Data)))
		return append(b, f.Data...)
	}
	op := ws.OpText
	if f.Binary {
		op = ws.OpBinary
	}
	if t == transportWSDeflate {
		return appendDeflateFrame(b, op, f.Data)
	}
	return appendWSFrame(b, op, f.Data)
}

// closeFrame is what t sends before closing: a WebSocket close frame, or
// nothing for TCP.
func (t transport) closeFrame(code ws.StatusCode, reason string) []byte {
	if t != transportWS && t != transportWSDeflate {
		return nil
	}
	return appendWSFrame(nil, ws.OpClose, ws.NewCloseFrameBody(code, reason))
}

// encodedFrame encodes one message at most once per transport, however
// many clients it goes to.
type encodedFrame struct {
	frame wire.Frame
	enc   [numTransports][]byte
}

func (e *encodedFrame) reset(f wire.Frame) {
	e.frame = f
	for i := range e.enc {
		e.enc[i] = nil
	}
}

// of returns the frame in t's framing.
func (e *encodedFrame) of(t transport) []byte {
	if e.enc[t] == nil {
		e.enc[t] = t.appendFrame(make([]byte, 0, len(e.frame.Data)+10), e.frame)
	}
	return e.enc[t]
}

// appendFrames appends the frames of a multi-frame body in t's framing and
// counts them. A text frame that is not UTF-8 is an error (wrapping
// bus.ErrInvalidUTF8): a browser would drop the connection. On an error b may hold some of the frames; callers discard
// it.
func (t transport) appendFrames(b []byte, spec string, body []byte) ([]byte, int, error) {
	// A scanner rather than wire.EachFrame: a callback appending to b would
	// move b to the heap on every call.
	s := wire.NewFrameScanner(spec, body)
	n := 0
	for s.Scan() {
		f := s.Frame()
		if !f.Binary && !utf8.Valid(f.Data) {
			return b, n, fmt.Errorf("frame %d: %w", n, bus.ErrInvalidUTF8)
		}
		b = t.appendFrame(b, f)
		n++
	}
	return b, n, s.Err()
}
