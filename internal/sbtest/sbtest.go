// Package sbtest starts real Switchboard parts for tests: an embedded NATS
// server on a random port, gateways, workers, and WebSocket clients.
package sbtest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/wire"
	"github.com/switchboard-go/switchboard/natsserver"
	"github.com/switchboard-go/switchboard/worker"
)

// Logger returns a logger for tests: warnings and errors only, unless
// SB_TEST_DEBUG is set.
func Logger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("SB_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// NATS starts an embedded NATS server on a random loopback port.
func NATS(t testing.TB) *server.Server {
	t.Helper()
	return NATSOnPort(t, -1)
}

// NATSOnPort starts an embedded NATS server on a given port.
func NATSOnPort(t testing.TB, port int) *server.Server {
	t.Helper()
	s, err := natsserver.Start(natsserver.Config{Port: port})
	if err != nil {
		t.Fatalf("start nats: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// Conn connects to NATS with fast reconnects, closed at cleanup.
func Conn(t testing.TB, url string) *nats.Conn {
	t.Helper()
	log := Logger()
	nc, err := nats.Connect(url,
		nats.MaxReconnects(-1),
		nats.ReconnectWait(50*time.Millisecond),
		nats.ReconnectJitter(0, 0),
		// A test that fails under load should say why: a slow consumer
		// drops messages, a disconnect loses what was in flight.
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Warn("sbtest: nats error", "subject", subject, "err", err)
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("sbtest: nats disconnected", "err", err)
			}
		}),
	)
	if err != nil {
		t.Fatalf("connect nats: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Gateway starts a gateway on a random loopback port with its own NATS
// connection; it is shut down at cleanup.
func Gateway(t testing.TB, url string, opts ...gateway.Option) *gateway.Gateway {
	t.Helper()
	return GatewayOn(t, Conn(t, url), opts...)
}

// GatewayOn starts a gateway on a random loopback port on the NATS
// connection nc, which the test keeps (to flush it, or to close it as a
// crash would); it is shut down at cleanup.
func GatewayOn(t testing.TB, nc *nats.Conn, opts ...gateway.Option) *gateway.Gateway {
	t.Helper()
	opts = append([]gateway.Option{gateway.Listen("ws://127.0.0.1:0"), gateway.Logger(Logger())}, opts...)
	g, err := gateway.New(nc, opts...)
	if err != nil {
		t.Fatalf("new gateway: %v", err)
	}
	if err := g.Start(context.Background()); err != nil {
		t.Fatalf("start gateway: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := g.Shutdown(ctx); err != nil {
			t.Errorf("cleanup: gateway %s: %v", g.ID(), err)
		}
	})
	return g
}

// Worker starts a worker with its own NATS connection; it is stopped at
// cleanup unless the test stopped it.
func Worker(t testing.TB, url string, events any, opts ...worker.Option) *worker.Worker {
	t.Helper()
	nc := Conn(t, url)
	opts = append([]worker.Option{worker.Logger(Logger())}, opts...)
	w, err := worker.New(nc, events, opts...)
	if err != nil {
		t.Fatalf("new worker: %v", err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// A second Stop after the test's own does nothing harmful.
		if err := w.Stop(ctx); err != nil {
			t.Errorf("cleanup: worker %s: %v", w.ID(), err)
		}
	})
	return w
}

// Client connects to NATS and returns a Gateway API client.
func Client(t testing.TB, url string, opts ...bus.Option) *bus.Client {
	t.Helper()
	c, err := bus.New(Conn(t, url), opts...)
	if err != nil {
		t.Fatalf("bus client: %v", err)
	}
	return c
}

// WS is a WebSocket test client.
type WS struct {
	t    testing.TB
	Conn net.Conn
	ID   string // filled by tests that learn it
}

// Dial opens a WebSocket to the gateway.
func Dial(t testing.TB, g *gateway.Gateway, path string) *WS {
	t.Helper()
	c, err := DialErr(g, path)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	ws := &WS{t: t, Conn: c}
	t.Cleanup(func() { _ = c.Close() })
	return ws
}

// DialHeader opens a WebSocket whose upgrade request carries extra
// headers (cookies, for example).
func DialHeader(t testing.TB, g *gateway.Gateway, path string, h http.Header) *WS {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := DialWith(ctx, ws.Dialer{Header: ws.HandshakeHeaderHTTP(h)}, "ws://"+g.Addr().String()+path)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &WS{t: t, Conn: c}
}

// DialErr opens a WebSocket and returns the handshake error.
func DialErr(g *gateway.Gateway, path string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return DialWith(ctx, ws.Dialer{}, "ws://"+g.Addr().String()+path)
}

// DialWith dials with d and keeps any frame the server sent right behind
// its handshake answer (ws.Dial hands those back in a separate reader).
func DialWith(ctx context.Context, d ws.Dialer, url string) (net.Conn, error) {
	c, _, err := DialHandshake(ctx, d, url)
	return c, err
}

// DialHandshake is DialWith that also returns the handshake (negotiated
// extensions and protocol).
func DialHandshake(ctx context.Context, d ws.Dialer, url string) (net.Conn, ws.Handshake, error) {
	c, br, hs, err := d.Dial(ctx, url)
	if err != nil {
		return nil, hs, err
	}
	if br != nil {
		return &bufferedConn{Conn: c, r: br}, hs, nil
	}
	return c, hs, nil
}

type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// Send sends a text message.
func (c *WS) Send(s string) {
	c.t.Helper()
	if err := wsutil.WriteClientText(c.Conn, []byte(s)); err != nil {
		c.t.Fatalf("send %q: %v", s, err)
	}
}

// Read reads the next data message, failing the test after timeout.
func (c *WS) Read(timeout time.Duration) string {
	c.t.Helper()
	s, err := c.ReadErr(timeout)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return s
}

// ReadErr reads the next data message.
func (c *WS) ReadErr(timeout time.Duration) (string, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(timeout))
	defer func() { _ = c.Conn.SetReadDeadline(time.Time{}) }()
	b, err := wsutil.ReadServerText(c.Conn)
	return string(b), err
}

// Expect reads the next message and fails unless it equals want.
func (c *WS) Expect(want string) {
	c.t.Helper()
	if got := c.Read(5 * time.Second); got != want {
		c.t.Fatalf("got %q, want %q", got, want)
	}
}

// ExpectNothing fails if a message arrives within d.
func (c *WS) ExpectNothing(d time.Duration) {
	c.t.Helper()
	s, err := c.ReadErr(d)
	if err == nil {
		c.t.Fatalf("unexpected message %q", s)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		c.t.Fatalf("connection failed instead of staying quiet: %v", err)
	}
}

// ExpectNothingFrom proves the client got nothing from what api sent so
// far: it sends a marker after it, and the marker must be the next
// message. A gateway handles one publisher's messages in order, so this
// needs no waiting window that a late message could slip past. c.ID must
// be set.
func (c *WS) ExpectNothingFrom(api *bus.Client) {
	c.t.Helper()
	marker := "marker-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if err := api.SendToClient(c.ID, []byte(marker)); err != nil {
		c.t.Fatalf("send marker: %v", err)
	}
	if got := c.Read(5 * time.Second); got != marker {
		c.t.Fatalf("unexpected message %q (before the marker)", got)
	}
}

// Eventually polls cond until it is true or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// NATSCluster starts n embedded NATS servers clustered over loopback
// routes and waits until every server routes to every other.
func NATSCluster(t testing.TB, n int) []*server.Server {
	t.Helper()
	var servers []*server.Server
	var routes []*url.URL
	for i := range n {
		opts := &server.Options{
			Host:    "127.0.0.1",
			Port:    -1,
			NoLog:   true,
			NoSigs:  true,
			Cluster: server.ClusterOpts{Name: "sbtest", Host: "127.0.0.1", Port: -1},
			Routes:  routes,
		}
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatalf("nats node %d: %v", i, err)
		}
		go s.Start()
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatalf("nats node %d not ready", i)
		}
		t.Cleanup(s.Shutdown)
		servers = append(servers, s)
		routes = append(routes, &url.URL{Scheme: "nats", Host: s.ClusterAddr().String()})
	}
	Eventually(t, 10*time.Second, "a full mesh of routes", func() bool {
		for _, s := range servers {
			if s.NumRoutes() < n-1 {
				return false
			}
		}
		return true
	})
	return servers
}

// FreePort returns a loopback port that was free a moment ago (for tests
// that must restart something on the same port).
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// MissingTool is for a test that needs a program Go does not bring
// (Chromium, Node.js): it skips t with a message saying how to run it,
// or fails t when the tool is required, in CI (CI=true) or when the
// variable requireVar is set.
func MissingTool(t testing.TB, requireVar, what, how string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" || os.Getenv(requireVar) != "" {
		t.Fatalf("%s is required (CI=true or %s is set) and missing: %v; %s", what, requireVar, err, how)
	}
	t.Skipf("skipped: %s is missing (%v); to run this test, %s (set %s=1 to make a missing %s a failure)",
		what, err, how, requireVar, what)
}

// AnnounceWorker announces on nc a worker that is not a worker.Worker (a
// worker of another language, or a stand-in a test drives by hand), as
// docs/protocol.md §9.1 describes: at once, in answer to a gateway's hello
// and every 500 ms, until the test ends. Gateways count it as a running
// worker with the given features (a comma-separated list, may be empty).
func AnnounceWorker(t testing.TB, nc *nats.Conn, subj wire.Subjects, id, features string) {
	t.Helper()
	announce := func() {
		beat := wire.WorkerBeat{Worker: id}
		if features != "" {
			beat.Features = strings.Split(features, ",")
		}
		_ = nc.PublishMsg(beat.Msg(subj.WorkerHeartbeat(), []byte("{}")))
	}
	sub, err := nc.Subscribe(subj.WorkerHeartbeat(), func(m *nats.Msg) {
		if wire.ReadWorkerBeat(m).Op == wire.OpHello {
			announce()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	announce()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				announce()
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done; _ = sub.Unsubscribe() })
}

// AnnounceGateway sends heartbeats of a gateway with this id on nc every
// 20 ms until the test ends, without answering anything: a gateway that is
// frozen, or cut off from the query subject, as queries see it.
func AnnounceGateway(t testing.TB, nc *nats.Conn, subj wire.Subjects, id string) {
	t.Helper()
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			_ = nc.PublishMsg(wire.GatewayBeat{Gateway: id}.Msg(subj.Heartbeat(), []byte("{}")))
			select {
			case <-tick.C:
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}
