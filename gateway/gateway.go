package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
)

// Gateway holds client connections and connects them to the workers.
type Gateway struct {
	id      string
	nc      *nats.Conn
	subj    bus.Subjects
	opts    options
	log     *slog.Logger
	hub     *hub
	peers   peers
	metrics metrics
	started time.Time

	seq     atomic.Uint64
	closing atomic.Bool
	fanout  chan *nats.Msg
	subs    []*nats.Subscription

	ln       net.Listener
	httpLn   *chanListener
	httpSrv  *http.Server
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// metrics are the gateway's counters.
type metrics struct {
	connects          atomic.Uint64
	msgsIn            atomic.Uint64
	msgsOut           atomic.Uint64
	eventsOut         atomic.Uint64
	eventsDropped     atomic.Uint64
	eventsRedelivered atomic.Uint64
}

// New creates a gateway on a NATS connection, which the caller keeps and
// closes after Shutdown. Nothing listens until Start.
func New(nc *nats.Conn, opts ...Option) (*Gateway, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	subj, err := bus.NewSubjects(o.prefix)
	if err != nil {
		return nil, err
	}
	id := bus.NewGatewayID()
	g := &Gateway{
		id:     id,
		nc:     nc,
		subj:   subj,
		opts:   o,
		log:    o.log.With("gateway_id", id),
		fanout: make(chan *nats.Msg, 1<<16),
		stop:   make(chan struct{}),
	}
	g.peers = peers{self: id, interval: o.heartbeatInterval, seen: map[string]time.Time{}}
	g.hub = newHub(g.subscribeInterest)
	return g, nil
}

// ID returns the gateway id, the prefix of all its client ids.
func (g *Gateway) ID() string { return g.id }

// Addr returns the listening address (useful with port 0).
func (g *Gateway) Addr() net.Addr {
	if g.ln == nil {
		return &net.TCPAddr{}
	}
	return g.ln.Addr()
}

// ConnectionCount returns the number of live connections.
func (g *Gateway) ConnectionCount() int { return int(g.hub.live.Load()) }

func (g *Gateway) subscribeInterest(kind, name string) (*nats.Subscription, error) {
	subject := g.subj.Group(name)
	if kind == bus.KindUid {
		subject = g.subj.Uid(name)
	}
	sub, err := g.nc.ChanSubscribe(subject, g.fanout)
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", subject, err)
	}
	return sub, nil
}

// Start listens, subscribes to the gateway's subjects and announces the
// gateway to the cluster. It returns once everything is ready.
func (g *Gateway) Start(ctx context.Context) error {
	u, err := url.Parse(g.opts.listen)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", g.opts.listen, err)
	}
	if err := g.subscribe(); err != nil {
		return err
	}
	var lc net.ListenConfig
	g.ln, err = lc.Listen(ctx, "tcp", u.Host)
	if err != nil {
		g.unsubscribe()
		return fmt.Errorf("listen on %s: %w", u.Host, err)
	}
	g.started = time.Now()
	g.httpLn = newChanListener(g.ln.Addr())
	handler := g.opts.httpHandler
	if handler == nil {
		handler = http.NotFoundHandler()
	}
	g.httpSrv = &http.Server{Handler: handler, ReadHeaderTimeout: g.opts.handshakeTimeout}
	g.wg.Add(5)
	go g.acceptLoop()
	go g.runFanout()
	go g.tick()
	go func() { defer g.wg.Done(); _ = g.httpSrv.Serve(g.httpLn) }()
	go g.watchBus()
	g.announce(bus.OpHello)
	if err := g.nc.FlushTimeout(bus.DefaultTimeout); err != nil {
		return fmt.Errorf("gateway start: %w", err)
	}
	g.log.Info("gateway started", "listen", g.ln.Addr().String())
	return nil
}

func (g *Gateway) subscribe() error {
	type sub struct {
		subject string
		handler nats.MsgHandler
	}
	for _, s := range []sub{
		{g.subj.Gateway(g.id), g.onCommand},
		{g.subj.GatewayReplies(g.id), g.onReply},
		{g.subj.Query(), g.onQuery},
		{g.subj.Heartbeat(), g.onHeartbeat},
	} {
		ns, err := g.nc.Subscribe(s.subject, s.handler)
		if err != nil {
			g.unsubscribe()
			return fmt.Errorf("subscribe %s: %w", s.subject, err)
		}
		_ = ns.SetPendingLimits(-1, 256<<20)
		g.subs = append(g.subs, ns)
	}
	all, err := g.nc.ChanSubscribe(g.subj.All(), g.fanout)
	if err != nil {
		g.unsubscribe()
		return fmt.Errorf("subscribe %s: %w", g.subj.All(), err)
	}
	g.subs = append(g.subs, all)
	return nil
}

func (g *Gateway) unsubscribe() {
	for _, s := range g.subs {
		_ = s.Unsubscribe()
	}
	g.subs = nil
}

// tick drives the timers: event timeouts, heartbeats and client pings.
func (g *Gateway) tick() {
	defer g.wg.Done()
	scan := time.NewTicker(min(max(g.opts.eventTimeout/10, 10*time.Millisecond), 250*time.Millisecond))
	defer scan.Stop()
	beat := time.NewTicker(g.opts.heartbeatInterval)
	defer beat.Stop()
	var ping <-chan time.Time
	if g.opts.pingInterval > 0 {
		t := time.NewTicker(g.opts.pingInterval)
		defer t.Stop()
		ping = t.C
	}
	for {
		select {
		case now := <-scan.C:
			g.scanEvents(now)
		case <-beat.C:
			g.announce("")
		case now := <-ping:
			g.pingClients(now)
		case <-g.stop:
			return
		}
	}
}

// pingClients sends ping_data to every client and closes those silent for
// ping_not_response_limit intervals.
func (g *Gateway) pingClients(now time.Time) {
	var frame []byte
	if g.opts.pingData != nil {
		frame = encodeFrame(false, g.opts.pingData)
	}
	silentSince := now.Add(-time.Duration(g.opts.pingLimit) * g.opts.pingInterval).UnixNano()
	g.hub.each(func(c *conn) {
		if c.isClosed() {
			return
		}
		if g.opts.pingLimit > 0 && c.lastActive.Load() < silentSince {
			g.log.Info("client silent too long, closing", "client_id", c.id)
			c.terminate("heartbeat timeout")
			return
		}
		if frame != nil {
			c.send(frame)
		}
	})
}

// watchBus logs the NATS connection's state changes.
func (g *Gateway) watchBus() {
	defer g.wg.Done()
	ch := g.nc.StatusChanged()
	defer g.nc.RemoveStatusListener(ch)
	for {
		select {
		case st := <-ch:
			g.log.Info("nats connection", "status", st.String())
			if st == nats.CONNECTED {
				g.announce(bus.OpHello)
			}
		case <-g.stop:
			return
		}
	}
}

// Shutdown stops accepting, closes every client with 1001 (going away),
// waits until their close events were handled or ctx ends, says goodbye
// to the cluster and stops.
func (g *Gateway) Shutdown(ctx context.Context) error {
	if g.ln == nil {
		return errors.New("gateway was not started")
	}
	g.closing.Store(true)
	_ = g.ln.Close()
	_ = g.httpSrv.Close()
	g.hub.each(func(c *conn) { c.closeGracefully(closeFrame(1001, "gateway shutting down"), "gateway shutdown") })
	var err error
	// Close events need the bus; without it there is nothing to wait for.
	for g.pendingClients() > 0 && g.nc.IsConnected() {
		select {
		case <-ctx.Done():
			err = fmt.Errorf("gateway shutdown: %d clients still closing: %w", g.pendingClients(), ctx.Err())
		case now := <-time.After(10 * time.Millisecond):
			g.scanEvents(now)
			continue
		}
		break
	}
	g.announce(bus.OpBye)
	g.unsubscribe()
	if g.nc.IsConnected() {
		_ = g.nc.FlushTimeout(time.Second)
	}
	g.stopOnce.Do(func() { close(g.stop) })
	g.wg.Wait()
	return err
}

func (g *Gateway) pendingClients() int {
	n := 0
	g.hub.each(func(*conn) { n++ })
	return n
}
