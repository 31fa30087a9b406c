package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/internal/wire"
)

// Worker consumes client events from NATS and calls the user's handlers.
type Worker struct {
	id     string
	nc     *nats.Conn
	client *bus.Client
	subj   wire.Subjects
	events any
	opts   options
	log    *slog.Logger

	sem       chan struct{} // one per handler goroutine: MaxConcurrency
	running   chan struct{} // one per handler running, on either path: MaxConcurrency
	monKick   chan struct{} // wakes the monitor (busy.go kickMonitor)
	idle      chan event    // events for handler goroutines waiting for one
	drained   chan struct{} // closed once no event can arrive any more
	drainOnce sync.Once
	replies   sync.Pool // *reply, see Context.reply
	rb        *replyBatcher
	subs      []*nats.Subscription
	handlers  sync.WaitGroup
	ctx       context.Context
	cancel    context.CancelFunc
	started   time.Time
	handled   atomic.Uint64
	inflight  atomic.Int64
	stale     atomic.Uint64 // events skipped: their deadline had passed
	staleLog  atomic.Int64  // unix nanoseconds of the last "stale events skipped" log
	hb        *heartbeat
	in        intake        // bounded intake: drops counted (intake.go)
	waiting   atomic.Int64  // dispatches waiting for a handler slot (busy.go)
	busy      busyState     // busy.go
	lateRun   atomic.Uint64 // events run after their deadline because gateways held them
	// The in-process path (local.go): RunLocal runs handlers while
	// localOpen; localRuns counts the calls under way, local the events
	// it ran.
	localOpen atomic.Bool
	localRuns atomic.Int64
	local     atomic.Uint64
}

// Option configures a Worker.
type Option func(*options)

type options struct {
	Config
	prefix  string
	log     *slog.Logger
	timeout time.Duration
	skew    time.Duration
	pending int // MaxPendingBytes (intake.go)
	observe func(kind string, d time.Duration, err error)
}

// Prefix sets the subject prefix (namespace); default "sb".
func Prefix(p string) Option { return func(o *options) { o.prefix = p } }

// Logger sets the logger; default slog.Default().
func Logger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// MaxConcurrency sets Config.MaxConcurrency (worker.max_concurrency):
// the events handled at once (of different clients); default 1024.
func MaxConcurrency(n int) Option { return func(o *options) { o.MaxConcurrency = n } }

// WithConfig sets every key at once (the configuration file's worker
// section); options after it change single keys.
func WithConfig(c Config) Option { return func(o *options) { o.Config = c } }

// APITimeout bounds Gateway API calls whose context has no deadline.
func APITimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// DeadlineSkew sets how long after an event's deadline (Sb-Deadline) the
// worker still runs its handler; default wire.DefaultDeadlineSkew (1 s).
// Later than that the gateway has resent or dropped the event, and the
// worker skips it. It is the bound within which the worker's clock must
// agree with the gateways' clocks: a worker whose clock runs ahead by more
// skips events its gateway still waits for.
func DeadlineSkew(d time.Duration) Option { return func(o *options) { o.skew = d } }

// Observe calls fn after each event with its kind (connect, message,
// close, wsconnect), how long the handler took and its error: the hook for
// metrics.
func Observe(fn func(kind string, d time.Duration, err error)) Option {
	return func(o *options) { o.observe = fn }
}

// InFlight returns the number of events being handled now.
func (w *Worker) InFlight() int64 { return w.inflight.Load() }

// StaleSkipped returns the number of events the worker did not handle
// because their deadline had passed when a handler goroutine got to them
// (metric stale_events_skipped).
func (w *Worker) StaleSkipped() uint64 { return w.stale.Load() }

// HeldRun returns the number of events the worker ran after their
// deadline because their gateways held them: the deadline passed while
// every live worker was busy, or while the bus was away (busy.go,
// freeze.go; metric held_events_run).
func (w *Worker) HeldRun() uint64 { return w.lateRun.Load() }

// Busy reports whether the worker says it is busy in its heartbeats:
// events wait for a handler slot and handlers still finish (busy.go).
func (w *Worker) Busy() bool { return w.isBusy() }

// New creates a worker for events, a value implementing one or more of
// MessageHandler, ConnectHandler, CloseHandler, WebSocketConnectHandler
// (and optionally StartHandler, StopHandler). The caller keeps and closes
// nc after Stop.
func New(nc *nats.Conn, events any, opts ...Option) (*Worker, error) {
	if !implementsAny(events) {
		return nil, fmt.Errorf("worker: %T implements no event handler (OnMessage, OnConnect, OnClose or OnWebSocketConnect)", events)
	}
	o := options{Config: DefaultConfig(), log: slog.Default(), timeout: bus.DefaultTimeout, skew: wire.DefaultDeadlineSkew,
		pending: DefaultMaxPendingBytes}
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	if err := validPendingBytes(o.pending); err != nil {
		return nil, err
	}
	if o.skew < 0 {
		return nil, fmt.Errorf("worker: deadline skew %v must not be negative", o.skew)
	}
	client, err := bus.New(nc, bus.WithPrefix(o.prefix), bus.WithTimeout(o.timeout), bus.WithLogger(o.log))
	if err != nil {
		return nil, err
	}
	subj, err := wire.NewSubjects(o.prefix)
	if err != nil {
		return nil, err
	}
	id := wire.NewGatewayID()
	return &Worker{
		id:      id,
		nc:      nc,
		client:  client,
		subj:    subj,
		events:  events,
		opts:    o,
		log:     o.log.With("worker_id", id),
		sem:     make(chan struct{}, o.MaxConcurrency),
		running: make(chan struct{}, o.MaxConcurrency),
		monKick: make(chan struct{}, 1),
		idle:    make(chan event),
		drained: make(chan struct{}),
		replies: sync.Pool{New: newReply},
		rb:      newReplyBatcher(),
	}, nil
}

// ID returns the worker's id.
func (w *Worker) ID() string { return w.id }

// Client returns the Gateway API bound to the worker's connection.
func (w *Worker) Client() *bus.Client { return w.client }

// Handled returns the number of events handled so far.
func (w *Worker) Handled() uint64 { return w.handled.Load() }

// Start runs OnWorkerStart and joins the worker queue group. From then on
// the worker takes a share of the cluster's events.
func (w *Worker) Start(ctx context.Context) error {
	w.ctx, w.cancel = context.WithCancel(context.WithoutCancel(ctx))
	w.started = time.Now()
	if h, ok := w.events.(StartHandler); ok {
		if err := h.OnWorkerStart(w); err != nil {
			return fmt.Errorf("OnWorkerStart: %w", err)
		}
	}
	kinds := []string{wire.EventConnect, wire.EventMessage, wire.EventClose}
	if _, ok := w.events.(WebSocketConnectHandler); ok {
		kinds = append(kinds, wire.EventWebSocketConnect)
	}
	for _, k := range kinds {
		sub, err := w.nc.QueueSubscribe(w.subj.Event(k), wire.WorkerQueue, w.dispatchOne)
		if err != nil {
			w.unsubscribe()
			return fmt.Errorf("subscribe %s: %w", w.subj.Event(k), err)
		}
		w.limitIntake(sub)
		w.subs = append(w.subs, sub)
	}
	if _, ok := w.events.(MessageHandler); ok {
		subject := w.subj.EventBatch(wire.EventMessage)
		sub, err := w.nc.QueueSubscribe(subject, wire.WorkerQueue, w.dispatchBatch)
		if err != nil {
			w.unsubscribe()
			return fmt.Errorf("subscribe %s: %w", subject, err)
		}
		w.limitIntake(sub)
		w.subs = append(w.subs, sub)
	}
	if err := w.subscribeDirect(); err != nil {
		w.unsubscribe()
		return err
	}
	w.startReplies()
	if err := w.startHeartbeat(); err != nil {
		w.stopReplies()
		w.unsubscribe()
		return fmt.Errorf("worker heartbeat: %w", err)
	}
	if err := w.nc.FlushTimeout(w.opts.timeout); err != nil {
		w.stopReplies()
		w.unsubscribe()
		return fmt.Errorf("worker start: %w", err)
	}
	w.localOpen.Store(true)
	w.log.Info("worker started")
	return nil
}

func (w *Worker) unsubscribe() {
	for _, s := range w.subs {
		_ = s.Unsubscribe()
	}
	w.subs = nil
}

// Stop drains the worker: it leaves the queue group (new events go to other
// workers), finishes the events it already has, sends their replies, and
// runs OnWorkerStop. When ctx ends first, handlers' contexts are cancelled
// and the events left are redelivered by their gateways after their timeout.
func (w *Worker) Stop(ctx context.Context) error {
	w.localOpen.Store(false) // the gateway in this process publishes from now on
	for _, s := range w.subs {
		if err := s.Drain(); err != nil {
			w.log.Warn("drain", "subject", s.Subject, "err", err)
		}
	}
	err := w.waitDrained(ctx)
	if err != nil {
		w.cancel()
	}
	w.stopReplies() // handlers still running after a timeout answer alone
	if w.hb != nil {
		w.hb.close()
		w.hb = nil
	}
	if w.nc.IsConnected() {
		if ferr := w.nc.FlushTimeout(w.opts.timeout); ferr != nil && err == nil {
			err = ferr
		}
	}
	if h, ok := w.events.(StopHandler); ok {
		h.OnWorkerStop(w)
	}
	w.cancel()
	w.log.Info("worker stopped", "handled", w.handled.Load())
	return err
}

func (w *Worker) waitDrained(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, s := range w.subs {
			for s.IsValid() && w.nc.IsConnected() {
				time.Sleep(5 * time.Millisecond)
			}
		}
		for w.localRuns.Load() > 0 { // handlers run by RunLocal (local.go)
			time.Sleep(5 * time.Millisecond)
		}
		w.drainOnce.Do(func() { close(w.drained) }) // idle handler goroutines leave
		w.handlers.Wait()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("worker stop: %d events still running: %w", w.inflight.Load(), ctx.Err())
	}
}

// dispatch hands one event to a handler goroutine: one that waits for
// work when there is one, else a new one while fewer than MaxConcurrency
// run. Events of one client never overlap (the gateway waits for each
// reply), so handling them on any goroutine keeps clients concurrent
// without breaking their order. A goroutine that handled an event waits
// handlerIdle for the next: a busy worker reuses goroutines whose stacks
// already grew, instead of growing a fresh one for every event.
func (w *Worker) dispatch(ev event) {
	select {
	case w.idle <- ev:
		return
	default:
	}
	if w.waiting.Add(1) == 1 { // the worker is busy while this waits (busy.go)
		w.kickMonitor()
	}
	select {
	case w.idle <- ev:
	case w.sem <- struct{}{}:
		w.handlers.Add(1)
		go w.run(ev)
	}
	w.waiting.Add(-1)
}

// handlerIdle is how long a handler goroutine waits for another event.
const handlerIdle = time.Second

// run handles ev and then the events dispatch hands it, until it waited
// handlerIdle for one or the worker drained.
func (w *Worker) run(ev event) {
	defer func() {
		<-w.sem
		w.handlers.Done()
	}()
	idle := time.NewTimer(handlerIdle)
	defer idle.Stop()
	for {
		w.runHandler(ev)
		idle.Reset(handlerIdle)
		select {
		case ev = <-w.idle:
		case <-idle.C:
			return
		case <-w.drained:
			return
		}
	}
}

// runHandler handles ev once a handler may run: at most MaxConcurrency
// run at once, counting those the in-process path runs (local.go); a
// goroutine waiting for its turn makes the worker busy (busy.go).
func (w *Worker) runHandler(ev event) {
	select {
	case w.running <- struct{}{}:
	default:
		if w.waiting.Add(1) == 1 {
			w.kickMonitor()
		}
		w.running <- struct{}{}
		w.waiting.Add(-1)
	}
	w.inflight.Add(1)
	w.handle(ev)
	<-w.running
	w.inflight.Add(-1) // after the slot: InFlight 0 means every slot is free
}

// event is one client event as a handler gets it, whether it came in a
// message of its own or in a batch.
type event struct {
	kind        string
	reply       string // where the answer goes; "" for none
	gateway     string // set for an event that came in a batch: its gateway
	ref         string // and its "<client seq>.<event seq>"
	clientID    string
	remote      string
	session     string // the session as JSON; "" for none
	deadline    int64  // Sb-Deadline, Unix milliseconds; 0: none, -1: unreadable
	redelivered bool
	binary      bool
	data        []byte
	local       *wire.LocalEvent // set for an event run by RunLocal (local.go)
}

// dispatchOne dispatches the event of a message of its own, read from its
// subject and headers (docs/protocol.md §5.1).
func (w *Worker) dispatchOne(m *nats.Msg) {
	w.dispatch(messageEvent(m, w.subj.EventKind(m.Subject)))
}

// dispatchBatch splits a batch of message events (docs/protocol.md,
// "Event batches") and dispatches each as if it had come alone: its own
// reply subject, client id, remote address and session.
func (w *Worker) dispatchBatch(m *nats.Msg) {
	dl := wire.MessageDeadline(m) // one for the whole batch
	err := w.subj.SplitEventBatch(m, func(e wire.BatchEvent) {
		w.dispatch(event{kind: wire.EventMessage, reply: e.Reply, gateway: e.Gateway, ref: e.Ref,
			clientID: e.ClientID, remote: e.Remote, session: e.Session, deadline: dl, binary: e.Binary, data: e.Data})
	})
	if err != nil {
		w.log.Warn("event batch dropped", "reply", m.Reply, "err", err)
	}
}

// skipStale reports whether ev's deadline passed more than the allowed
// skew before now and its gateway did not hold it (heldAt: the deadline
// passed while every live worker was busy, or while the bus was away);
// it then counts it and logs, at most once a second. Nothing is answered:
// the gateway has resent the event or given it up.
func (w *Worker) skipStale(ev *event, now time.Time) bool {
	if ev.deadline == 0 || now.UnixMilli() <= ev.deadline+w.opts.skew.Milliseconds() {
		return false
	}
	if ev.deadline > 0 && w.heldAt(time.UnixMilli(ev.deadline).Add(w.opts.skew), now, ev.redelivered) {
		w.lateRun.Add(1)
		return false
	}
	n := w.stale.Add(1)
	last := w.staleLog.Load()
	if now.UnixNano()-last >= int64(time.Second) && w.staleLog.CompareAndSwap(last, now.UnixNano()) {
		late := "unreadable deadline"
		if ev.deadline > 0 {
			late = (time.Duration(now.UnixMilli()-ev.deadline) * time.Millisecond).String()
		}
		w.log.Warn("stale events skipped: their gateway stopped waiting for them", "event", ev.kind,
			"client_id", ev.clientID, "late", late, "skipped_total", n)
	}
	return true
}

// handle runs ev's handler and answers its gateway. For an event run by
// RunLocal it reports how the reply went back (wire.LocalOutcome).
func (w *Worker) handle(ev event) wire.LocalOutcome {
	start := time.Now()
	if w.skipStale(&ev, start) {
		return wire.LocalApplied // not for RunLocal's events: their deadline is ahead
	}
	c := newContext(w.ctx, w, ev)
	defer c.release()
	kind := ev.kind
	var sent uint64
	if ev.local != nil {
		sent = w.nc.Stats().OutMsgs
	}
	reply, err := w.call(c, ev)
	if w.opts.observe != nil {
		w.opts.observe(kind, time.Since(start), err)
	}
	logHandlerError(c, kind, err)
	w.handled.Add(1)
	if ev.reply == "" {
		return wire.LocalApplied
	}
	if kind == wire.EventWebSocketConnect && err != nil {
		reply = rejection(err)
	}
	// A reply applied in the gateway's process would overtake what the
	// handler published on the connection (Gateway(), Client()): the
	// gateway handles one worker's messages in the order they were
	// published, so such a reply is published too, behind them.
	if ev.local != nil && w.nc.Stats().OutMsgs == sent {
		ev.local.Apply(ev.local, reply)
		return wire.LocalApplied
	}
	// An event that came in a batch may be answered in one, unless the
	// answer closes the client.
	if ev.ref != "" {
		if parts, ok := c.out.batchParts(); ok && w.rb.add(&ev, parts) {
			return wire.LocalPublished
		}
	}
	reply.Subject = ev.reply
	if err := w.nc.PublishMsg(reply); err != nil {
		c.Logger().Warn("reply to gateway", "event", kind, "err", err)
	}
	return wire.LocalPublished
}

// call runs the handler of one event kind, turning a panic into an error:
// the worker and the client live on.
func (w *Worker) call(c *Context, ev event) (reply *nats.Msg, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
			reply = c.reply()
		}
	}()
	switch ev.kind {
	case wire.EventConnect:
		if h, ok := w.events.(ConnectHandler); ok {
			err = h.OnConnect(c)
		}
	case wire.EventMessage:
		if h, ok := w.events.(MessageHandler); ok {
			err = h.OnMessage(c, Message{Data: ev.data, Binary: ev.binary})
		}
	case wire.EventClose:
		if h, ok := w.events.(CloseHandler); ok {
			err = h.OnClose(c)
		}
	case wire.EventWebSocketConnect:
		err = w.webSocketConnect(c, ev.data)
	default:
		err = fmt.Errorf("unknown event kind %q", ev.kind)
	}
	return c.reply(), err
}

func (w *Worker) webSocketConnect(c *Context, data []byte) error {
	h, ok := w.events.(WebSocketConnectHandler)
	if !ok {
		return nil
	}
	var hs bus.Handshake
	if err := json.Unmarshal(data, &hs); err != nil {
		c.Logger().Warn("malformed handshake event", "err", err)
		return Reject(http.StatusBadRequest, "malformed handshake event")
	}
	return h.OnWebSocketConnect(c, hs)
}

// logHandlerError logs what a handler returned. A refusal with Reject in
// OnWebSocketConnect is the application's decision, not a failure: it is
// logged at info. Any other error is logged at error.
func logHandlerError(c *Context, kind string, err error) {
	if err == nil {
		return
	}
	var re *RejectError
	if kind == wire.EventWebSocketConnect && errors.As(err, &re) {
		c.Logger().Info("handshake refused", "status", re.Status, "reason", re.Reason)
		return
	}
	c.Logger().Error("handler failed", "event", kind, "err", err)
}

func rejection(err error) *nats.Msg {
	re := &RejectError{Status: http.StatusForbidden, Reason: err.Error()}
	errors.As(err, &re)
	return &nats.Msg{Header: wire.RejectHeader(re.Status, re.Reason)}
}
