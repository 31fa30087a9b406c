package gateway

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
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
	_ = nc.SetDeadline(time.Now().Add(g.opts.handshakeTimeout))
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
	c := newConn(g, transportWS, nc, g.seq.Add(1))
	hs := bus.Handshake{Header: http.Header{}, Remote: c.remote}
	var deflate *wsflate.Extension
	if g.opts.compression {
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
			return nil, g.admit(c, &hs)
		},
	}
	if deflate != nil {
		u.Negotiate = deflate.Negotiate
	}
	if _, err := u.Upgrade(struct {
		io.Reader
		io.Writer
	}{br, nc}); err != nil {
		g.log.Debug("upgrade refused", "remote", c.remote, "err", err)
		if !errors.As(err, new(*ws.ConnectionRejectedError)) {
			g.metrics.limits.hit(limitHandshakeTimeout)
		}
		_ = nc.Close()
		g.putHeadReader(br)
		return
	}
	_ = nc.SetDeadline(time.Time{})
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
	c.enqueue(g.pools.event(bus.EventConnect), true)
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
// OnWebSocketConnect; the connection limit still applies.
func (g *Gateway) acceptTCP(t transport, nc net.Conn) {
	if g.opts.maxConnections > 0 && g.ConnectionCount() >= g.opts.maxConnections {
		g.metrics.limits.hit(limitMaxConnections)
		g.log.Info("connection refused: max_connections", "remote", nc.RemoteAddr().String())
		_ = nc.Close()
		return
	}
	c := newConn(g, t, nc, g.seq.Add(1))
	g.register(c, bufio.NewReaderSize(nc, readBufferSize))
}

// admit applies the gateway's limits and asks a worker's OnWebSocketConnect
// (when a worker implements it) whether the client may connect.
func (g *Gateway) admit(c *conn, hs *bus.Handshake) error {
	if g.opts.maxConnections > 0 && g.ConnectionCount() >= g.opts.maxConnections {
		g.metrics.limits.hit(limitMaxConnections)
		return reject(http.StatusServiceUnavailable, "too many connections")
	}
	if g.opts.allowedOrigins != nil && !g.opts.allowedOrigins[hs.Header.Get("Origin")] {
		g.metrics.limits.hit(limitOrigin)
		return reject(http.StatusForbidden, "origin not allowed")
	}
	return g.askWorker(c, hs)
}

// askWorker sends the wsconnect event. No worker subscribed to it (no
// responders) means no worker implements OnWebSocketConnect: accept.
func (g *Gateway) askWorker(c *conn, hs *bus.Handshake) error {
	body, err := json.Marshal(hs)
	if err != nil {
		return err
	}
	m := &nats.Msg{
		Subject: g.subj.Event(bus.EventWebSocketConnect),
		Header: nats.Header{
			bus.HdrClient: []string{c.id},
			bus.HdrRemote: []string{c.remote},
			// The worker skips the handshake once the gateway stopped waiting.
			bus.HdrDeadline: []string{string(bus.AppendDeadline(nil, time.Now().Add(g.opts.handshakeTimeout)))},
		},
		Data: body,
	}
	reply, err := g.nc.RequestMsg(m, g.opts.handshakeTimeout)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil
	case err != nil:
		g.log.Warn("OnWebSocketConnect did not answer", "client_id", c.id, "err", err)
		return reject(http.StatusServiceUnavailable, "no answer from worker")
	case reply.Header.Get(bus.HdrStatus) == bus.StatusReject:
		code, _ := strconv.Atoi(reply.Header.Get(bus.HdrHTTPStatus))
		if code < 400 || code > 599 {
			code = http.StatusForbidden
		}
		return reject(code, reply.Header.Get(bus.HdrReason))
	}
	// Only session changes apply here: frames or a close would reach the
	// socket before the HTTP 101 answer. Send frames from OnConnect.
	if bus.HasFrames(reply.Header.Get(bus.HdrFrames), reply.Data) || reply.Header.Get(bus.HdrClose) != "" {
		g.log.Warn("frames and close in an OnWebSocketConnect reply are ignored", "client_id", c.id)
	}
	g.applySession(c, reply)
	return nil
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
