package gateway

import (
	"bytes"
	"compress/flate"
	"io"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
)

// permessage-deflate (RFC 7692) is negotiated without context takeover in
// both directions, so every message is compressed on its own: a group
// message is compressed once per gateway and shared by every member that
// negotiated it, like any other encoded frame.

// compressMinBytes: smaller messages are sent uncompressed (RSV1 clear).
const compressMinBytes = 128

// deflateParameters are what the gateway accepts and answers.
func deflateParameters() wsflate.Parameters {
	return wsflate.Parameters{ServerNoContextTakeover: true, ClientNoContextTakeover: true}
}

// deflateTail ends a raw DEFLATE stream cut at a sync flush (RFC 7692
// 7.2.2) and adds an empty final block so the reader sees a clean end.
func deflateTail() []byte { return []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff} }

// inflate decompresses one message, refusing output over limit bytes (a
// small compressed message must not expand into gigabytes).
func inflate(msg []byte, limit int) ([]byte, error) {
	r := flate.NewReader(io.MultiReader(bytes.NewReader(msg), bytes.NewReader(deflateTail())))
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, &protocolError{ws.StatusProtocolError, "bad compressed message: " + err.Error()}
	}
	if len(out) > limit {
		return nil, &protocolError{ws.StatusMessageTooBig, "message too large after inflating"}
	}
	return out, nil
}

// appendDeflateFrame appends a data frame, compressed when it is worth it.
func appendDeflateFrame(b []byte, op ws.OpCode, payload []byte) []byte {
	if len(payload) < compressMinBytes {
		return appendWSFrame(b, op, payload)
	}
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestSpeed) // level is valid: no error
	_, _ = w.Write(payload)
	_ = w.Flush()
	out := bytes.TrimSuffix(z.Bytes(), deflateTail()[:4])
	start := len(b)
	b = appendWSFrame(b, op, out)
	b[start] |= 0x40 // RSV1: compressed
	return b
}
