package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/worker"
)

type echo struct{}

func (echo) OnMessage(c *worker.Context, m worker.Message) error {
	if m.Binary {
		return c.SendToCurrentClient(m.Data, binaryOpt())
	}
	return c.SendToCurrentClient(m.Data)
}

func start(t *testing.T, opts ...gateway.Option) *gateway.Gateway {
	t.Helper()
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL(), opts...)
	sbtest.Worker(t, ns.ClientURL(), echo{})
	return g
}

// writeRaw writes a client frame; masked unless told otherwise.
func writeRaw(t *testing.T, c net.Conn, f ws.Frame, masked bool) {
	t.Helper()
	if masked {
		f = ws.MaskFrameInPlace(f)
	}
	if err := ws.WriteFrame(c, f); err != nil {
		t.Fatalf("write frame: %v", err)
	}
}

// expectClose reads frames until a close frame and checks its status code.
func expectClose(t *testing.T, c net.Conn, want ws.StatusCode) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		f, err := ws.ReadFrame(c)
		if err != nil {
			t.Fatalf("want close %d, got error %v", want, err)
		}
		if f.Header.OpCode != ws.OpClose {
			continue
		}
		code, _ := ws.ParseCloseFrameData(f.Payload)
		if code != want {
			t.Fatalf("close code %d, want %d", code, want)
		}
		return
	}
}

func TestEchoTextAndBinary(t *testing.T) {
	g := start(t)
	c := sbtest.Dial(t, g, "/")
	c.Send("héllo")
	c.Expect("héllo")
	if err := wsutil.WriteClientBinary(c.Conn, []byte{0, 255}); err != nil {
		t.Fatal(err)
	}
	_ = c.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	data, op, err := wsutil.ReadServerData(c.Conn)
	if err != nil || op != ws.OpBinary || string(data) != "\x00\xff" {
		t.Fatalf("binary echo: %q %v %v", data, op, err)
	}
}

func TestFragmentedMessageIsReassembled(t *testing.T) {
	g := start(t)
	c := sbtest.Dial(t, g, "/")
	writeRaw(t, c.Conn, ws.NewFrame(ws.OpText, false, []byte("frag")), true)
	writeRaw(t, c.Conn, ws.NewPingFrame([]byte("between")), true) // control frames may interleave
	writeRaw(t, c.Conn, ws.NewFrame(ws.OpContinuation, false, []byte("men")), true)
	writeRaw(t, c.Conn, ws.NewFrame(ws.OpContinuation, true, []byte("ted")), true)
	_ = c.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := ws.ReadFrame(c.Conn)
	if err != nil || f.Header.OpCode != ws.OpPong || string(f.Payload) != "between" {
		t.Fatalf("want pong 'between', got %v %q %v", f.Header.OpCode, f.Payload, err)
	}
	c.Expect("fragmented")
}

func TestCloseHandshake(t *testing.T) {
	g := start(t)
	c := sbtest.Dial(t, g, "/")
	writeRaw(t, c.Conn, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye")), true)
	expectClose(t, c.Conn, ws.StatusNormalClosure)
	sbtest.Eventually(t, 5*time.Second, "connection count 0", func() bool { return g.ConnectionCount() == 0 })
}

func TestProtocolViolationsAreRefused(t *testing.T) {
	g := start(t, gateway.MaxMessageBytes(1024))
	cases := []struct {
		name   string
		frames []ws.Frame
		masked bool
		code   ws.StatusCode
	}{
		{"oversized message", []ws.Frame{ws.NewTextFrame(make([]byte, 2048))}, true, ws.StatusMessageTooBig},
		{"oversized after reassembly", []ws.Frame{ws.NewFrame(ws.OpText, false, make([]byte, 800)),
			ws.NewFrame(ws.OpContinuation, true, make([]byte, 800))}, true, ws.StatusMessageTooBig},
		{"invalid UTF-8 in text", []ws.Frame{ws.NewTextFrame([]byte{0xff, 0xfe})}, true, ws.StatusInvalidFramePayloadData},
		{"unmasked client frame", []ws.Frame{ws.NewTextFrame([]byte("x"))}, false, ws.StatusProtocolError},
		{"reserved opcode", []ws.Frame{ws.NewFrame(ws.OpCode(0x3), true, nil)}, true, ws.StatusProtocolError},
		{"control frame over 125 bytes", []ws.Frame{ws.NewPingFrame(make([]byte, 126))}, true, ws.StatusProtocolError},
		{"fragmented control frame", []ws.Frame{ws.NewFrame(ws.OpPing, false, nil)}, true, ws.StatusProtocolError},
		{"continuation without start", []ws.Frame{ws.NewFrame(ws.OpContinuation, true, []byte("x"))}, true, ws.StatusProtocolError},
		{"new message inside a fragmented one", []ws.Frame{ws.NewFrame(ws.OpText, false, []byte("a")),
			ws.NewTextFrame([]byte("b"))}, true, ws.StatusProtocolError},
		{"reserved bits", []ws.Frame{{Header: ws.Header{Fin: true, Rsv: 4, OpCode: ws.OpText, Length: 1}, Payload: []byte("x")}}, true, ws.StatusProtocolError},
	}
	other := sbtest.Dial(t, g, "/")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := sbtest.Dial(t, g, "/")
			for _, f := range tc.frames {
				writeRaw(t, c.Conn, f, tc.masked)
			}
			expectClose(t, c.Conn, tc.code)
			other.Send("still fine")
			other.Expect("still fine")
		})
	}
	r := g.Stats().Refused
	if r["message_too_large"] != 2 || r["invalid_utf8"] != 1 || r["protocol_error"] != 7 {
		t.Fatalf("refusal counters %v", r)
	}
}

func TestHugeLengthHeaderIsRefused(t *testing.T) {
	g := start(t)
	c := sbtest.Dial(t, g, "/")
	// 2^63-1 payload length, masked, no payload: refused from the header.
	raw := []byte{0x81, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4}
	if _, err := c.Conn.Write(raw); err != nil {
		t.Fatal(err)
	}
	expectClose(t, c.Conn, ws.StatusMessageTooBig)
}

func TestBrokenHandshakes(t *testing.T) {
	g := start(t, gateway.HandshakeTimeout(300*time.Millisecond))
	addr := g.Addr().String()
	t.Run("bad upgrade request gets an HTTP error", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n") // no key, no version
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode < 400 {
			t.Fatalf("response %v, %v; want a 4xx", resp, err)
		}
	})
	t.Run("oversized head gets 431", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nX-Big: %s\r\n", strings.Repeat("a", 10000))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("response %v, %v; want 431", resp, err)
		}
	})
	t.Run("a silent handshake is dropped after the timeout", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET / HTTP/1.1\r\n")
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("want the gateway to close the connection, got %v", err)
		}
	})
	ok := sbtest.Dial(t, g, "/")
	ok.Send("after")
	ok.Expect("after")
	if r := g.Stats().Refused; r["header_too_large"] != 1 || r["handshake_failed"] < 2 {
		t.Fatalf("refusal counters %v", r)
	}
}

func TestMaxConnectionsAndOrigins(t *testing.T) {
	g := start(t, gateway.MaxConnections(1), gateway.AllowedOrigins("https://good.example"))
	_, err := sbtest.DialErr(g, "/")
	if st, ok := err.(ws.StatusError); !ok || int(st) != http.StatusForbidden {
		t.Fatalf("no Origin: %v, want 403", err)
	}
	// Every socket counts against max_connections until it is closed.
	sbtest.Eventually(t, 5*time.Second, "the refused socket closed", func() bool { return g.Stats().Sockets == 0 })
	d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(http.Header{"Origin": {"https://good.example"}}), Timeout: 5 * time.Second}
	c, _, _, err := d.Dial(t.Context(), "ws://"+g.Addr().String()+"/")
	if err != nil {
		t.Fatalf("allowed origin: %v", err)
	}
	defer c.Close()
	sbtest.Eventually(t, 5*time.Second, "one connection", func() bool { return g.ConnectionCount() == 1 })
	_, _, _, err = d.Dial(t.Context(), "ws://"+g.Addr().String()+"/")
	if st, ok := err.(ws.StatusError); !ok || int(st) != http.StatusServiceUnavailable {
		t.Fatalf("over max_connections: %v, want 503", err)
	}
	if r := g.Stats().Refused; r["origin"] != 1 || r["max_connections"] != 1 {
		t.Fatalf("refusal counters %v", r)
	}
}

func TestTruncatedFrameEndsOnlyThatClient(t *testing.T) {
	g := start(t, gateway.HandshakeTimeout(time.Second))
	other := sbtest.Dial(t, g, "/")
	c := sbtest.Dial(t, g, "/")
	// A masked text frame announcing 100 bytes, then 10 bytes and EOF.
	raw := append([]byte{0x81, 0x80 | 100, 1, 2, 3, 4}, make([]byte, 10)...)
	if _, err := c.Conn.Write(raw); err != nil {
		t.Fatal(err)
	}
	_ = c.Conn.(interface{ CloseWrite() error }).CloseWrite()
	sbtest.Eventually(t, 5*time.Second, "the truncated client to be dropped", func() bool { return g.ConnectionCount() == 1 })
	other.Send("fine")
	other.Expect("fine")
}

func TestReaderGoroutineModeStillWorks(t *testing.T) {
	g := start(t, gateway.Netpoll(false), gateway.MaxMessageBytes(1024))
	c := sbtest.Dial(t, g, "/")
	c.Send("plain")
	c.Expect("plain")
	writeRaw(t, c.Conn, ws.NewTextFrame(make([]byte, 2048)), true)
	expectClose(t, c.Conn, ws.StatusMessageTooBig)
}
