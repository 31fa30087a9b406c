package gateway

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gobwas/ws"
	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
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
	noWorker     bool // the last attempt found no worker; retry at deadline
	done         bool // the reply arrived and is being applied
}

// enqueue adds an event to the client's pipeline. Unless force is set it
// blocks while the client already has max_pending_events waiting, which
// stops the reader and so pushes back on the client through TCP. It reports
// false when the connection closed while waiting.
func (c *conn) enqueue(ev *pendingEvent, force bool) bool {
	c.evMu.Lock()
	for !force && !c.closed && len(c.queue) >= c.g.opts.maxPendingEvents {
		c.evCond.Wait()
	}
	if c.closed && !force {
		c.evMu.Unlock()
		return false
	}
	if ev.kind == bus.EventConnect {
		c.registered = true
	}
	c.evSeq++
	ev.seq = c.evSeq
	if c.inflight != nil {
		c.queue = append(c.queue, ev)
		c.evMu.Unlock()
		return true
	}
	c.inflight = ev
	now := time.Now()
	ev.firstSent, ev.deadline = now, now.Add(c.g.opts.eventTimeout)
	c.evMu.Unlock()
	c.g.publishEvent(c, ev, false)
	return true
}

// publishEvent sends ev to the worker queue group as a request whose reply
// comes back on this gateway's reply subject.
func (g *Gateway) publishEvent(c *conn, ev *pendingEvent, redelivered bool) {
	m := &nats.Msg{
		Subject: g.subj.Event(ev.kind),
		Reply:   g.subj.GatewayReply(g.id, c.seqToken, strconv.FormatUint(ev.seq, 36)),
		Header: nats.Header{
			bus.HdrClient:  []string{c.id},
			bus.HdrGateway: []string{g.id},
			bus.HdrRemote:  []string{c.remote},
		},
		Data: ev.data,
	}
	if s := c.getSession(); s != nil {
		m.Header[bus.HdrSession] = []string{string(s)}
	}
	if ev.binary {
		m.Header[bus.HdrBinary] = []string{"1"}
	}
	if redelivered {
		m.Header[bus.HdrRedelivered] = []string{"1"}
	}
	if err := g.nc.PublishMsg(m); err != nil {
		// The connection is closed or its reconnect buffer is full: treat
		// as "no worker" and let the scanner try again.
		g.log.Warn("publish event", "client_id", c.id, "event", ev.kind, "err", err)
		c.evMu.Lock()
		ev.noWorker = true
		ev.deadline = time.Now().Add(g.retryBackoff())
		c.evMu.Unlock()
	}
	g.metrics.eventsOut.Add(1)
}

// onReply handles a worker's reply (or the server's "no responders") to the
// in-flight event of one client.
func (g *Gateway) onReply(m *nats.Msg, b *batch) {
	seqTok, evTok, ok := replyTokens(m.Subject)
	if !ok {
		g.log.Warn("malformed reply subject", "subject", m.Subject)
		return
	}
	seq, err1 := strconv.ParseUint(seqTok, 36, 64)
	evSeq, err2 := strconv.ParseUint(evTok, 36, 64)
	if err1 != nil || err2 != nil {
		g.log.Warn("malformed reply subject", "subject", m.Subject)
		return
	}
	c := g.hub.get(seq)
	if c == nil {
		g.log.Debug("reply for a client that is gone", "subject", m.Subject)
		return
	}
	c.evMu.Lock()
	ev := c.inflight
	if ev == nil || ev.seq != evSeq || ev.done {
		c.evMu.Unlock()
		g.log.Debug("stale reply dropped", "client_id", c.id, "subject", m.Subject)
		return
	}
	if m.Header.Get("Status") == "503" {
		// At shutdown the scanner drops it at once (scanEvents).
		ev.noWorker = true
		ev.deadline = time.Now().Add(g.retryBackoff())
		c.evMu.Unlock()
		g.log.Debug("no worker for event, will retry", "client_id", c.id, "event", ev.kind)
		return
	}
	ev.done = true
	c.evMu.Unlock()
	g.applyReply(c, m, b)
	c.advance()
}

// replyTokens returns the last two tokens of a reply subject.
func replyTokens(subject string) (string, string, bool) {
	last := lastDot(subject)
	if last < 0 {
		return "", "", false
	}
	prev := lastDot(subject[:last])
	if prev < 0 {
		return "", "", false
	}
	return subject[prev+1 : last], subject[last+1:], true
}

func lastDot(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}

// applyReply applies what the handler did to its own client: session
// changes first (the next event must carry them), then frames, then close.
func (g *Gateway) applyReply(c *conn, m *nats.Msg, b *batch) {
	g.applySession(c, m)
	if spec := m.Header.Get(bus.HdrFrames); spec != "" {
		out, err := c.t.appendFrames(nil, spec, m.Data)
		if err != nil {
			g.log.Warn("bad frame list in reply", "client_id", c.id, "err", err)
		} else {
			b.add(c, out)
			g.metrics.msgsOut.Add(uint64(strings.Count(spec, ",") + 1))
		}
	}
	if m.Header.Get(bus.HdrClose) == "1" {
		b.flush()
		c.closeGracefully(c.t.closeFrame(ws.StatusNormalClosure, ""), "closed by worker")
	}
}

// applySession applies a reply's session change; a value that is not a
// JSON object is logged and ignored.
func (g *Gateway) applySession(c *conn, m *nats.Msg) {
	if s := m.Header.Get(bus.HdrSessionSet); s != "" {
		if _, err := bus.DecodeSession([]byte(s)); err != nil {
			g.log.Warn("bad session in reply ignored", "client_id", c.id, "err", err)
		} else {
			c.setSession([]byte(s))
		}
	}
	if s := m.Header.Get(bus.HdrSessionUpd); s != "" {
		if err := c.updateSession([]byte(s)); err != nil {
			g.log.Warn("bad session update in reply ignored", "client_id", c.id, "err", err)
		}
	}
}

// advance moves the pipeline to the client's next event.
func (c *conn) advance() {
	c.evMu.Lock()
	finished := c.inflight
	c.inflight = nil
	var next *pendingEvent
	if len(c.queue) > 0 {
		next = c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.inflight = next
		now := time.Now()
		next.firstSent, next.deadline = now, now.Add(c.g.opts.eventTimeout)
	}
	c.evCond.Signal()
	c.evMu.Unlock()
	if finished != nil && finished.kind == bus.EventClose {
		c.g.hub.remove(c)
		return
	}
	if next != nil {
		c.g.publishEvent(c, next, false)
	}
}

func (g *Gateway) retryBackoff() time.Duration {
	return min(max(g.opts.eventTimeout/10, 20*time.Millisecond), 500*time.Millisecond)
}

// scanEvents resends events whose reply is overdue: to another worker
// (marked redelivered) after a timeout, or again after "no responders";
// it drops an event that exhausted its redeliveries or waited no_worker_wait.
func (g *Gateway) scanEvents(now time.Time) {
	g.hub.each(func(c *conn) {
		c.evMu.Lock()
		ev := c.inflight
		// At shutdown an event waiting for a worker is dropped at once.
		giveUp := ev != nil && ev.noWorker && g.closing.Load()
		if ev == nil || ev.done || (!giveUp && now.Before(ev.deadline)) {
			c.evMu.Unlock()
			return
		}
		drop, redeliver := false, false
		switch {
		case giveUp || ev.noWorker && now.Sub(ev.firstSent) > g.opts.noWorkerWait:
			drop = true
		case ev.noWorker:
			ev.noWorker = false
			ev.deadline = now.Add(g.opts.eventTimeout)
		case ev.redeliveries >= g.opts.maxRedeliveries:
			drop = true
		default:
			ev.redeliveries++
			redeliver = true
			ev.deadline = now.Add(g.opts.eventTimeout)
		}
		if drop {
			ev.done = true
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
			return
		}
		if redeliver {
			g.metrics.eventsRedelivered.Add(1)
			g.log.Warn("event timed out, redelivering", "client_id", c.id, "event", ev.kind)
		}
		g.publishEvent(c, ev, redelivered)
	})
}
