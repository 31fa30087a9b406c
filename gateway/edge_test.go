package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/worker"
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

// rawUpgrade sends a WebSocket upgrade request on a fresh socket and reads
// the answer's status line and headers, as a browser would, within wait.
func rawUpgrade(t *testing.T, addr string, wait time.Duration, extra ...string) (*http.Response, time.Duration) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	began := time.Now()
	_ = c.SetDeadline(began.Add(wait))
	host := "Host: " + addr + "\r\n"
	var more string
	for _, h := range extra {
		if strings.HasPrefix(h, "Host:") {
			host = h + "\r\n"
			continue
		}
		more += h + "\r\n"
	}
	req := "GET /chat HTTP/1.1\r\n" + host + "Upgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" + more
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to the handshake within %v: %v", wait, err)
	}
	return resp, time.Since(began)
}

// expect503 checks a refusal for want of a worker.
func expect503(t *testing.T, resp *http.Response, took, within time.Duration) {
	t.Helper()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("answer %s, Retry-After %q: want 503 with Retry-After", resp.Status, resp.Header.Get("Retry-After"))
	}
	if took > within {
		t.Fatalf("503 after %v, want within %v", took, within)
	}
	t.Logf("503 with Retry-After: %s after %v", resp.Header.Get("Retry-After"), took.Round(time.Millisecond))
}

type vetting struct {
	block chan struct{} // nil: refuse at once with 401
}

func (v vetting) OnWebSocketConnect(_ *worker.Context, _ bus.Handshake) error {
	if v.block != nil {
		<-v.block
	}
	return worker.Reject(http.StatusUnauthorized, "bad token")
}

func (vetting) OnMessage(*worker.Context, worker.Message) error { return nil }

// TestHandshakeFailsClosed: OnWebSocketConnect is asked whenever a running
// worker implements it, and a handshake nobody can vet is refused with 503
// and Retry-After, in time for the client to read it (issue 14 item 1,
// issue 13 item 12).
func TestHandshakeFailsClosed(t *testing.T) {
	t.Run("no worker", func(t *testing.T) {
		ns := sbtest.NATS(t)
		g := sbtest.Gateway(t, ns.ClientURL())
		resp, took := rawUpgrade(t, g.Addr().String(), 5*time.Second)
		expect503(t, resp, took, 2500*time.Millisecond)
		// The gateway now knows that no worker runs: at once.
		resp, took = rawUpgrade(t, g.Addr().String(), 5*time.Second)
		expect503(t, resp, took, time.Second)
		if n := g.Stats().Refused["no_worker"]; n != 2 {
			t.Fatalf("refused no_worker = %d, want 2", n)
		}
	})
	t.Run("passive subscriber and no worker", func(t *testing.T) {
		ns := sbtest.NATS(t)
		nc := sbtest.Conn(t, ns.ClientURL())
		if _, err := nc.Subscribe("sb.>", func(*nats.Msg) {}); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		g := sbtest.Gateway(t, ns.ClientURL())
		for range 2 {
			resp, took := rawUpgrade(t, g.Addr().String(), 5*time.Second)
			expect503(t, resp, took, 2500*time.Millisecond)
		}
	})
	t.Run("worker without OnWebSocketConnect", func(t *testing.T) {
		g := start(t) // echo
		c := sbtest.Dial(t, g, "/")
		c.Send("in")
		c.Expect("in")
	})
	t.Run("worker that refuses", func(t *testing.T) {
		ns := sbtest.NATS(t)
		var logs sbtest.LogBuffer
		sbtest.Worker(t, ns.ClientURL(), vetting{}, worker.Logger(slog.New(slog.NewTextHandler(&logs, nil))))
		g := sbtest.Gateway(t, ns.ClientURL())
		resp, _ := rawUpgrade(t, g.Addr().String(), 5*time.Second)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("answer %s, want 401", resp.Status)
		}
		out := logs.String()
		if strings.Contains(out, "handler failed") || !strings.Contains(out, "level=INFO msg=\"handshake refused\"") {
			t.Fatalf("worker log of a deliberate refusal:\n%s", out)
		}
	})
	t.Run("worker busy past the deadline", func(t *testing.T) {
		ns := sbtest.NATS(t)
		block := make(chan struct{})
		sbtest.Worker(t, ns.ClientURL(), vetting{block: block})
		t.Cleanup(func() { close(block) }) // before the worker stops
		g := sbtest.Gateway(t, ns.ClientURL(), gateway.HandshakeTimeout(2*time.Second))
		// The client reads until the socket deadline: the 503 comes first.
		resp, took := rawUpgrade(t, g.Addr().String(), 3*time.Second)
		expect503(t, resp, took, 2*time.Second)
		if n := g.Stats().Refused["worker_timeout"]; n != 1 {
			t.Fatalf("refused worker_timeout = %d, want 1", n)
		}
	})
	t.Run("bus away", func(t *testing.T) {
		ns := sbtest.NATS(t)
		sbtest.Worker(t, ns.ClientURL(), echo{})
		g := sbtest.Gateway(t, ns.ClientURL())
		sbtest.Dial(t, g, "/")
		ns.Shutdown()
		sbtest.Eventually(t, 5*time.Second, "a 503 for bus_away", func() bool {
			resp, _ := rawUpgrade(t, g.Addr().String(), 5*time.Second)
			return resp.StatusCode == http.StatusServiceUnavailable && g.Stats().Refused["bus_away"] > 0
		})
	})
}

// TestRefusalsLoggedOnce: many refused handshakes make one warning.
func TestRefusalsLoggedOnce(t *testing.T) {
	ns := sbtest.NATS(t)
	var logs sbtest.LogBuffer
	g := sbtest.Gateway(t, ns.ClientURL(), gateway.Logger(slog.New(slog.NewTextHandler(&logs, nil))))
	for range 5 {
		resp, _ := rawUpgrade(t, g.Addr().String(), 5*time.Second)
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("answer %s, want 503", resp.Status)
		}
	}
	if n := strings.Count(logs.String(), "level=WARN msg=\"WebSocket handshake refused"); n != 1 {
		t.Fatalf("%d warnings for 5 refusals, want 1:\n%s", n, logs.String())
	}
}

// waitClosed reads c until the server closes it and returns how long that
// took.
func waitClosed(t *testing.T, c net.Conn, br *bufio.Reader, within time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	_ = c.SetReadDeadline(began.Add(within))
	_, err := io.Copy(io.Discard, br)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server kept the socket open for %v", within)
	}
	return time.Since(began)
}

// TestHTTPSocketsTimeOut: plain HTTP sockets on the gateway's port are
// closed when idle between requests, and when a request's body does not
// arrive (issue 13 item 5); the socket count goes back to 0.
func TestHTTPSocketsTimeOut(t *testing.T) {
	read := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	g := start(t, gateway.HTTPHandler(read), gateway.HTTPTimeouts(500*time.Millisecond, time.Second, 300*time.Millisecond))
	t.Run("idle keep-alive", func(t *testing.T) {
		c, err := net.Dial("tcp", g.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		br := bufio.NewReader(c)
		plainGET(t, c, br, "/")
		took := waitClosed(t, c, br, 3*time.Second)
		t.Logf("idle keep-alive socket closed %v after its answer", took.Round(time.Millisecond))
	})
	t.Run("body withheld", func(t *testing.T) {
		c, err := net.Dial("tcp", g.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: example\r\nContent-Length: 1000\r\n\r\nonly this"); err != nil {
			t.Fatal(err)
		}
		took := waitClosed(t, c, bufio.NewReader(c), 3*time.Second)
		t.Logf("body-withholding socket closed after %v", took.Round(time.Millisecond))
	})
	sbtest.Eventually(t, 5*time.Second, "no socket counted", func() bool { return g.Stats().Sockets == 0 })
}

// TestMaxConnectionsCountsEverySocket: kept-alive HTTP sockets count
// against max_connections, so a WebSocket past it gets 503.
func TestMaxConnectionsCountsEverySocket(t *testing.T) {
	g := start(t, gateway.MaxConnections(2))
	var plain []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", g.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		plainGET(t, c, bufio.NewReader(c), "/")
		plain = append(plain, c)
	}
	if n := g.Stats().Sockets; n != 2 {
		t.Fatalf("%d sockets counted, want 2", n)
	}
	resp, _ := rawUpgrade(t, g.Addr().String(), 5*time.Second)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("WebSocket past max_connections: %s, want 503 with Retry-After", resp.Status)
	}
	if n := g.Stats().Refused["max_connections"]; n != 1 {
		t.Fatalf("refused max_connections = %d, want 1", n)
	}
	_ = plain[0].Close()
	sbtest.Eventually(t, 5*time.Second, "the closed socket uncounted", func() bool { return g.Stats().Sockets == 1 })
	c := sbtest.Dial(t, g, "/")
	c.Send("room again")
	c.Expect("room again")
}

// TestMaxConnectionsPerIP: the cap+1th socket from one address is refused
// and counted; one closed makes room again.
func TestMaxConnectionsPerIP(t *testing.T) {
	const perIP = 3
	g := start(t, gateway.MaxConnectionsPerIP(perIP), gateway.Listen("ws://127.0.0.1:0", "tcp+text://127.0.0.1:0"))
	var clients []*sbtest.WS
	for range perIP {
		clients = append(clients, sbtest.Dial(t, g, "/"))
	}
	resp, _ := rawUpgrade(t, g.Addr().String(), 5*time.Second)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("WebSocket %d from 127.0.0.1: %s, want 503", perIP+1, resp.Status)
	}
	tcpAddr := strings.TrimPrefix(g.Addrs()[1], "tcp+text://")
	tc, err := net.Dial("tcp", tcpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if n := waitClosed(t, tc, bufio.NewReader(tc), 5*time.Second); n > 2*time.Second {
		t.Fatalf("TCP socket over the cap closed after %v", n)
	}
	if n := g.Stats().Refused["max_connections_per_ip"]; n != 2 {
		t.Fatalf("refused max_connections_per_ip = %d, want 2", n)
	}
	_ = clients[0].Conn.Close()
	sbtest.Eventually(t, 5*time.Second, "the closed client uncounted", func() bool { return g.Stats().Sockets == perIP-1 })
	c := sbtest.Dial(t, g, "/")
	c.Send("room again")
	c.Expect("room again")
}

// TestOriginPolicy: by default only the same origin (and clients that send
// no Origin) may open a socket; ["*"] allows any (issue 13 item 7).
func TestOriginPolicy(t *testing.T) {
	cases := []struct {
		allowed []string
		headers []string
		want    int
	}{
		{nil, nil, http.StatusSwitchingProtocols}, // no Origin: not a browser
		{nil, []string{"Origin: http://{addr}"}, http.StatusSwitchingProtocols},
		{nil, []string{"Origin: HTTP://{ADDR}"}, http.StatusSwitchingProtocols},
		{nil, []string{"Origin: https://chat.example", "Host: chat.example:443"}, http.StatusSwitchingProtocols},
		{nil, []string{"Origin: http://chat.example", "Host: chat.example"}, http.StatusSwitchingProtocols},
		// Behind a TLS proxy the gateway cannot tell the scheme: not compared.
		{nil, []string{"Origin: https://chat.example", "Host: chat.example"}, http.StatusSwitchingProtocols},
		{nil, []string{"Origin: https://chat.example", "Host: chat.example:8443"}, http.StatusForbidden},
		{nil, []string{"Origin: https://evil.example"}, http.StatusForbidden},
		{nil, []string{"Origin: http://localhost:{port}"}, http.StatusForbidden}, // another host name
		{nil, []string{"Origin: null"}, http.StatusForbidden},
		{nil, []string{"Origin: file://{addr}"}, http.StatusForbidden},
		{nil, []string{"Origin: "}, http.StatusForbidden},
		{[]string{"*"}, []string{"Origin: https://evil.example"}, http.StatusSwitchingProtocols},
		{[]string{"*"}, []string{"Origin: null"}, http.StatusSwitchingProtocols},
		{[]string{"https://good.example"}, []string{"Origin: https://good.example"}, http.StatusSwitchingProtocols},
		{[]string{"https://good.example"}, []string{"Origin: http://{addr}"}, http.StatusForbidden},
	}
	ns := sbtest.NATS(t)
	sbtest.Worker(t, ns.ClientURL(), echo{})
	gateways := map[string]*gateway.Gateway{}
	for _, tc := range cases {
		key := strings.Join(tc.allowed, ",")
		g := gateways[key]
		if g == nil {
			g = sbtest.Gateway(t, ns.ClientURL(), gateway.AllowedOrigins(tc.allowed...))
			gateways[key] = g
		}
		addr := g.Addr().String()
		_, port, _ := net.SplitHostPort(addr)
		var hs []string
		for _, h := range tc.headers {
			h = strings.ReplaceAll(h, "{addr}", addr)
			h = strings.ReplaceAll(h, "{ADDR}", strings.ToUpper(addr))
			hs = append(hs, strings.ReplaceAll(h, "{port}", port))
		}
		resp, _ := rawUpgrade(t, addr, 5*time.Second, hs...)
		if resp.StatusCode != tc.want {
			t.Errorf("allowed_origins %q, headers %q: %s, want %d", tc.allowed, hs, resp.Status, tc.want)
		}
	}
	if _, err := gateway.New(nil, gateway.AllowedOrigins("*", "https://a.example")); err == nil {
		t.Error(`allowed_origins ["*", "https://a.example"] accepted`)
	}
}

// TestKeptAliveRequestHeadBounded: a later request on a kept-alive
// connection has the same 8 KiB head bound as the first (net/http's
// default would be 1 MiB per socket).
func TestKeptAliveRequestHeadBounded(t *testing.T) {
	g := start(t)
	c, err := net.Dial("tcp", g.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	plainGET(t, c, br, "/")
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	big := "GET / HTTP/1.1\r\nHost: example\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n"
	go func() { _, _ = io.WriteString(c, big) }()
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("64 KiB head on a kept-alive connection: %v %v, want 431", resp, err)
	}
}

// TestOneHostCannotTakeEverySocket: one address opening many idle HTTP
// sockets gets max_connections_per_ip of them; a client from another
// address still connects, and the idle ones go after http_idle_timeout.
func TestOneHostCannotTakeEverySocket(t *testing.T) {
	const perIP, attack = 50, 300
	g := start(t, gateway.MaxConnectionsPerIP(perIP), gateway.HTTPTimeouts(5*time.Second, 5*time.Second, 2*time.Second))
	refused := 0
	for range attack {
		c, err := net.Dial("tcp", g.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: example\r\n\r\n"); err != nil {
			refused++
			continue
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode == http.StatusServiceUnavailable {
			refused++
		}
	}
	st := g.Stats()
	t.Logf("%d sockets from 127.0.0.1: %d refused, %d open, refused{max_connections_per_ip} = %d",
		attack, refused, st.Sockets, st.Refused["max_connections_per_ip"])
	if refused != attack-perIP || st.Sockets != perIP || st.Refused["max_connections_per_ip"] != attack-perIP {
		t.Fatalf("want %d refused and %d open", attack-perIP, perIP)
	}
	d := ws.Dialer{Timeout: 5 * time.Second, NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
		return nd.DialContext(ctx, network, addr)
	}}
	other, err := sbtest.DialWith(t.Context(), d, "ws://"+g.Addr().String()+"/")
	if err != nil {
		t.Fatalf("a client from 127.0.0.2: %v", err)
	}
	defer other.Close()
	if err := wsutil.WriteClientText(other, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	_ = other.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := wsutil.ReadServerText(other); err != nil || string(b) != "still here" {
		t.Fatalf("echo to 127.0.0.2: %q %v", b, err)
	}
	began := time.Now()
	sbtest.Eventually(t, 10*time.Second, "the idle sockets closed", func() bool { return g.Stats().Sockets == 1 })
	t.Logf("the %d idle sockets closed within %v (http_idle_timeout 2s)", perIP, time.Since(began).Round(100*time.Millisecond))
}
