package gateway

import (
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/internal/wire"
)

// The in-process path (docs/architecture.md, "The in-process path"). A
// worker running in the gateway's process (worker.processes: 0) is linked
// to it with LinkLocal. While that worker is the only one the gateway
// hears of, a client's message event does not go through NATS: the
// client's reader goroutine hands it to the worker, which runs the handler
// there and gives the reply back, applied at once. A round trip then costs
// no NATS message, no goroutine hand-off and no wake-up of another thread,
// which at light load is most of its cost.
//
// Everything else goes through NATS as before: connect, close and
// handshake events, redeliveries, events queued behind one in flight, and
// every event once another worker is heard of (it must get its share at
// once: docs/architecture.md, property 1) or when the linked worker
// declines (stopping, or MaxConcurrency handlers running).

// localLink is the linked worker.
type localLink struct {
	runner wire.LocalRunner
	id     string
	apply  func(*wire.LocalEvent, *nats.Msg) // g.applyLocal, made once: a method value per event would allocate
}

// localPath is the gateway's side of the in-process path.
type localPath struct {
	link atomic.Pointer[localLink]
	// on: a worker is linked and no other live worker is heard of
	// (recountLocal).
	on  atomic.Bool
	ran atomic.Uint64 // events the linked worker ran (EventsLocal)
}

// LinkLocal links a worker of this process to the gateway (the node does
// it for worker.processes: 0); nil unlinks it. The worker keeps its place
// in the queue group for the events of other gateways.
func (g *Gateway) LinkLocal(r wire.LocalRunner) {
	if r == nil {
		g.local.link.Store(nil)
	} else {
		g.local.link.Store(&localLink{runner: r, id: r.ID(), apply: g.applyLocal})
	}
	g.recountFleet(time.Now())
}

// recountLocal turns the in-process path on while a worker is linked and
// no other worker is heard of. The caller, recountFleet, holds g.fleet.mu
// and has just forgotten the workers gone: every worker left is live.
func (g *Gateway) recountLocal() {
	link := g.local.link.Load()
	if link == nil {
		g.local.on.Store(false)
		return
	}
	others := len(g.fleet.workers)
	if _, ok := g.fleet.workers[link.id]; ok {
		others--
	}
	if was := g.local.on.Swap(others == 0); was != (others == 0) {
		g.log.Info("in-process path", "on", others == 0, "other_workers", others)
	}
}

// runLocal offers the message event ev, just made c's event in flight by
// its reader (startLocked, with ev.local set), to the linked worker. It
// reports false when the worker declined: the caller publishes ev.
func (g *Gateway) runLocal(c *conn, ev *pendingEvent) bool {
	link := g.local.link.Load()
	if link == nil {
		return g.localDeclined(c, ev)
	}
	ev.replyBuf = g.subj.AppendGatewayReply(ev.replyBuf[:0], g.id, c.seqToken, ev.seq)
	ev.le = wire.LocalEvent{
		Kind:     ev.kind,
		ClientID: c.id,
		Remote:   c.remote,
		Session:  bytesString(c.getSession()),
		Deadline: ev.deadline.UnixMilli(),
		Binary:   ev.binary,
		Data:     ev.data,
		ReplyTo:  bytesString(ev.replyBuf),
		Apply:    link.apply,
		Target:   c,
	}
	out := link.runner.RunLocal(&ev.le)
	if out == wire.LocalDeclined {
		return g.localDeclined(c, ev)
	}
	c.evMu.Lock()
	ev.local = false
	ev.le = wire.LocalEvent{}
	if out == wire.LocalPublished && !ev.done {
		// The reply travels through NATS: from now on this is an attempt
		// like any other, timed out and redelivered if its reply is lost.
		now := time.Now()
		ev.deadline, ev.attemptAt, ev.attemptTo = now.Add(g.opts.EventTimeout), now, ""
	}
	applied := out == wire.LocalApplied
	if applied {
		ev.done = true
	} else {
		g.local.ran.Add(1) // an applied one was counted by applyLocal
	}
	ev.publishing--
	free := ev.finished && ev.publishing == 0
	c.evMu.Unlock()
	if applied {
		c.advance()
	} else if free {
		ev.release()
	}
	return true
}

// localDeclined undoes runLocal's mark: ev goes to NATS.
func (g *Gateway) localDeclined(c *conn, ev *pendingEvent) bool {
	c.evMu.Lock()
	ev.local = false
	ev.le = wire.LocalEvent{}
	c.evMu.Unlock()
	return false
}

// applyLocal applies the reply to a LocalEvent, as onReply does one that
// came through NATS, on the reader's goroutine: session change, frames
// (written at once, or queued behind what the socket holds), close.
func (g *Gateway) applyLocal(le *wire.LocalEvent, m *nats.Msg) {
	c := le.Target.(*conn)
	g.local.ran.Add(1) // before the frames: a client that got them sees it counted
	r := wire.ReadReply(m)
	g.applySession(c, r)
	if len(m.Data) > 0 || r.Frames != "" {
		buf := g.pools.local.Get().(*localBuf)
		out, n, err := c.t.appendFrames(buf.b[:0], r.Frames, m.Data)
		if err != nil {
			g.frameListError(c, err)
		} else if len(out) > 0 {
			one := [1][]byte{out}
			if c.sendv(one[:]) {
				out = nil // the send queue holds it
			}
		}
		g.metrics.msgsOut.Add(uint64(n))
		buf.keep(out)
		g.pools.local.Put(buf)
	}
	if r.Closes() {
		c.closeGracefully(c.t.closeFrame(ws.StatusNormalClosure, ""), "closed by worker")
	}
}

// localBuf is a buffer applyLocal encodes a reply's frames into.
type localBuf struct{ b []byte }

// keep keeps b's array for the next reply unless it is nil or large.
func (l *localBuf) keep(b []byte) {
	if cap(b) > maxArenaBytes {
		b = nil
	}
	l.b = b[:0]
}
