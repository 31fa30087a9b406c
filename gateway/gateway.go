package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/internal/wire"
)

// Gateway holds client connections and connects them to the workers.
type Gateway struct {
	id      string
	nc      *nats.Conn
	subj    wire.Subjects
	opts    options
	log     *slog.Logger
	hub     *hub
	peers   peers
	metrics metrics
	local   localPath // the in-process path (local.go)
	started time.Time

	rateMu          sync.Mutex
	inRate, outRate wire.Rate
	rates           [2]float64 // in, out per second over the last heartbeat interval

	seq     atomic.Uint64
	closing atomic.Bool
	// pauseMu guards awaySince: when the scanner found the bus away, zero
	// while it is connected (events.go, busPresent).
	pauseMu   sync.Mutex
	awaySince time.Time
	inbound   chan *nats.Msg
	// inboundDone counts the messages the inbound dispatcher has handled
	// (heldForInbound).
	inboundDone atomic.Uint64
	subs        []*nats.Subscription

	listeners []listener
	poll      *netpoll // nil: a reader goroutine per connection
	// headReaders are the 8 KiB readers handshakes peek the request with.
	headReaders sync.Pool
	pools       *eventPools // events and their NATS messages (pool.go)
	batcher     *batcher    // message events waiting to be published (eventbatch.go)
	fleet       fleet       // the workers that announce themselves (fleet.go)
	refusals    refusalLog  // handshakes refused for want of a worker (listen.go)
	sockets     sockets     // accepted sockets, for max_connections (sockets.go)
	tlsConfig   *tls.Config
	cert        atomic.Pointer[tls.Certificate]
	httpLn      *chanListener
	httpSrv     *http.Server
	stop        chan struct{}
	barrier     chan struct{} // the inbound dispatcher wrote what came before (drainEvents)
	stopOnce    sync.Once
	wg          sync.WaitGroup
}

// metrics are the gateway's counters.
type metrics struct {
	connects          atomic.Uint64
	msgsIn            atomic.Uint64
	msgsOut           atomic.Uint64
	bytesIn           atomic.Uint64
	bytesOut          atomic.Uint64
	disconnects       atomic.Uint64
	eventsOut         atomic.Uint64
	eventsDropped     atomic.Uint64
	eventsRedelivered atomic.Uint64
	eventsDirect      atomic.Uint64 // resends to one worker's direct subject (redeliver.go)
	redeliveriesHeld  atomic.Uint64
	eventsHeldBusy    atomic.Uint64 // hold.go
	replyBatches      atomic.Uint64
	repliesBatched    atomic.Uint64
	maxQueued         atomic.Int64
	backpressure      atomic.Uint64
	maxPending        atomic.Int64
	limits            limitCounters
	// queryAnswersFailed counts answers to queries and commands that
	// could not be sent (too large, connection gone).
	queryAnswersFailed atomic.Uint64
}

// Stats are the gateway's counters since it started.
type Stats struct {
	Connections int // live now
	// Sockets counts the sockets open on the listeners now, as
	// max_connections does: clients, handshakes and plain HTTP.
	Sockets     int
	Connects    uint64 // accepted since start
	MsgsIn      uint64 // client messages read
	MsgsOut     uint64 // messages written to clients
	BytesIn     uint64 // client message bytes read (payloads)
	BytesOut    uint64 // bytes queued or written to clients (framed)
	Disconnects uint64 // connections ended, for any reason
	EventsOut   uint64 // events published to workers, retries included
	// EventsLocal counts the message events the worker in this process
	// ran on the in-process path (not in EventsOut): answered there, or,
	// when the handler published messages itself, through NATS behind
	// them.
	EventsLocal       uint64
	EventsDropped     uint64 // events given up (no worker, or redeliveries exhausted)
	EventsRedelivered uint64 // events sent again after event_timeout
	// EventsRedeliveredDirect counts the resends (redeliveries and retries
	// after "no responders") sent to one fresh worker's direct subject
	// rather than to the queue group (docs/protocol.md §5.9).
	EventsRedeliveredDirect uint64
	// RedeliveriesHeld counts the overdue events not sent again at once
	// because the inbound dispatcher had not yet handled the messages that
	// had reached it, among which the event's reply may be (events.go,
	// heldForInbound).
	RedeliveriesHeld uint64
	EventBatches     uint64 // NATS messages that carried several message events
	EventsBatched    uint64 // message events sent in batches (also in EventsOut)
	// WorkersWithoutBatches counts the live workers that announce
	// themselves and do not take event batches; while it is not 0, the
	// gateway publishes events one by one.
	WorkersWithoutBatches int
	ReplyBatches          uint64 // NATS messages from workers that carried several replies
	RepliesBatched        uint64 // replies received in batches
	MaxQueuedBytes        int64  // the most bytes ever queued for one client (frames plus 32 bytes each)
	// AnswersFailed counts answers to queries and commands that could not
	// be published (each is logged with its cause).
	AnswersFailed uint64
	// Backpressure counts the times a client's reader waited because its
	// pending events reached max_pending_events or max_pending_bytes.
	Backpressure uint64
	// MaxPendingBytes is the most message bytes ever pending (in flight
	// and queued) for one client.
	MaxPendingBytes int64
	// Refused counts clients refused or closed by each limit:
	// message_too_large, invalid_utf8, protocol_error, rate_limit,
	// max_connections, origin, header_too_large, handshake_failed,
	// slow_client, heartbeat_timeout, message_read_timeout; handshakes
	// refused with 503 because no worker could vet them: no_worker,
	// worker_timeout, bus_away; sockets refused at accept:
	// max_connections_per_ip; connect_dropped (the connect event reached
	// no worker; the client was closed); event_dropped (a message event
	// was dropped; the client was closed); max_groups_per_client (a
	// JoinGroup refused); max_session_bytes (a session change refused).
	Refused map[string]uint64

	// EventsHeldBusy counts the overdue events held, not sent again,
	// because every live worker said it was busy (hold.go).
	EventsHeldBusy uint64
}

// Stats returns the gateway's counters.
func (g *Gateway) Stats() Stats {
	m := &g.metrics
	return Stats{
		Connections:             g.ConnectionCount(),
		Sockets:                 int(g.sockets.open.Load()),
		Connects:                m.connects.Load(),
		MsgsIn:                  m.msgsIn.Load(),
		MsgsOut:                 m.msgsOut.Load(),
		BytesIn:                 m.bytesIn.Load(),
		BytesOut:                m.bytesOut.Load(),
		Disconnects:             m.disconnects.Load(),
		EventsOut:               m.eventsOut.Load(),
		EventsLocal:             g.local.ran.Load(),
		EventsDropped:           m.eventsDropped.Load(),
		EventsRedelivered:       m.eventsRedelivered.Load(),
		EventsRedeliveredDirect: m.eventsDirect.Load(),
		RedeliveriesHeld:        m.redeliveriesHeld.Load(),
		EventsHeldBusy:          m.eventsHeldBusy.Load(),
		EventBatches:            g.batcher.batches.Load(),
		EventsBatched:           g.batcher.batched.Load(),
		WorkersWithoutBatches:   int(g.batcher.holdouts.Load()),
		ReplyBatches:            m.replyBatches.Load(),
		RepliesBatched:          m.repliesBatched.Load(),
		MaxQueuedBytes:          m.maxQueued.Load(),
		AnswersFailed:           m.queryAnswersFailed.Load(),
		Backpressure:            m.backpressure.Load(),
		MaxPendingBytes:         m.maxPending.Load(),
		Refused:                 m.limits.snapshot(),
	}
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
	if err := o.derive(); err != nil {
		return nil, err
	}
	subj, err := wire.NewSubjects(o.prefix)
	if err != nil {
		return nil, err
	}
	id := wire.NewGatewayID()
	g := &Gateway{
		id:      id,
		nc:      nc,
		subj:    subj,
		opts:    o,
		log:     o.log.With("gateway_id", id),
		inbound: make(chan *nats.Msg, 1<<16),
		stop:    make(chan struct{}),
		barrier: make(chan struct{}, 1),
	}
	g.peers = peers{self: id, interval: o.heartbeatInterval, seen: map[string]time.Time{}}
	g.headReaders.New = func() any { return bufio.NewReaderSize(nil, maxHeaderBytes) }
	g.pools = newEventPools()
	g.batcher = newBatcher(o.MaxEventBatch)
	g.fleet.workers = map[string]fleetWorker{}
	g.sockets.perIP = map[string]int{}
	g.fleet.arrived = make(chan struct{})
	g.hub = newHub(g.subscribeInterest)
	return g, nil
}

// ID returns the gateway id, the prefix of all its client ids.
func (g *Gateway) ID() string { return g.id }

// listener is one listening socket and its transport.
type listener struct {
	t      transport
	useTLS bool
	ln     net.Listener
}

// Addr returns the address of the first listener (useful with port 0).
func (g *Gateway) Addr() net.Addr {
	if len(g.listeners) == 0 {
		return &net.TCPAddr{}
	}
	return g.listeners[0].ln.Addr()
}

// Addrs returns every listener as a URL with its actual port, in the
// order they were configured.
func (g *Gateway) Addrs() []string {
	out := make([]string, len(g.listeners))
	for i, l := range g.listeners {
		scheme := l.t.String()
		if l.useTLS {
			scheme = "wss"
		}
		out[i] = scheme + "://" + l.ln.Addr().String()
	}
	return out
}

// ConnectionCount returns the number of live connections.
func (g *Gateway) ConnectionCount() int { return int(g.hub.live.Load()) }

func (g *Gateway) subscribeInterest(kind, name string) (*nats.Subscription, error) {
	subject := g.subj.Group(name)
	if kind == wire.KindUid {
		subject = g.subj.Uid(name)
	}
	sub, err := g.nc.ChanSubscribe(subject, g.inbound)
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", subject, err)
	}
	return sub, nil
}

// Start listens, subscribes to the gateway's subjects and announces the
// gateway to the cluster. It returns once everything is ready.
func (g *Gateway) Start(ctx context.Context) error {
	if err := g.subscribe(); err != nil {
		return err
	}
	g.fleet.mu.Lock()
	g.fleet.emptySince = time.Now() // listening to worker heartbeats from now
	g.fleet.mu.Unlock()
	if err := g.listen(ctx); err != nil {
		g.unsubscribe()
		return err
	}
	g.started = time.Now()
	g.httpLn = newChanListener(g.Addr())
	handler := g.opts.httpHandler
	if handler == nil {
		handler = http.NotFoundHandler()
	}
	g.httpSrv = &http.Server{
		Handler:           g.routeHTTP(handler),
		ReadHeaderTimeout: g.opts.HandshakeTimeout,
		ReadTimeout:       g.opts.HTTPReadTimeout,
		WriteTimeout:      g.opts.HTTPWriteTimeout,
		IdleTimeout:       g.opts.HTTPIdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes, // later requests on a connection, as the first
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
	}
	if g.opts.netpoll {
		p, err := newNetpoll(g)
		if err != nil {
			g.closeListeners()
			g.unsubscribe()
			return fmt.Errorf("netpoll: %w", err)
		}
		if p != nil { // nil where epoll does not exist (netpoll_other.go)
			g.poll = p
			g.wg.Add(1)
			go p.run()
		}
	}
	if g.batcher.max > 1 {
		g.batcher.mu.Lock()
		g.batcher.running = true
		g.batcher.mu.Unlock()
		g.wg.Add(1)
		go g.runBatcher()
	}
	g.wg.Add(4 + len(g.listeners))
	for _, l := range g.listeners {
		go g.acceptLoop(l)
	}
	go g.runInbound()
	go g.tick()
	go func() { defer g.wg.Done(); _ = g.httpSrv.Serve(g.httpLn) }()
	go g.watchBus()
	g.announce(wire.OpHello)
	// Workers announce themselves at once (fleet.go), not within a second.
	hello := wire.WorkerBeat{Op: wire.OpHello}.Msg(g.subj.WorkerHeartbeat(), nil)
	if err := g.nc.PublishMsg(hello); err != nil {
		g.log.Warn("ask workers to announce themselves", "err", err)
	}
	if err := g.nc.FlushTimeout(bus.DefaultTimeout); err != nil {
		return fmt.Errorf("gateway start: %w", err)
	}
	g.log.Info("gateway started", "listen", g.Addrs())
	return nil
}

func (g *Gateway) listen(ctx context.Context) error {
	var lc net.ListenConfig
	for _, addr := range g.opts.Listen {
		t, useTLS, host, err := parseListen(addr)
		if err != nil {
			return err
		}
		if useTLS && g.tlsConfig == nil {
			if err := g.ReloadTLS(); err != nil {
				g.closeListeners()
				return err
			}
			g.tlsConfig = &tls.Config{GetCertificate: g.certificate, MinVersion: tls.VersionTLS12}
		}
		ln, err := lc.Listen(ctx, "tcp", host)
		if err != nil {
			g.closeListeners()
			return fmt.Errorf("listen on %s: %w", addr, err)
		}
		g.listeners = append(g.listeners, listener{t: t, useTLS: useTLS, ln: ln})
	}
	return nil
}

func (g *Gateway) closeListeners() {
	for _, l := range g.listeners {
		_ = l.ln.Close()
	}
}

func (g *Gateway) subscribe() error {
	type sub struct {
		subject string
		handler nats.MsgHandler
	}
	// Commands, event replies and fan-out share one channel and one
	// goroutine (the inbound dispatcher, inbound.go), so that what a worker sends reaches its clients in the
	// order the worker sent it, whatever subject it went through.
	for _, subject := range []string{g.subj.Gateway(g.id), g.subj.GatewayReplies(g.id), g.subj.GatewayReplyBatch(g.id), g.subj.GatewayBatchReplies(g.id), g.subj.All()} {
		ns, err := g.nc.ChanSubscribe(subject, g.inbound)
		if err != nil {
			g.unsubscribe()
			return fmt.Errorf("subscribe %s: %w", subject, err)
		}
		g.subs = append(g.subs, ns)
	}
	for _, s := range []sub{
		{g.subj.Query(), g.onQuery},
		{g.subj.Heartbeat(), g.onHeartbeat},
		{g.subj.WorkerHeartbeat(), g.onWorkerHeartbeat},
	} {
		ns, err := g.nc.Subscribe(s.subject, s.handler)
		if err != nil {
			g.unsubscribe()
			return fmt.Errorf("subscribe %s: %w", s.subject, err)
		}
		_ = ns.SetPendingLimits(-1, 256<<20)
		g.subs = append(g.subs, ns)
	}
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
	scan := time.NewTicker(min(max(g.opts.EventTimeout/10, 10*time.Millisecond), 250*time.Millisecond))
	defer scan.Stop()
	beat := time.NewTicker(g.opts.heartbeatInterval)
	defer beat.Stop()
	reads := time.NewTicker(min(max(g.opts.MessageReadTimeout/4, 10*time.Millisecond), time.Second))
	defer reads.Stop()
	var ping <-chan time.Time
	if g.opts.PingInterval > 0 {
		t := time.NewTicker(g.opts.PingInterval)
		defer t.Stop()
		ping = t.C
	}
	for {
		select {
		case now := <-scan.C:
			g.scanEvents(now)
		case now := <-beat.C:
			g.updateRates(now)
			g.announce("")
			g.recountFleet(now)
		case now := <-ping:
			g.pingClients(now)
		case now := <-reads.C:
			g.closeSlowMessages(now)
		case <-g.stop:
			return
		}
	}
}

// pingClients sends ping_data to every client and closes those silent for
// ping_not_response_limit intervals.
func (g *Gateway) pingClients(now time.Time) {
	var ping encodedFrame
	ping.reset(wire.Frame{Data: g.opts.pingData})
	silentSince := now.Add(-time.Duration(g.opts.PingNotResponseLimit) * g.opts.PingInterval).UnixNano()
	g.hub.each(func(c *conn) {
		if c.isClosed() {
			return
		}
		if g.opts.PingNotResponseLimit > 0 && c.lastActive.Load() < silentSince {
			g.log.Info("client silent too long, closing", "client_id", c.id)
			g.metrics.limits.hit(limitHeartbeat)
			c.terminate("heartbeat timeout")
			return
		}
		if g.opts.pingData != nil {
			c.send(ping.of(c.t))
		}
	})
}

// closeSlowMessages closes the clients whose message began more than
// message_read_timeout ago and is still incomplete.
func (g *Gateway) closeSlowMessages(now time.Time) {
	begunBefore := now.Add(-g.opts.MessageReadTimeout).UnixNano()
	g.hub.each(func(c *conn) {
		if start := c.msgStart.Load(); start == 0 || start > begunBefore || c.isClosed() {
			return
		}
		g.log.Info("client message not completed in time, closing", "client_id", c.id, "message_read_timeout", g.opts.MessageReadTimeout)
		g.metrics.limits.hit(limitMessageTimeout)
		c.closeGracefully(c.t.closeFrame(ws.StatusPolicyViolation, "message not completed in time"), "message read timeout")
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
				g.announce(wire.OpHello)
			}
		case <-g.stop:
			return
		}
	}
}

// Shutdown stops accepting and reading clients, waits until the events
// already read were answered and the answers handed to the sockets,
// closes every client with 1001 (going away), waits until their close
// events were handled, says goodbye to the cluster and stops. ctx bounds
// the waits (the node gives it worker.stop_timeout): when it ends, the
// clients are closed at once and the error says how many were waiting.
func (g *Gateway) Shutdown(ctx context.Context) error {
	if len(g.listeners) == 0 {
		return errors.New("gateway was not started")
	}
	select {
	case <-g.stop: // an earlier Shutdown finished
		return nil
	default:
	}
	g.closing.Store(true) // from here clients' new messages are not read (enqueue)
	g.closeListeners()
	_ = g.httpSrv.Close()
	err := g.drainEvents(ctx)
	g.hub.each(func(c *conn) {
		c.closeGracefully(c.t.closeFrame(ws.StatusGoingAway, "gateway shutting down"), "gateway shutdown")
	})
	// Close events need the bus; without it there is nothing to wait for.
	for err == nil && g.pendingClients() > 0 && g.nc.IsConnected() {
		select {
		case <-ctx.Done():
			err = fmt.Errorf("gateway shutdown: %d clients still closing: %w", g.pendingClients(), ctx.Err())
		case now := <-time.After(10 * time.Millisecond):
			g.scanEvents(now)
			continue
		}
		break
	}
	g.announce(wire.OpBye)
	g.unsubscribe()
	if g.nc.IsConnected() {
		_ = g.nc.FlushTimeout(time.Second)
	}
	g.stopOnce.Do(func() {
		close(g.stop)
		if g.poll != nil {
			g.poll.stop()
		}
	})
	g.wg.Wait()
	return err
}

// drainEvents waits, until ctx ends or the bus is away, for every open
// client's events (in flight or queued) to be answered, then for the
// inbound dispatcher to hand the answers' frames to the sockets. An event
// waiting for a worker when none is running is dropped by scanEvents at
// once. g.closing is set, so readers add no new events.
func (g *Gateway) drainEvents(ctx context.Context) error {
	// Readers waiting for room in a full queue give up (enqueue).
	g.hub.each(func(c *conn) {
		c.evMu.Lock()
		c.evCond.Broadcast()
		c.evMu.Unlock()
	})
	for {
		busy := g.busyClients()
		if busy == 0 || !g.nc.IsConnected() {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gateway shutdown: %d clients still waiting for a reply: %w", busy, ctx.Err())
		case now := <-time.After(10 * time.Millisecond):
			g.scanEvents(now)
		}
	}
	// A reply is applied before its event leaves the pipeline, but its
	// frames may still wait in the inbound dispatcher's writeBatch: a barrier
	// through the same channel comes out after the batch was written.
	select {
	case g.inbound <- &nats.Msg{}:
	case <-ctx.Done():
		return fmt.Errorf("gateway shutdown: replies not written: %w", ctx.Err())
	}
	select {
	case <-g.barrier:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("gateway shutdown: replies not written: %w", ctx.Err())
	}
}

// busyClients counts the open clients with an event in flight or queued.
func (g *Gateway) busyClients() int {
	n := 0
	g.hub.each(func(c *conn) {
		c.evMu.Lock()
		if !c.closed && (c.inflight != nil || c.queue.len() > 0) {
			n++
		}
		c.evMu.Unlock()
	})
	return n
}

func (g *Gateway) pendingClients() int {
	n := 0
	g.hub.each(func(*conn) { n++ })
	return n
}
