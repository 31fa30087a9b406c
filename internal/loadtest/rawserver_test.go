//go:build linux

package loadtest_test

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"golang.org/x/sys/unix"

	"github.com/switchboard-go/switchboard/internal/loadtest"
)

// startRawServer serves the raw bench protocol on 127.0.0.1 until the test
// ends and returns it with its URL.
func startRawServer(t *testing.T) (*loadtest.RawServer, string) {
	t.Helper()
	s, err := loadtest.StartRawServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, "ws://" + s.Addr().String() + "/"
}

func TestRawServerEcho(t *testing.T) {
	_, url := startRawServer(t)
	r, err := loadtest.RunEcho(context.Background(), loadtest.EchoConfig{URL: url, Conns: 20, Size: 64, Duration: 300 * time.Millisecond, PIDs: []int{os.Getpid()}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Conns != 20 || r.RoundTrips == 0 || r.PerSecond <= 0 || r.ClosedByServer != 0 {
		t.Fatalf("echo: %+v", r)
	}
}

func TestRawServerBroadcast(t *testing.T) {
	_, url := startRawServer(t)
	for _, cfg := range []loadtest.BroadcastConfig{
		{URL: url, Members: 200, Messages: 20, Inflight: 1},
		{URL: url, Members: 200, Messages: 30, Inflight: 8, Group: "window", Size: 300, Pollers: 3},
		{URL: url, Members: 50, Messages: 40, Rate: 2000, Group: "rate"},
	} {
		runBroadcastComplete(t, cfg)
	}
}

// rawClient is a plain WebSocket client of the raw server.
type rawClient struct {
	t  *testing.T
	nc net.Conn
}

func dialRaw(t *testing.T, url string) *rawClient {
	t.Helper()
	nc, br, _, err := ws.Dial(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	if br != nil {
		t.Fatal("server sent data before any request")
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second)) // a test that hangs fails instead
	return &rawClient{t: t, nc: nc}
}

func (c *rawClient) send(msg string) {
	c.t.Helper()
	if err := wsutil.WriteClientText(c.nc, []byte(msg)); err != nil {
		c.t.Fatal(err)
	}
}

// expect reads the next message and checks that it is want, as text.
func (c *rawClient) expect(want string) {
	c.t.Helper()
	msg, op, err := wsutil.ReadServerData(c.nc)
	if err != nil {
		c.t.Fatalf("want %q: %v", want, err)
	}
	if op != ws.OpText || string(msg) != want {
		c.t.Fatalf("got %v %q, want text %q", op, msg, want)
	}
}

// The commands of the bench protocol, as examples/bench runs them.
func TestRawServerProtocol(t *testing.T) {
	s, url := startRawServer(t)
	a, b, c := dialRaw(t, url), dialRaw(t, url), dialRaw(t, url)

	a.send("join g")
	a.expect("ok")
	a.send("join g") // a set: still one copy per broadcast
	a.expect("ok")
	b.send("join g")
	b.expect("ok")
	c.send("join ") // no group name: refused without a reply
	c.send("bcast g one")
	a.expect("one")
	b.expect("one")
	c.send("ping?") // c is no member and had no reply: its next frame is the echo
	c.expect("ping?")
	a.send("echo")
	a.expect("echo") // not a second "one"

	a.send("bcast g two words") // the payload is everything after the group
	a.expect("two words")       // the sender is a member: it gets it too
	b.expect("two words")
	a.send("bcast g")
	a.expect("")
	b.expect("")
	a.send("bcast nobody x") // no such group: nothing
	a.send("echo 2")
	a.expect("echo 2")

	// A fragmented message and a ping.
	if err := ws.WriteFrame(a.nc, ws.MaskFrameInPlace(ws.NewFrame(ws.OpText, false, []byte("frag")))); err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteFrame(a.nc, ws.MaskFrameInPlace(ws.NewPingFrame([]byte("p")))); err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteFrame(a.nc, ws.MaskFrameInPlace(ws.NewFrame(ws.OpContinuation, true, []byte("ments")))); err != nil {
		t.Fatal(err)
	}
	f, err := ws.ReadFrame(a.nc)
	if err != nil || f.Header.OpCode != ws.OpPong || string(f.Payload) != "p" {
		t.Fatalf("pong: %+v %v", f, err)
	}
	a.expect("fragments")

	// b leaves with a close frame: it is answered, and b is out of g.
	if err := ws.WriteFrame(b.nc, ws.MaskFrameInPlace(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))); err != nil {
		t.Fatal(err)
	}
	if f, err := ws.ReadFrame(b.nc); err != nil || f.Header.OpCode != ws.OpClose {
		t.Fatalf("close reply: %+v %v", f, err)
	}
	if _, err := ws.ReadFrame(b.nc); err == nil {
		t.Fatal("b still open after its close")
	}
	c.send("join g")
	c.expect("ok")
	c.send("bcast g three")
	a.expect("three")
	c.expect("three")

	// Close ends the connections still open.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*rawClient{a, c} {
		if _, _, err := wsutil.ReadServerData(cl.nc); err == nil {
			t.Fatal("connection open after Close")
		}
	}
}

// dialSmallBuffer dials url with a 4 KiB receive buffer.
func dialSmallBuffer(t *testing.T, url string) *rawClient {
	t.Helper()
	d := ws.Dialer{NetDial: (&net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096) }); err != nil {
			return err
		}
		return serr
	}}).DialContext}
	nc, _, _, err := d.Dial(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawClient{t: t, nc: nc}
}

// Broadcasts to a member that reads only once they are all sent fill its
// socket buffer: the server's writes wait for room and lose nothing. A
// message over 1 MiB closes the connection.
func TestRawServerLargeMessages(t *testing.T) {
	_, url := startRawServer(t)
	member, sender := dialSmallBuffer(t, url), dialRaw(t, url)
	member.send("join big")
	member.expect("ok")
	const n = 8 // 8 MiB, more than the largest socket send buffer here (4 MiB)
	payload := func(i int) string { return strconv.Itoa(i) + strings.Repeat("x", 1<<20-20) }
	sent := make(chan error, 1)
	go func() { // the server stops reading it while it waits for the member
		for i := range n {
			if err := wsutil.WriteClientText(sender.nc, []byte("bcast big "+payload(i))); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	for i := range n {
		member.expect(payload(i))
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	sender.send("after")
	sender.expect("after")

	// Too large: the server closes the connection on the header.
	if err := ws.WriteHeader(sender.nc, ws.Header{Fin: true, OpCode: ws.OpText, Masked: true, Length: 1<<20 + 1}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := wsutil.ReadServerData(sender.nc); err == nil {
		t.Fatal("message over 1 MiB answered")
	}
}

// An unmasked client frame breaks the protocol: the connection is closed.
func TestRawServerRefusesUnmasked(t *testing.T) {
	_, url := startRawServer(t)
	a := dialRaw(t, url)
	if err := ws.WriteFrame(a.nc, ws.NewTextFrame([]byte("echo"))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := wsutil.ReadServerData(a.nc); err == nil {
		t.Fatal("unmasked frame answered")
	}
}

func TestRunRawServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- loadtest.RunRawServer(ctx, "127.0.0.1:0", func(a net.Addr) { addrs <- a }) }()
	var addr net.Addr
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatal(err)
	}
	a := dialRaw(t, "ws://"+addr.String()+"/")
	a.send("hi")
	a.expect("hi")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, _, err := wsutil.ReadServerData(a.nc); err == nil {
		t.Fatal("connection open after the server stopped")
	}
	if _, err := net.Dial("tcp", addr.String()); err == nil {
		t.Fatal("still listening")
	}
}

func TestCheckListen(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:8383", "127.0.0.1:0", "localhost:1", "[::1]:1", "127.9.9.9:1"} {
		if err := loadtest.CheckListen(ok, false); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{":8383", "0.0.0.0:8383", "[::]:1", "10.0.0.1:1", "example.com:1"} {
		err := loadtest.CheckListen(bad, false)
		if err == nil || !strings.Contains(err.Error(), "-allow-remote") {
			t.Errorf("%s: %v", bad, err)
		}
		if err := loadtest.CheckListen(bad, true); err != nil {
			t.Errorf("%s with allowRemote: %v", bad, err)
		}
	}
	if err := loadtest.CheckListen("127.0.0.1", true); err == nil {
		t.Error("address without a port accepted")
	}
}
