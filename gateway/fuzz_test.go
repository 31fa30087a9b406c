package gateway

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"slices"
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
				msg, err := readTCPMessage(br, tr, fuzzLimit, nil, nil)
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
		msgs, _ := feedChunks(t, &r, newEventPools(), [][]byte{data})
		for _, m := range msgs {
			if m.op.IsData() && len(m.data) > fuzzLimit {
				t.Fatalf("message of %d bytes over the %d limit", len(m.data), fuzzLimit)
			}
			if m.op == ws.OpText && !utf8.ValidString(m.data) {
				t.Fatal("invalid UTF-8 text message accepted")
			}
			if m.op.IsControl() && len(m.data) > 125 {
				t.Fatalf("control frame of %d bytes accepted", len(m.data))
			}
		}
	})
}

// FuzzNetpollSplitReads drives the WebSocket reader the way the netpoll
// reader does, one read at a time (conn.handleData feeds each read to
// wsReader.feed), with the input cut into reads of the sizes cuts names:
// the messages and the error must be the same as with the whole input in
// one read. (The reader resuming from the start of a read instead of its
// place duplicated fragments.)
func FuzzNetpollSplitReads(f *testing.F) {
	frame := func(fr ws.Frame) []byte {
		var b bytes.Buffer
		_ = ws.WriteFrame(&b, ws.MaskFrameInPlace(fr))
		return b.Bytes()
	}
	frag := slices.Concat(
		frame(ws.NewFrame(ws.OpText, false, []byte("frag"))),
		frame(ws.NewPingFrame([]byte("between"))),
		frame(ws.NewFrame(ws.OpContinuation, false, []byte("men"))),
		frame(ws.NewFrame(ws.OpContinuation, true, []byte("ted"))),
		frame(ws.NewCloseFrame(ws.NewCloseFrameBody(1000, "bye"))),
	)
	f.Add(frag, []byte{1}, false)
	f.Add(frag, []byte{3, 7, 2}, false)
	f.Add(frame(ws.NewBinaryFrame(make([]byte, 300))), []byte{5, 0, 200}, false)
	f.Add(frame(ws.NewBinaryFrame(make([]byte, 70000))), []byte{255}, false)
	f.Add(frame(ws.NewCloseFrame([]byte{0x03, 0xe8, 0xff})), []byte{1}, false)
	f.Add(frame(ws.Frame{Header: ws.Header{Fin: true, Rsv: 4, OpCode: ws.OpText, Length: 3}, Payload: []byte{0x4b, 0x04, 0x00}}), []byte{1}, true)
	f.Fuzz(func(t *testing.T, data, cuts []byte, deflate bool) {
		pools := newEventPools()
		whole := wsReader{limit: fuzzLimit, deflate: deflate}
		want, wantErr := feedChunks(t, &whole, pools, [][]byte{data})
		var chunks [][]byte
		for i, rest := 0, data; len(rest) > 0; i++ {
			n := len(rest)
			if len(cuts) > 0 {
				n = min(n, int(cuts[i%len(cuts)])+1)
			}
			chunks, rest = append(chunks, rest[:n]), rest[n:]
		}
		split := wsReader{limit: fuzzLimit, deflate: deflate}
		got, gotErr := feedChunks(t, &split, pools, chunks)
		if !slices.Equal(got, want) || gotErr != wantErr {
			t.Fatalf("in %d reads: %d messages, error %q; in one read: %d messages, error %q", len(chunks), len(got), gotErr, len(want), wantErr)
		}
	})
}

// fuzzMsg is a message or control frame a reader returned.
type fuzzMsg struct {
	op   ws.OpCode
	data string
}

// feedChunks feeds each chunk to r as one read and returns what it read
// until the first error (its text, "" for none).
func feedChunks(t *testing.T, r *wsReader, pools *eventPools, chunks [][]byte) ([]fuzzMsg, string) {
	t.Helper()
	var msgs []fuzzMsg
	for _, p := range chunks {
		for len(p) > 0 {
			n, op, ev, err := r.feed(p, pools)
			if n < 0 || n > len(p) {
				t.Fatalf("feed used %d of %d bytes", n, len(p))
			}
			p = p[n:]
			if err != nil {
				r.reset()
				return msgs, err.Error()
			}
			if ev == nil {
				if len(p) > 0 {
					t.Fatalf("feed stopped with %d bytes left and nothing read", len(p))
				}
				break
			}
			msgs = append(msgs, fuzzMsg{op, string(ev.data)})
			ev.release()
		}
	}
	r.reset()
	return msgs, ""
}
