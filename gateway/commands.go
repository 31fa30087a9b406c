package gateway

import (
	"errors"

	"github.com/gobwas/ws"
	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
)

// onCommand handles a command addressed to this gateway: a send to listed
// clients, or an operation on one client, answered when it has a reply
// subject.
func (g *Gateway) onCommand(m *nats.Msg, b *batch) {
	op := m.Header.Get(bus.HdrOp)
	if op == bus.OpSend {
		var frame encodedFrame
		frame.reset(bus.Frame{Data: m.Data, Binary: m.Header.Get(bus.HdrBinary) == "1"})
		if !g.textValid(frame.frame, m.Subject) {
			return
		}
		for _, id := range bus.SplitIDs(m.Header.Get(bus.HdrClients)) {
			if c := g.lookup(id); c != nil {
				b.add(c, frame.of(c.t))
				g.metrics.msgsOut.Add(1)
			} else {
				g.log.Debug("send to a client that is gone dropped", "client_id", id)
			}
		}
		return
	}
	if op == bus.OpPing { // a query asking whether this gateway is still on the bus
		g.respondOK(m, op, nil)
		return
	}
	// Any other command may close or change a client: what was gathered
	// so far goes out first.
	b.flush()
	id := m.Header.Get(bus.HdrClient)
	c := g.lookup(id)
	if c == nil {
		g.log.Debug("command for a client that is gone", "client_id", id, "op", op)
		g.respondError(m, bus.CodeNotFound, "client "+id+" not found")
		return
	}
	if err := g.apply(c, op, m); err != nil {
		code := bus.CodeInvalid
		switch {
		case errors.Is(err, errClosed):
			code = bus.CodeNotFound
		case errors.Is(err, bus.ErrInvalidName):
			code = bus.CodeBadName
		case errors.Is(err, errTooManyGroups), errors.Is(err, errSessionTooLarge):
			code = bus.CodeLimit
		}
		g.respondError(m, code, err.Error())
	}
}

// apply runs one client operation and answers it.
func (g *Gateway) apply(c *conn, op string, m *nats.Msg) error {
	var body []byte
	switch op {
	case bus.OpClose:
		out, _, err := c.t.appendFrames(nil, m.Header.Get(bus.HdrFrames), m.Data)
		if err != nil {
			return err
		}
		if out != nil {
			c.send(out)
		}
		c.closeGracefully(c.t.closeFrame(ws.StatusNormalClosure, ""), "closed by api")
	case bus.OpDestroy:
		c.terminate("destroyed by api")
	case bus.OpJoin, bus.OpLeave, bus.OpBind, bus.OpUnbind:
		if err := g.membership(c, op, m); err != nil {
			return err
		}
	case bus.OpSessionSet:
		// The size first, as in a reply (changeSession).
		if err := c.checkSessionSize(len(m.Data)); err != nil {
			return err
		}
		if _, err := bus.DecodeSession(m.Data); err != nil {
			return err
		}
		if err := c.setSession(m.Data); err != nil {
			return err
		}
	case bus.OpSessionUpdate:
		if err := c.updateSession(m.Data); err != nil {
			return err
		}
	case bus.OpSessionGet:
		body = c.getSession()
	case bus.OpOnline:
	case bus.OpUidOf:
		c.mu.Lock()
		body = []byte(c.uid)
		c.mu.Unlock()
	default:
		g.log.Warn("unknown command dropped", "client_id", c.id, "op", op)
		return errUnknownOp(op)
	}
	g.respondOK(m, op, body)
	return nil
}

// membership joins, leaves, binds or unbinds. When the gateway subscribed
// to a new group or uid subject it flushes before answering, so that a
// message published after the caller's call returns is not missed.
func (g *Gateway) membership(c *conn, op string, m *nats.Msg) error {
	key := bus.HdrGroup
	if op == bus.OpBind || op == bus.OpUnbind {
		key = bus.HdrUid
	}
	name, err := bus.TokenName(m.Header.Get(key))
	if err != nil {
		return err
	}
	if err := bus.ValidName(name); err != nil {
		return err
	}
	token := bus.NameToken(name) // the canonical token, whatever the sender wrote
	created := false
	switch op {
	case bus.OpJoin:
		created, err = g.hub.join(c, token, name)
	case bus.OpLeave:
		g.hub.leave(c, token)
	case bus.OpBind:
		created, err = g.hub.bind(c, token, name)
	case bus.OpUnbind:
		g.hub.unbind(c, name)
	}
	if err != nil {
		return err
	}
	if created {
		return g.nc.Flush()
	}
	return nil
}

// lookup returns the live client with this id on this gateway.
func (g *Gateway) lookup(id string) *conn {
	gw, seq, err := bus.ParseClientID(id)
	if err != nil || gw != g.id {
		return nil
	}
	c := g.hub.get(seq)
	if c == nil || c.isClosed() {
		return nil
	}
	return c
}

// respondOK answers a command. An answer that cannot be sent (too large
// for max_payload, connection gone) is logged and counted, and the asker
// gets an error answer naming the cause when that still fits.
func (g *Gateway) respondOK(m *nats.Msg, op string, body []byte) {
	if m.Reply == "" {
		return
	}
	err := m.RespondMsg(&nats.Msg{Header: nats.Header{bus.HdrStatus: []string{bus.StatusOK}}, Data: body})
	if err == nil {
		return
	}
	g.metrics.queryAnswersFailed.Add(1)
	g.log.Error("command answer not sent", "op", op, "client_id", m.Header.Get(bus.HdrClient), "bytes", len(body), "err", err)
	g.respondError(m, bus.CodeInternal, "gateway "+g.id+": answer not sent: "+err.Error())
}

func (g *Gateway) respondError(m *nats.Msg, code, reason string) {
	if m.Reply == "" {
		return
	}
	err := m.RespondMsg(&nats.Msg{Header: nats.Header{
		bus.HdrStatus: []string{bus.StatusError},
		bus.HdrError:  []string{code},
		bus.HdrReason: []string{reason},
	}})
	if err != nil {
		g.metrics.queryAnswersFailed.Add(1)
		g.log.Error("command error answer not sent", "op", m.Header.Get(bus.HdrOp), "client_id", m.Header.Get(bus.HdrClient), "reason", reason, "err", err)
	}
}

type errUnknownOp string

func (e errUnknownOp) Error() string { return "unknown operation " + string(e) }
