package gateway

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

const fuzzLimit = 1024

// FuzzTCPFramers feeds arbitrary bytes to both TCP framers: they must
// return messages within the limit or an error, and never panic.
func FuzzTCPFramers(f *testing.F) {
	f.Add([]byte("hello\nworld\r\n"))
	f.Add([]byte("no newline"))
	f.Add(binary.BigEndian.AppendUint32(nil, 3))
	f.Add(append(binary.BigEndian.AppendUint32(nil, 5), "hello"...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 'x'})
	f.Add(bytes.Repeat([]byte("x"), 2000))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, tr := range []transport{transportTCPText, transportTCPFrame} {
			br := bufio.NewReaderSize(bytes.NewReader(data), 64)
			total := 0
			for {
				msg, err := readTCPMessage(br, tr, fuzzLimit, nil)
				if err != nil {
					break
				}
				if len(msg) > fuzzLimit {
					t.Fatalf("%v: message of %d bytes over the %d limit", tr, len(msg), fuzzLimit)
				}
				total += len(msg)
				if total > len(data) {
					t.Fatalf("%v: read %d message bytes from %d input bytes", tr, total, len(data))
				}
			}
		}
	})
}

// FuzzWebSocketReader feeds arbitrary bytes to the frame-to-message path:
// every data message it accepts is within the limit and, if text, UTF-8.
func FuzzWebSocketReader(f *testing.F) {
	frame := func(fr ws.Frame) []byte {
		var b bytes.Buffer
		_ = ws.WriteFrame(&b, ws.MaskFrameInPlace(fr))
		return b.Bytes()
	}
	f.Add(frame(ws.NewTextFrame([]byte("hello"))), false)
	f.Add(append(frame(ws.NewFrame(ws.OpText, false, []byte("a"))), frame(ws.NewFrame(ws.OpContinuation, true, []byte("b")))...), false)
	f.Add(frame(ws.NewPingFrame([]byte("p"))), false)
	f.Add(frame(ws.NewCloseFrame(ws.NewCloseFrameBody(1000, "bye"))), false)
	f.Add(frame(ws.NewTextFrame([]byte{0xff})), false)
	f.Add([]byte{0x81, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4}, false)
	f.Add(frame(ws.Frame{Header: ws.Header{Fin: true, Rsv: 4, OpCode: ws.OpText, Length: 3}, Payload: []byte{0x4b, 0x04, 0x00}}), true)
	f.Fuzz(func(t *testing.T, data []byte, deflate bool) {
		r := wsReader{limit: fuzzLimit, deflate: deflate}
		pools := newEventPools()
		in := bytes.NewReader(data)
		for {
			op, ev, err := r.next(in, pools)
			if err != nil {
				return
			}
			msg := ev.data
			defer ev.release()
			if op.IsData() && len(msg) > fuzzLimit {
				t.Fatalf("message of %d bytes over the %d limit", len(msg), fuzzLimit)
			}
			if op == ws.OpText && !utf8.Valid(msg) {
				t.Fatal("invalid UTF-8 text message accepted")
			}
			if op.IsControl() && len(msg) > 125 {
				t.Fatalf("control frame of %d bytes accepted", len(msg))
			}
		}
	})
}
