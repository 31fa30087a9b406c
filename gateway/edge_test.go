package gateway_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/switchboard-go/switchboard/gateway"
)

// plainGET sends a GET on c and reads the whole answer through br.
func plainGET(t *testing.T, c net.Conn, br *bufio.Reader, path string) *http.Response {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: example\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read answer to GET %s: %v", path, err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.Close {
		t.Fatalf("GET %s: the server closes the connection", path)
	}
	return resp
}

// TestUpgradeOnKeptAliveConnection: a WebSocket upgrade that follows a
// plain request on the same connection is upgraded (101), not served as a
// page (issue 13 item 16).
func TestUpgradeOnKeptAliveConnection(t *testing.T) {
	for _, netpoll := range []bool{true, false} {
		t.Run(map[bool]string{true: "netpoll", false: "goroutine"}[netpoll], func(t *testing.T) {
			page := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "demo page") })
			g := start(t, gateway.HTTPHandler(page), gateway.Netpoll(netpoll))
			c, err := net.Dial("tcp", g.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			for range 2 {
				if resp := plainGET(t, c, br, "/"); resp.StatusCode != http.StatusOK {
					t.Fatalf("GET /: %s", resp.Status)
				}
			}
			u, _ := url.Parse("ws://" + g.Addr().String() + "/chat")
			ahead, _, err := ws.Dialer{}.Upgrade(readWriter{br, c}, u)
			if err != nil {
				t.Fatalf("upgrade after a GET on the same connection: %v", err)
			}
			if ahead != nil {
				br = ahead
			}
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			for _, msg := range []string{"first", "second"} {
				if err := wsutil.WriteClientText(c, []byte(msg)); err != nil {
					t.Fatal(err)
				}
				got, err := wsutil.ReadServerText(readWriter{br, c})
				if err != nil || string(got) != msg {
					t.Fatalf("echo %q: %q %v", msg, got, err)
				}
			}
		})
	}
}

type readWriter struct {
	io.Reader
	io.Writer
}

// TestUpgradePipelinedAfterGET: a GET, an upgrade and a first frame sent
// in one write; the frame read ahead with the request reaches the worker.
// Without the GET, the same on a fresh connection.
func TestUpgradePipelinedAfterGET(t *testing.T) {
	g := start(t)
	for _, get := range []bool{false, true} {
		c, err := net.Dial("tcp", g.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		var frame bytes.Buffer
		if err := ws.WriteFrame(&frame, ws.MaskFrameInPlace(ws.NewTextFrame([]byte("early")))); err != nil {
			t.Fatal(err)
		}
		req := "GET /chat HTTP/1.1\r\nHost: example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
		if get {
			req = "GET / HTTP/1.1\r\nHost: example\r\n\r\n" + req
		}
		if _, err := c.Write(append([]byte(req), frame.Bytes()...)); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		if get {
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != http.StatusNotFound {
				t.Fatalf("answer to GET /: %v %v", resp, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("answer to the upgrade (after a GET: %v): %v %v", get, resp, err)
		}
		got, err := wsutil.ReadServerText(readWriter{br, c})
		if err != nil || string(got) != "early" {
			t.Fatalf("echo of the pipelined frame (after a GET: %v): %q %v", get, got, err)
		}
	}
}
