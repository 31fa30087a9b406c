package gateway

import (
	"encoding/binary"

	"github.com/gobwas/ws"

	"github.com/switchboard-go/switchboard/bus"
)

// appendFrame appends one unmasked, final server frame.
func appendFrame(b []byte, op ws.OpCode, payload []byte) []byte {
	b = append(b, 0x80|byte(op))
	switch n := len(payload); {
	case n < 126:
		b = append(b, byte(n))
	case n <= 0xFFFF:
		b = append(b, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

// encodeFrame returns a new buffer holding one server frame.
func encodeFrame(binaryFrame bool, payload []byte) []byte {
	op := ws.OpText
	if binaryFrame {
		op = ws.OpBinary
	}
	return appendFrame(make([]byte, 0, len(payload)+10), op, payload)
}

// closeFrame returns a close frame with a status code and reason.
func closeFrame(code ws.StatusCode, reason string) []byte {
	return appendFrame(nil, ws.OpClose, ws.NewCloseFrameBody(code, reason))
}

// appendFrameOf appends the server frame of f.
func appendFrameOf(b []byte, f bus.Frame) []byte {
	op := ws.OpText
	if f.Binary {
		op = ws.OpBinary
	}
	return appendFrame(b, op, f.Data)
}
