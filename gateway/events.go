package gateway

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/gobwas/ws"
	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/internal/wire"
)

// pendingEvent is one client event on its way to a worker. Events of one
// client are sent one at a time: the next goes out when the reply to the
// previous one has been applied, so handlers see a client's events in order
// and always read the session the previous handler wrote.
type pendingEvent struct {
	kind         string
	data         []byte
	binary       bool
	seq          uint64
	firstSent    time.Time
	deadline     time.Time
	redeliveries int
	noWorker     bool   // the last attempt found no worker; retry at deadline
	directTo     string // the worker the last resend went to (redeliver.go)
	// attemptAt is when the current attempt was sent, attemptTo the
	// worker it went to directly ("" for the queue group): the hold
	// checks that no silent worker may hold it (hold.go).
	attemptAt time.Time
	attemptTo string
	// inboundMark: when overdue, the inbound dispatcher's count of handled
	// messages by which it will have handled every message that had
	// reached it; 0 when not waiting for it (heldForInbound).
	inboundMark uint64
	done        bool // the reply arrived and is being applied
	// heldCopy is redeliveries+1 of the attempt held because every worker
	// was busy, 0 if none was; heldSince is when it was first held
	// (hold.go).
	heldCopy  int
	heldSince time.Time
	// local: the worker in this process is running it on the reader's
	// goroutine (local.go); le is what it was handed, replyBuf the reply
	// subject's bytes.
	local    bool
	le       wire.LocalEvent
	replyBuf []byte

	// Events are pooled (pool.go). An event goes back to the pool once it
	// left the pipeline (finished) and no publish of it is under way:
	// the scanner may still be resending it when a reply to an earlier
	// attempt finishes it. Both fields are guarded by the client's evMu.
	publishing int
	finished   bool
	pool       *eventPools // where release returns it
}

// eventQueue holds a client's events waiting behind the one in flight.
// Taking from the front moves head instead of reslicing, so the array is
// reused and a busy client's pipeline allocates nothing per event.
type eventQueue struct {
	items []*pendingEvent // items[head:] are queued
	head  int
}

func (q *eventQueue) len() int { return len(q.items) - q.head }

// push appends ev. When the array is full and at least half of it has been
// taken, the queued events move to its front instead of growing it.
func (q *eventQueue) push(ev *pendingEvent) {
	if len(q.items) == cap(q.items) && q.head > 0 && q.head >= q.len() {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, ev)
}

// pop takes the oldest event, or returns nil. A drained queue keeps a
// small array for the next burst and gives a big one back, so an idle
// client holds little.
func (q *eventQueue) pop() *pendingEvent {
	if q.len() == 0 {
		return nil
	}
	ev := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	if q.len() == 0 {
		q.items, q.head = q.items[:0], 0
		if cap(q.items) > 8 {
			q.items = nil
		}
	}
	return ev
}

// enqueue adds an event (from the gateway's pool) to the client's pipeline
// and takes ownership of it. Unless force is set it blocks while the
// client already has max_pending_events waiting, which stops the reader
// and so pushes back on the client through TCP. It reports false when the
// connection closed while waiting.
func (c *conn) enqueue(ev *pendingEvent, force bool) bool {
	c.evMu.Lock()
	waited := false
	for !force && !c.closed && !c.connectLost && !c.abandoned && c.fullLocked(len(ev.data)) && !c.g.closing.Load() {
		if !waited {
			waited = true
			c.g.metrics.backpressure.Add(1)
		}
		c.evCond.Wait()
	}
	if !force && c.g.closing.Load() {
		// Shutdown: what was read before is answered, nothing new is taken.
		c.evMu.Unlock()
		ev.release()
		return false
	}
	if c.connectLost {
		// No worker saw this client connect: nothing of it goes to one.
		c.evMu.Unlock()
		isClose := ev.kind == wire.EventClose
		ev.release()
		if isClose {
			c.g.hub.remove(c)
		}
		return false
	}
	if (c.closed || c.abandoned) && !force {
		c.evMu.Unlock()
		ev.release()
		return false
	}
	if ev.kind == wire.EventConnect {
		c.registered = true
	}
	c.pendingBytes += len(ev.data)
	storeMax(&c.g.metrics.maxPending, int64(c.pendingBytes))
	c.evSeq++
	ev.seq = c.evSeq
	if c.inflight != nil {
		c.queue.push(ev)
		c.evMu.Unlock()
		return true
	}
	c.startLocked(ev)
	// A message its reader enqueued may run in this process's worker, on
	// this goroutine (local.go).
	local := !force && ev.kind == wire.EventMessage && c.g.local.on.Load()
	ev.local = local
	c.evMu.Unlock()
	if local && c.g.runLocal(c, ev) {
		return true
	}
	c.g.publishEvent(c, ev, false)
	return true
}

// fullLocked reports whether an event of n bytes must wait: the client
// has max_pending_events queued, or its pending events hold bytes and n
// more would pass max_pending_bytes (so one event always goes, and the
// pending bytes stay within max(max_pending_bytes, max_message_bytes)).
// The caller holds c.evMu.
func (c *conn) fullLocked(n int) bool {
	o := &c.g.opts
	return c.queue.len() >= o.MaxPendingEvents || c.pendingBytes > 0 && c.pendingBytes+n > o.MaxPendingBytes
}

// startLocked makes ev the event in flight, about to be published.
func (c *conn) startLocked(ev *pendingEvent) {
	c.inflight = ev
	now := time.Now()
	ev.firstSent, ev.deadline = now, now.Add(c.g.opts.EventTimeout)
	ev.attemptAt, ev.attemptTo = now, ""
	ev.publishing++
}

// publishEvent sends ev to the worker queue group as a request whose reply
// comes back on this gateway's reply subject: a message event through the
// batcher (eventbatch.go), anything else, and a redelivery, at once. The
// caller counted the publish in ev.publishing, under c.evMu; publishDone
// ends it.
func (g *Gateway) publishEvent(c *conn, ev *pendingEvent, redelivered bool) {
	if !redelivered && g.batcher.add(c, ev) {
		return
	}
	g.publishSingle(c, ev, redelivered)
}

// publishSingle publishes ev as a message of its own.
func (g *Gateway) publishSingle(c *conn, ev *pendingEvent, redelivered bool) {
	g.publishTo(c, ev, redelivered, "")
}

// publishTo publishes ev as a message of its own: to the worker queue
// group, or to worker's own direct subject (redeliver.go) when worker is
// not "". The reply subject is the same either way.
func (g *Gateway) publishTo(c *conn, ev *pendingEvent, redelivered bool, worker string) {
	e := g.pools.msgs.Get().(*wire.EventWriter)
	g.fillEvent(e, c, ev, redelivered)
	if worker != "" {
		e.Msg.Subject = g.subj.WorkerDirect(worker, ev.kind)
	}
	err := g.nc.PublishMsg(&e.Msg)
	e.Reset()
	g.pools.msgs.Put(e)
	if err != nil {
		if worker != "" {
			g.log.Warn("publish event", "client_id", c.id, "event", ev.kind, "worker_id", worker, "err", err)
		} else {
			g.log.Warn("publish event", "client_id", c.id, "event", ev.kind, "err", err)
		}
	}
	g.metrics.eventsOut.Add(1)
	c.publishDone(ev, err != nil)
}

// publishDone ends one publish of ev. A failed publish (the connection is
// closed or its reconnect buffer is full) counts as "no worker": the
// scanner tries again. If a reply finished ev meanwhile, the last publish
// to end gives it back to the pool.
func (c *conn) publishDone(ev *pendingEvent, failed bool) {
	c.evMu.Lock()
	ev.publishing--
	if failed && !ev.done {
		ev.noWorker = true
		ev.deadline = time.Now().Add(c.g.retryBackoff())
	}
	free := ev.finished && ev.publishing == 0
	c.evMu.Unlock()
	if free {
		ev.release()
	}
}

// onReply handles a worker's reply (or the server's "no responders") to the
// in-flight event of one client.
func (g *Gateway) onReply(m *nats.Msg, b *writeBatch) {
	seq, evSeq, ok := wire.ParseGatewayReply(m.Subject)
	if !ok {
		g.log.Warn("malformed reply subject", "subject", m.Subject)
		return
	}
	c := g.answered(seq, evSeq, wire.NoResponders(m))
	if c == nil {
		return
	}
	g.applyReply(c, m, b)
	c.advance()
}

// answered marks event evSeq of client seq answered and returns the client,
// whose reply the caller applies and then calls advance. It returns nil for
// a client that is gone, an event no longer in flight, and the server's "no
// responders" (noResponders), which makes the event wait and go again.
func (g *Gateway) answered(seq, evSeq uint64, noResponders bool) *conn {
	c := g.hub.get(seq)
	if c == nil {
		g.log.Debug("reply for a client that is gone", "client_seq", seq, "event_seq", evSeq)
		return nil
	}
	c.evMu.Lock()
	ev := c.inflightLocked(evSeq)
	if ev == nil {
		c.evMu.Unlock()
		g.log.Debug("stale reply dropped", "client_id", c.id, "event_seq", evSeq)
		return nil
	}
	if noResponders {
		// At shutdown the scanner drops it at once (scanEvents).
		ev.noWorker = true
		ev.deadline = time.Now().Add(g.retryBackoff())
		kind := ev.kind // once unlocked, the scanner may drop and recycle ev
		c.evMu.Unlock()
		g.log.Debug("no worker for event, will retry", "client_id", c.id, "event", kind)
		return nil
	}
	ev.done = true
	c.evMu.Unlock()
	return c
}

// inflightLocked returns the client's event in flight if it is event evSeq
// and not answered yet, else nil; the caller holds c.evMu.
func (c *conn) inflightLocked(evSeq uint64) *pendingEvent {
	if ev := c.inflight; ev != nil && ev.seq == evSeq && !ev.done {
		return ev
	}
	return nil
}

// applyReply applies what the handler did to its own client: session
// changes first (the next event must carry them), then frames, then close.
func (g *Gateway) applyReply(c *conn, m *nats.Msg, b *writeBatch) {
	r := wire.ReadReply(m)
	g.applySession(c, r)
	g.applyFrames(c, r.Frames, m.Data, b)
	if r.Closes() {
		b.flush()
		c.closeGracefully(c.t.closeFrame(ws.StatusNormalClosure, ""), "closed by worker")
	}
}

// applyFrames queues the frames of a reply for its client.
func (g *Gateway) applyFrames(c *conn, spec string, body []byte, b *writeBatch) {
	// A body without Sb-Frames is one text frame (wire.NewFrameScanner).
	n, err := b.addFrames(c, spec, body)
	if err != nil {
		g.frameListError(c, err)
	}
	g.metrics.msgsOut.Add(uint64(n))
}

// frameListError counts and logs a reply whose frames are dropped.
func (g *Gateway) frameListError(c *conn, err error) {
	if errors.Is(err, bus.ErrInvalidUTF8) {
		g.metrics.limits.hit(limitInvalidUTF8Out)
	}
	g.log.Warn("bad frame list in reply: its frames are dropped", "client_id", c.id, "err", err)
}

// applySession applies a reply's session change; a value that is not a
// JSON object is logged and ignored.
func (g *Gateway) applySession(c *conn, r wire.Reply) {
	g.changeSession(c, r.SessionSet, r.SessionUpdate)
}

// changeSession replaces the session with set, then merges update into
// it; "" is no change.
func (g *Gateway) changeSession(c *conn, set, update string) {
	if set != "" {
		// The size first: a session too big is refused without the
		// copies that decoding it would make.
		if err := c.checkSessionSize(len(set)); err != nil {
			g.log.Warn("session in reply refused", "client_id", c.id, "err", err)
		} else if _, err := wire.DecodeSession([]byte(set)); err != nil {
			g.log.Warn("bad session in reply ignored", "client_id", c.id, "err", err)
		} else if err := c.setSession([]byte(set)); err != nil {
			g.log.Warn("session in reply refused", "client_id", c.id, "err", err)
		}
	}
	if update != "" {
		if err := c.updateSession([]byte(update)); err != nil {
			g.log.Warn("bad session update in reply ignored", "client_id", c.id, "err", err)
		}
	}
}

// advance moves the pipeline to the client's next event. The caller is the
// one that marked the event in flight done (a reply, or the scanner
// dropping it); the event goes back to the pool here, or when the last
// publish of it still under way ends.
func (c *conn) advance() {
	c.evMu.Lock()
	finished := c.inflight
	c.inflight = nil
	next := c.queue.pop()
	if next != nil {
		c.startLocked(next)
	}
	closed, free := false, false
	if finished != nil {
		closed = finished.kind == wire.EventClose
		c.pendingBytes -= len(finished.data)
		finished.finished = true
		free = finished.publishing == 0
	}
	c.evCond.Signal()
	c.evMu.Unlock()
	if free {
		finished.release()
	}
	if closed {
		c.g.hub.remove(c)
		return
	}
	if next != nil {
		c.g.publishEvent(c, next, false)
	}
}

// busPresent pauses event deadlines while the NATS connection is down: no
// worker can answer then, and a reply sent meanwhile is lost, so counting
// the outage against event_timeout, max_redeliveries and no_worker_wait
// would drop events that only waited for the bus. It reports false while
// the bus is away; on the first scan after it came back it moves every
// event's deadline and first-send time forward by the outage, so each
// event gets the rest of its time (an event whose reply was lost is sent
// again, marked redelivered, when its deadline passes). The deadline of an
// event that already got "no responders" (its retry time) stays: that
// answer came after the bus was back.
func (g *Gateway) busPresent(now time.Time) bool {
	g.pauseMu.Lock()
	defer g.pauseMu.Unlock()
	if !g.nc.IsConnected() {
		if g.awaySince.IsZero() {
			g.awaySince = now
			g.log.Info("bus away: event deadlines paused")
		}
		return false
	}
	if g.awaySince.IsZero() {
		return true
	}
	away := now.Sub(g.awaySince)
	g.awaySince = time.Time{}
	g.hub.each(func(c *conn) {
		c.evMu.Lock()
		if ev := c.inflight; ev != nil && !ev.done {
			// An event waiting to be sent again after "no responders" got
			// that answer once the bus was back (before this scan saw it
			// back): its retry is not postponed by the outage.
			if !ev.noWorker {
				ev.deadline = ev.deadline.Add(away)
			}
			ev.firstSent = ev.firstSent.Add(away)
		}
		c.evMu.Unlock()
	})
	g.log.Info("bus back: event deadlines resumed", "away", away.Round(time.Millisecond).String())
	return true
}

func (g *Gateway) retryBackoff() time.Duration {
	return min(max(g.opts.EventTimeout/10, 20*time.Millisecond), 500*time.Millisecond)
}

// scanEvents resends events whose reply is overdue: to another worker
// (marked redelivered) after a timeout, or again after "no responders";
// it drops an event that exhausted its redeliveries or waited no_worker_wait.
func (g *Gateway) scanEvents(now time.Time) {
	if !g.busPresent(now) {
		return
	}
	g.hub.each(func(c *conn) {
		c.evMu.Lock()
		ev := c.inflight
		// At shutdown an event waiting for a worker is dropped at once.
		giveUp := ev != nil && ev.noWorker && g.closing.Load()
		// An event running in this process's worker is not overdue: that
		// worker cannot be lost without the gateway (local.go).
		if ev == nil || ev.done || ev.local || (!giveUp && now.Before(ev.deadline)) {
			c.evMu.Unlock()
			return
		}
		// An overdue reply may still be on its way (heldForInbound) or its
		// event waiting in a busy worker (heldForBusy, hold.go).
		if !giveUp && !ev.noWorker && (g.heldForInbound(ev) || g.heldForBusy(c, ev, now)) {
			c.evMu.Unlock()
			return
		}
		drop, redeliver := false, false
		switch {
		case giveUp || ev.noWorker && now.Sub(ev.firstSent) > g.opts.NoWorkerWait:
			drop = true
		case ev.noWorker:
			ev.noWorker = false
			ev.deadline = now.Add(g.opts.EventTimeout)
		case ev.redeliveries >= g.opts.MaxRedeliveries:
			drop = true
		default:
			ev.redeliveries++
			redeliver = true
			ev.deadline = now.Add(g.opts.EventTimeout)
		}
		lost, removeNow, abandoned := false, false, 0
		if drop {
			ev.done = true // from here only this scan may finish ev
			if ev.kind == wire.EventConnect {
				lost, removeNow = c.loseConnectLocked()
			} else if ev.kind == wire.EventMessage {
				abandoned = c.abandonLocked()
			}
		} else {
			ev.publishing++
		}
		redelivered := ev.redeliveries > 0
		c.evMu.Unlock()
		if drop {
			g.metrics.eventsDropped.Add(1)
			level := slog.LevelWarn
			if giveUp { // expected at shutdown without workers
				level = slog.LevelInfo
			}
			g.log.Log(context.Background(), level, "event dropped", "client_id", c.id, "event", ev.kind,
				"redeliveries", ev.redeliveries, "waited", now.Sub(ev.firstSent).String())
			c.advance()
			if lost {
				g.closeLostClient(c, removeNow)
			} else if abandoned > 0 {
				g.closeAbandoned(c, abandoned)
			}
			return
		}
		if redeliver {
			g.metrics.eventsRedelivered.Add(1)
			g.log.Warn("event timed out, redelivering", "client_id", c.id, "event", ev.kind)
		}
		g.resend(c, ev, redelivered, now)
	})
}

// heldForInbound reports whether the overdue event ev must wait before it
// is sent again because its reply may already be here: replies come in
// through the inbound dispatcher, in order behind group and broadcast
// messages, and a backlog there (a broadcast to many clients, a starved
// CPU) must not look like a lost reply, which would run the handler twice
// for every client waiting in it. The first time ev is found overdue with
// messages queued for the inbound dispatcher, it notes how many messages
// the goroutine will have handled once it handled those; ev waits until
// then, or until nothing is queued, and then is overdue for good. The
// caller holds c.evMu.
func (g *Gateway) heldForInbound(ev *pendingEvent) bool {
	queued := uint64(len(g.inbound)) // before done: the mark errs late, never early
	done := g.inboundDone.Load()
	if ev.inboundMark == 0 {
		if queued == 0 {
			return false
		}
		ev.inboundMark = done + queued
		g.metrics.redeliveriesHeld.Add(1)
		g.log.Debug("event overdue; waiting for the inbound dispatcher before redelivering",
			"event", ev.kind, "queued", queued)
		return true
	}
	if done < ev.inboundMark && queued > 0 {
		return true
	}
	ev.inboundMark = 0
	return false
}

// loseConnectLocked is called when c's connect event is dropped: no worker
// saw the client connect, so no worker may see its later events (they
// would run without the session OnConnect sets) and its close event must
// not reach one either. The events queued behind the connect are released.
// It reports that the client must be closed, and whether a close event was
// among those released (the client already ended and is to be forgotten).
// The caller holds c.evMu.
func (c *conn) loseConnectLocked() (lost, removeNow bool) {
	c.connectLost = true
	c.registered = false
	for q := c.queue.pop(); q != nil; q = c.queue.pop() {
		removeNow = removeNow || q.kind == wire.EventClose
		c.pendingBytes -= len(q.data)
		q.release()
	}
	c.evCond.Broadcast() // a reader waiting for room gives up
	return true, removeNow
}

// closeLostClient closes a client whose connect event was dropped: a
// WebSocket client gets close 1013 (try again later), a TCP client is
// closed. It is counted as refused{reason="connect_dropped"}.
func (g *Gateway) closeLostClient(c *conn, removeNow bool) {
	g.metrics.limits.hit(limitConnectDropped)
	if !g.closing.Load() {
		g.log.Warn("no worker handled the client's connect; closing it", "client_id", c.id)
	}
	c.closeGracefully(c.t.closeFrame(statusTryAgainLater, "try again later"), "connect event dropped")
	if removeNow {
		g.hub.remove(c)
	}
}

// statusTryAgainLater is WebSocket close code 1013 (RFC 6455 registry:
// "Try Again Later").
const statusTryAgainLater ws.StatusCode = 1013
