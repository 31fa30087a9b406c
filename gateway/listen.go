package gateway

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/internal/wire"
)

// maxHeaderBytes bounds an HTTP request head; larger ones get 431.
const maxHeaderBytes = 8 << 10

// readBufferSize is the read buffer of an upgraded connection.
const readBufferSize = 512

func (g *Gateway) acceptLoop(l listener) {
	defer g.wg.Done()
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			g.log.Warn("accept", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		ip := remoteIP(nc.RemoteAddr())
		if lim, ok := g.acquire(ip); !ok {
			go g.refuseSocket(nc, lim, l.t == transportWS && !l.useTLS)
			continue
		}
		nc = &trackedConn{Conn: nc, g: g, ip: ip}
		if l.useTLS {
			nc = tls.Server(nc, g.tlsConfig)
		}
		if l.t == transportWS {
			go g.handshake(nc)
		} else {
			go g.acceptTCP(l.t, nc)
		}
	}
}

// handshake reads the request head, hands plain HTTP requests to the HTTP
// server and upgrades WebSocket requests. It runs on its own goroutine,
// which ends after the upgrade: the connection's reader starts fresh with a
// small stack.
func (g *Gateway) handshake(nc net.Conn) {
	deadline := time.Now().Add(g.opts.HandshakeTimeout)
	_ = nc.SetDeadline(deadline)
	br := g.headReaders.Get().(*bufio.Reader)
	br.Reset(nc)
	head, err := peekHead(br)
	if err != nil {
		g.metrics.limits.hit(limitHandshakeTimeout)
		if errors.Is(err, bufio.ErrBufferFull) {
			g.metrics.limits.hit(limitHeaderTooLarge)
			_, _ = io.WriteString(nc, "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
		}
		g.log.Debug("handshake dropped", "remote", nc.RemoteAddr().String(), "err", err)
		_ = nc.Close()
		g.putHeadReader(br)
		return
	}
	if !isWebSocketUpgrade(head) {
		_ = nc.SetDeadline(time.Time{})
		g.httpLn.push(&bufferedConn{Conn: nc, r: br})
		return
	}
	g.upgrade(nc, br, len(head), deadline)
}

// upgrade answers the WebSocket upgrade request, the first headLen bytes of
// br, read from nc, and registers the client. What follows the request in
// br is the client's first frames. The socket's deadline is deadline.
func (g *Gateway) upgrade(nc net.Conn, br *bufio.Reader, headLen int, deadline time.Time) {
	c := newConn(g, transportWS, nc, g.seq.Add(1))
	hs := bus.Handshake{Header: http.Header{}, Remote: c.remote}
	var deflate *wsflate.Extension
	if g.opts.Compression {
		deflate = &wsflate.Extension{Parameters: deflateParameters()}
	}
	u := ws.Upgrader{
		OnRequest: func(uri []byte) error {
			path, query, _ := strings.Cut(string(uri), "?")
			hs.Path, hs.Query = path, query
			return nil
		},
		OnHost: func(host []byte) error {
			hs.Header.Set("Host", string(host))
			return nil
		},
		OnHeader: func(key, value []byte) error {
			hs.Header.Add(string(key), string(value))
			return nil
		},
		OnBeforeUpgrade: func() (ws.HandshakeHeader, error) {
			return nil, g.admit(c, &hs, deadline)
		},
	}
	if deflate != nil {
		u.Negotiate = deflate.Negotiate
	}
	// The upgrader reads through a buffer of its own: it gets the request
	// and nothing more.
	if _, err := u.Upgrade(struct {
		io.Reader
		io.Writer
	}{io.LimitReader(br, int64(headLen)), nc}); err != nil {
		g.log.Debug("upgrade refused", "remote", c.remote, "err", err)
		if !errors.As(err, new(*ws.ConnectionRejectedError)) {
			g.metrics.limits.hit(limitHandshakeTimeout)
		}
		_ = nc.Close()
		g.putHeadReader(br)
		return
	}
	_ = nc.SetDeadline(time.Time{})
	if pc, ok := nc.(*prefixConn); ok && pc.prefix.Len() == 0 {
		// Everything replayed is in br: read the socket itself from now on
		// (netpoll, sendv).
		c.nc, c.fd = pc.Conn, socketFD(pc.Conn)
	}
	untrack(c)
	if deflate != nil {
		if _, ok := deflate.Accepted(); ok {
			c.t = transportWSDeflate
		}
	}
	if !g.register(c, br) {
		g.putHeadReader(br)
	}
}

// putHeadReader returns a handshake's 8 KiB reader to the pool: thousands
// of handshakes a second would otherwise each leave one to the collector.
func (g *Gateway) putHeadReader(br *bufio.Reader) {
	br.Reset(nil)
	g.headReaders.Put(br)
}

// register makes a connected client known and starts reading it: plain
// WebSocket connections through netpoll (no goroutine while idle), TLS and
// TCP transports with a reader goroutine each. br holds what the handshake
// read ahead.
// It reports whether the connection kept br.
func (g *Gateway) register(c *conn, br *bufio.Reader) (keptReader bool) {
	g.metrics.connects.Add(1)
	g.hub.add(c)
	c.enqueue(g.pools.event(wire.EventConnect), true)
	ws := c.t == transportWS || c.t == transportWSDeflate
	if ws && g.poll != nil && c.fd >= 0 {
		var ahead []byte
		if br.Buffered() > 0 {
			ahead, _ = br.Peek(br.Buffered())
			ahead = append([]byte(nil), ahead...)
		}
		if err := g.poll.add(c, ahead); err == nil {
			return false
		}
		g.poll.forget(c)
	}
	if br.Buffered() > 0 {
		c.br, keptReader = br, true
	} else {
		c.br = bufio.NewReaderSize(c.nc, readBufferSize)
	}
	if ws {
		go c.readLoop()
	} else {
		go c.readTCP()
	}
	return keptReader
}

// socketFD returns the descriptor of a plain socket, -1 for anything else
// (TLS). The socket stays owned by nc, which closes it.
func socketFD(nc net.Conn) int {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	if raw.Control(func(f uintptr) { fd = int(f) }) != nil {
		return -1
	}
	return fd
}

// acceptTCP admits a plain TCP client: no handshake, so no
// OnWebSocketConnect; the connection limits applied at accept.
func (g *Gateway) acceptTCP(t transport, nc net.Conn) {
	c := newConn(g, t, nc, g.seq.Add(1))
	untrack(c)
	g.register(c, bufio.NewReaderSize(nc, readBufferSize))
}

// admit applies the gateway's limits and asks a worker's OnWebSocketConnect
// (when a worker implements it) whether the client may connect. deadline is
// the socket's: every refusal is written before it.
func (g *Gateway) admit(c *conn, hs *bus.Handshake, deadline time.Time) error {
	if !g.originAllowed(hs.Header) {
		g.metrics.limits.hit(limitOrigin)
		return reject(http.StatusForbidden, "origin not allowed")
	}
	return g.askWorker(c, hs, deadline.Add(-g.opts.HandshakeTimeout/4))
}

// originAllowed applies allowed_origins. Empty (the default): same origin
// only, the Origin's host and port equal to the Host header's, as browsers
// send them; a request without Origin comes from no browser and is
// allowed. "*": any origin. Otherwise: exactly the listed origins.
func (g *Gateway) originAllowed(h http.Header) bool {
	origin := h.Get("Origin")
	switch {
	case g.opts.anyOrigin:
		return true
	case g.opts.allowedOrigins != nil:
		return g.opts.allowedOrigins[origin]
	case len(h.Values("Origin")) == 0:
		return true
	}
	return sameOrigin(origin, h.Get("Host"))
}

// sameOrigin reports whether origin (scheme://host[:port]) names host
// (host[:port] of the request), case-insensitively, the default port of
// the Origin's scheme added where a port is missing. The scheme itself is
// not compared: behind a TLS proxy the gateway cannot tell it.
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || host == "" {
		return false // "null", garbage
	}
	port := "80"
	switch strings.ToLower(u.Scheme) {
	case "https", "wss":
		port = "443"
	case "http", "ws":
	default:
		return false
	}
	return strings.EqualFold(withPort(u.Host, port), withPort(host, port))
}

// withPort returns host:port, adding port when host has none.
func withPort(host, port string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), port)
}

// fleetSettle is how long a gateway must have known of no worker before it
// trusts that none runs: workers announce themselves every second.
// workerGrace is how long a handshake still waits then for a worker that
// has just started (it announces itself at once).
const (
	fleetSettle = 1500 * time.Millisecond
	workerGrace = 250 * time.Millisecond
)

// retryAfter is the Retry-After, in seconds, of a 503 answer.
const retryAfter = "2"

// askWorker decides whether OnWebSocketConnect must be asked, and asks it,
// failing closed (docs/protocol.md §5.4). The gateway learns from worker
// heartbeats (fleet.go) which running workers implement it, never from NATS
// "no responders": a passive subscriber must not change the answer. It
// accepts without asking only while workers run and none implements
// OnWebSocketConnect; with no worker, no answer before until, or the bus
// away, it refuses with 503 and Retry-After.
func (g *Gateway) askWorker(c *conn, hs *bus.Handshake, until time.Time) error {
	for {
		now := time.Now()
		if !g.nc.IsConnected() {
			return g.refuseHandshake(limitBusAway, "message bus unavailable", nil)
		}
		v := g.viewFleet(now)
		switch {
		case v.wsConnect > 0:
			return g.requestWSConnect(c, hs, until)
		case v.live > 0:
			return nil
		}
		wait := v.emptySince.Add(fleetSettle)
		if grace := now.Add(workerGrace); wait.Before(grace) {
			wait = grace
		}
		if until.Before(wait) {
			wait = until
		}
		if !now.Before(wait) {
			return g.refuseHandshake(limitNoWorker, "no worker running", nil)
		}
		t := time.NewTimer(wait.Sub(now))
		select {
		case <-v.arrived:
			t.Stop()
		case <-t.C:
			return g.refuseHandshake(limitNoWorker, "no worker running", nil)
		}
	}
}

// requestWSConnect sends the wsconnect event and applies the answer.
func (g *Gateway) requestWSConnect(c *conn, hs *bus.Handshake, until time.Time) error {
	budget := time.Until(until)
	if budget <= 0 {
		return g.refuseHandshake(limitWorkerTimeout, "no time left to ask OnWebSocketConnect", nil)
	}
	body, err := json.Marshal(hs)
	if err != nil {
		return err
	}
	m := &nats.Msg{
		Subject: g.subj.Event(wire.EventWebSocketConnect),
		Header: wire.Event{
			ClientID: c.id,
			Remote:   c.remote,
			// The worker skips the handshake once the gateway stopped waiting.
			Deadline: time.Now().Add(g.opts.HandshakeTimeout).UnixMilli(),
		}.Header(),
		Data: body,
	}
	reply, err := g.nc.RequestMsg(m, budget)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		// The workers that announced it are gone since.
		return g.refuseHandshake(limitNoWorker, "no worker answers OnWebSocketConnect", err)
	case errors.Is(err, nats.ErrTimeout):
		return g.refuseHandshake(limitWorkerTimeout, "OnWebSocketConnect did not answer in time", err)
	case err != nil:
		return g.refuseHandshake(limitBusAway, "OnWebSocketConnect could not be asked", err)
	}
	r := wire.ReadReply(reply)
	if code, rejected := r.Rejected(); rejected {
		return reject(code, r.Reason)
	}
	// Only session changes apply here: frames or a close would reach the
	// socket before the HTTP 101 answer. Send frames from OnConnect.
	if wire.HasFrames(r.Frames, reply.Data) || r.Close != "" {
		g.log.Warn("frames and close in an OnWebSocketConnect reply are ignored", "client_id", c.id)
	}
	g.applySession(c, r)
	return nil
}

// refusalLogEvery bounds the warnings about handshakes refused for want of
// a worker: one, then at most one per interval with the count in between.
const refusalLogEvery = 10 * time.Second

// refusalLog rate-limits those warnings.
type refusalLog struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// refuseHandshake counts a handshake refused because no worker could vet
// it, logs it (rate-limited) and returns the 503 answer.
func (g *Gateway) refuseHandshake(l limit, reason string, err error) error {
	g.metrics.limits.hit(l)
	now := time.Now()
	rl := &g.refusals
	rl.mu.Lock()
	if !rl.last.IsZero() && now.Sub(rl.last) < refusalLogEvery {
		rl.suppressed++
		rl.mu.Unlock()
		return rejectRetry(reason)
	}
	n := rl.suppressed
	rl.last, rl.suppressed = now, 0
	rl.mu.Unlock()
	args := []any{"reason", l.String(), "detail", reason, "refused_unlogged", n}
	if err != nil {
		args = append(args, "err", err)
	}
	g.log.Warn("WebSocket handshake refused with 503: no worker could run OnWebSocketConnect", args...)
	return rejectRetry(reason)
}

// rejectRetry refuses a handshake with 503 and Retry-After.
func rejectRetry(reason string) error {
	return ws.RejectConnectionError(ws.RejectionStatus(http.StatusServiceUnavailable), ws.RejectionReason(reason),
		ws.RejectionHeader(ws.HandshakeHeaderHTTP(http.Header{"Retry-After": {retryAfter}})))
}

// reject refuses a handshake with an HTTP status.
func reject(status int, reason string) error {
	return ws.RejectConnectionError(ws.RejectionStatus(status), ws.RejectionReason(reason))
}

// peekHead returns the request head (up to the blank line) without
// consuming it.
func peekHead(br *bufio.Reader) ([]byte, error) {
	for n := 1; ; n = br.Buffered() + 1 {
		if _, err := br.Peek(n); err != nil {
			return nil, err
		}
		b, _ := br.Peek(br.Buffered())
		if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
			return b[:i+4], nil
		}
	}
}

// isWebSocketUpgrade reports whether the request head asks for a
// WebSocket upgrade.
func isWebSocketUpgrade(head []byte) bool {
	for _, line := range bytes.Split(head, []byte("\r\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(k), []byte("Upgrade")) &&
			bytes.Contains(bytes.ToLower(v), []byte("websocket")) {
			return true
		}
	}
	return false
}

// routeHTTP serves the requests that follow the first one on a kept-alive
// connection: the handshake only saw the first. A WebSocket upgrade among
// them is taken from the HTTP server and upgraded as if it had come first
// (Node's WebSocket reuses a connection fetch() opened).
func (g *Gateway) routeHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoAtLeast(1, 1) && headerHasToken(r.Header, "Upgrade", "websocket") {
			if hj, ok := w.(http.Hijacker); ok {
				g.upgradeHijacked(r, hj)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// upgradeHijacked takes an upgrade request's connection from the HTTP
// server and runs the handshake on it: the request head, written out again,
// then whatever the HTTP server and the first handshake had read ahead.
func (g *Gateway) upgradeHijacked(r *http.Request, hj http.Hijacker) {
	nc, rw, err := hj.Hijack()
	if err != nil {
		g.log.Debug("hijack for upgrade", "remote", r.RemoteAddr, "err", err)
		return
	}
	deadline := time.Now().Add(g.opts.HandshakeTimeout)
	_ = nc.SetDeadline(deadline)
	var head bytes.Buffer
	fmt.Fprintf(&head, "%s %s HTTP/%d.%d\r\nHost: %s\r\n", r.Method, r.RequestURI, r.ProtoMajor, r.ProtoMinor, r.Host)
	for k, vs := range r.Header {
		for _, v := range vs {
			fmt.Fprintf(&head, "%s: %s\r\n", k, v)
		}
	}
	head.WriteString("\r\n")
	headLen := head.Len()
	if n := rw.Reader.Buffered(); n > 0 {
		b, _ := rw.Reader.Peek(n)
		head.Write(b)
	}
	raw := nc
	if bc, ok := nc.(*bufferedConn); ok {
		raw = bc.Conn
		if n := bc.r.Buffered(); n > 0 {
			b, _ := bc.r.Peek(n)
			head.Write(b)
		}
	}
	br := g.headReaders.Get().(*bufio.Reader)
	pc := &prefixConn{Conn: raw, prefix: bytes.NewReader(head.Bytes())}
	br.Reset(pc)
	g.upgrade(pc, br, headLen, deadline)
}

// headerHasToken reports whether a comma-separated header has token
// (case-insensitive).
func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

// prefixConn reads prefix before the connection.
type prefixConn struct {
	net.Conn
	prefix *bytes.Reader
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if p.prefix.Len() > 0 {
		return p.prefix.Read(b)
	}
	return p.Conn.Read(b)
}

// bufferedConn replays what the handshake peeked before reading on.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// chanListener feeds connections that are plain HTTP to the http.Server.
type chanListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) push(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		_ = c.Close()
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
