package gateway_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/worker"
)

// joiner puts every new client in group "mixed" and echoes messages.
type joiner struct{ echo }

func (joiner) OnConnect(c *worker.Context) error {
	if err := c.Gateway().JoinGroup(c, c.ClientID(), "mixed"); err != nil {
		return err
	}
	return c.SendToCurrentClient([]byte("joined"))
}

func startAll(t *testing.T, opts ...gateway.Option) (*gateway.Gateway, string) {
	t.Helper()
	ns := sbtest.NATS(t)
	opts = append([]gateway.Option{gateway.Listen("ws://127.0.0.1:0", "tcp+text://127.0.0.1:0", "tcp+frame://127.0.0.1:0")}, opts...)
	g := sbtest.Gateway(t, ns.ClientURL(), opts...)
	sbtest.Worker(t, ns.ClientURL(), joiner{})
	return g, ns.ClientURL()
}

func hostOf(t *testing.T, g *gateway.Gateway, scheme string) string {
	t.Helper()
	for _, a := range g.Addrs() {
		if rest, ok := strings.CutPrefix(a, scheme+"://"); ok {
			return rest
		}
	}
	t.Fatalf("no %s listener in %v", scheme, g.Addrs())
	return ""
}

// textClient speaks tcp+text.
type textClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialText(t *testing.T, addr string) *textClient {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &textClient{t: t, c: c, br: bufio.NewReader(c)}
}

func (tc *textClient) send(s string) { _, _ = io.WriteString(tc.c, s+"\n") }

func (tc *textClient) expect(want string) {
	tc.t.Helper()
	_ = tc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := tc.br.ReadString('\n')
	if err != nil || strings.TrimSuffix(line, "\n") != want {
		tc.t.Fatalf("tcp+text: got %q, %v; want %q", line, err, want)
	}
}

// frameClient speaks tcp+frame.
type frameClient struct {
	t *testing.T
	c net.Conn
}

func dialFrame(t *testing.T, addr string) *frameClient {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &frameClient{t: t, c: c}
}

func (fc *frameClient) send(p []byte) {
	_, _ = fc.c.Write(binary.BigEndian.AppendUint32(nil, uint32(len(p))))
	_, _ = fc.c.Write(p)
}

func (fc *frameClient) expect(want string) {
	fc.t.Helper()
	_ = fc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hdr [4]byte
	if _, err := io.ReadFull(fc.c, hdr[:]); err != nil {
		fc.t.Fatalf("tcp+frame header: %v", err)
	}
	p := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(fc.c, p); err != nil || string(p) != want {
		fc.t.Fatalf("tcp+frame: got %q, %v; want %q", p, err, want)
	}
}

func TestEveryTransportReachesTheSameWorkersAndGroups(t *testing.T) {
	g, url := startAll(t)
	wsc := sbtest.Dial(t, g, "/")
	wsc.Expect("joined")
	tc := dialText(t, hostOf(t, g, "tcp+text"))
	tc.expect("joined")
	fc := dialFrame(t, hostOf(t, g, "tcp+frame"))
	fc.expect("joined")

	tc.send("line one")
	tc.expect("line one")
	fc.send([]byte("with\nnewline"))
	fc.expect("with\nnewline")

	api := sbtest.Client(t, url)
	if err := api.SendToGroup("mixed", []byte("to everyone")); err != nil {
		t.Fatal(err)
	}
	wsc.Expect("to everyone")
	tc.expect("to everyone")
	fc.expect("to everyone")
	sbtest.Eventually(t, 5*time.Second, "3 connections", func() bool { return g.ConnectionCount() == 3 })
}

func TestTCPMessageLimits(t *testing.T) {
	g, _ := startAll(t, gateway.MaxMessageBytes(16))
	fc := dialFrame(t, hostOf(t, g, "tcp+frame"))
	fc.expect("joined")
	fc.send(make([]byte, 17))
	expectEOF(t, fc.c)

	tc := dialText(t, hostOf(t, g, "tcp+text"))
	tc.expect("joined")
	tc.send(strings.Repeat("x", 600))
	expectEOF(t, tc.c)
	ok := dialText(t, hostOf(t, g, "tcp+text"))
	ok.expect("joined")
	ok.send(strings.Repeat("y", 16))
	ok.expect(strings.Repeat("y", 16))
}

func expectEOF(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	// Closing with unread input makes the kernel send a reset: also closed.
	if _, err := io.ReadAll(c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("want the connection closed by the gateway, got %v", err)
	}
}

func TestHeartbeats(t *testing.T) {
	t.Run("ping_data is sent every interval", func(t *testing.T) {
		g := start(t, gateway.Ping(30*time.Millisecond, 0, []byte(`{"type":"ping"}`)))
		c := sbtest.Dial(t, g, "/")
		c.Expect(`{"type":"ping"}`)
		c.Expect(`{"type":"ping"}`)
	})
	t.Run("a silent client is closed after the limit", func(t *testing.T) {
		g := start(t, gateway.Ping(30*time.Millisecond, 2, nil))
		c := sbtest.Dial(t, g, "/")
		start := time.Now()
		expectEOF(t, c.Conn)
		if time.Since(start) < 60*time.Millisecond {
			t.Fatalf("closed after %v, before 2 intervals of silence", time.Since(start))
		}
	})
	t.Run("WebSocket pings count as activity", func(t *testing.T) {
		// A silence limit of 1 s, pings every 50 ms for 2.5 s: only a
		// ping that reached the gateway resets the limit, and a loaded
		// machine would have to stall this test or the gateway's reader
		// for most of a second to fail it. (With a 60 ms limit and pings
		// every 20 ms, one 40 ms stall at a load average of 15 on two
		// cores closed the client: "write frame: broken pipe".)
		g := start(t, gateway.Ping(500*time.Millisecond, 2, nil))
		c := sbtest.Dial(t, g, "/")
		for begin := time.Now(); time.Since(begin) < 2500*time.Millisecond; {
			writeRaw(t, c.Conn, ws.NewPingFrame([]byte("hb")), true)
			_ = c.Conn.SetReadDeadline(time.Now().Add(time.Second))
			f, err := ws.ReadFrame(c.Conn)
			if err != nil || f.Header.OpCode != ws.OpPong {
				t.Fatalf("want pong, got %v %v", f.Header.OpCode, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		c.Send("alive")
		c.Expect("alive")
	})
	t.Run("limit 0 never closes for silence", func(t *testing.T) {
		g := start(t, gateway.Ping(20*time.Millisecond, 0, nil))
		c := sbtest.Dial(t, g, "/")
		c.ExpectNothing(200 * time.Millisecond)
		c.Send("alive")
		c.Expect("alive")
	})
}
