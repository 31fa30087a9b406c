package gateway

import (
	"errors"

	"github.com/gobwas/ws"
	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/internal/wire"
)

// onCommand handles a command addressed to this gateway: a send to listed
// clients, or an operation on one client, answered when it has a reply
// subject.
func (g *Gateway) onCommand(m *nats.Msg, b *writeBatch) {
	cmd := wire.ReadCommand(m)
	op := cmd.Op
	if op == wire.OpSend {
		var frame encodedFrame
		frame.reset(wire.Frame{Data: m.Data, Binary: cmd.Binary})
		if !g.textValid(frame.frame, m.Subject) {
			return
		}
		for _, id := range wire.SplitIDs(cmd.Clients) {
			if c := g.lookup(id); c != nil {
				b.add(c, frame.of(c.t))
				g.metrics.msgsOut.Add(1)
			} else {
				g.log.Debug("send to a client that is gone dropped", "client_id", id)
			}
		}
		return
	}
	if op == wire.OpPing { // a query asking whether this gateway is still on the bus
		g.respondOK(m, op, nil)
		return
	}
	// Any other command may close or change a client: what was gathered
	// so far goes out first.
	b.flush()
	id := cmd.Client
	c := g.lookup(id)
	if c == nil {
		g.log.Debug("command for a client that is gone", "client_id", id, "op", op)
		g.respondError(m, wire.CodeNotFound, "client "+id+" not found")
		return
	}
	if err := g.apply(c, cmd, m); err != nil {
		code := wire.CodeInvalid
		switch {
		case errors.Is(err, errClosed):
			code = wire.CodeNotFound
		case errors.Is(err, bus.ErrInvalidName):
			code = wire.CodeBadName
		case errors.Is(err, errTooManyGroups), errors.Is(err, errSessionTooLarge):
			code = wire.CodeLimit
		}
		g.respondError(m, code, err.Error())
	}
}

// apply runs one client operation and answers it.
func (g *Gateway) apply(c *conn, cmd wire.Command, m *nats.Msg) error {
	op := cmd.Op
	var body []byte
	switch op {
	case wire.OpClose:
		out, _, err := c.t.appendFrames(nil, cmd.Frames, m.Data)
		if err != nil {
			return err
		}
		if out != nil {
			c.send(out)
		}
		c.closeGracefully(c.t.closeFrame(ws.StatusNormalClosure, ""), "closed by api")
	case wire.OpDestroy:
		c.terminate("destroyed by api")
	case wire.OpJoin, wire.OpLeave, wire.OpBind, wire.OpUnbind:
		if err := g.membership(c, cmd); err != nil {
			return err
		}
	case wire.OpSessionSet:
		// The size first, as in a reply (changeSession).
		if err := c.checkSessionSize(len(m.Data)); err != nil {
			return err
		}
		if _, err := wire.DecodeSession(m.Data); err != nil {
			return err
		}
		if err := c.setSession(m.Data); err != nil {
			return err
		}
	case wire.OpSessionUpdate:
		if err := c.updateSession(m.Data); err != nil {
			return err
		}
	case wire.OpSessionGet:
		body = c.getSession()
	case wire.OpOnline:
	case wire.OpUidOf:
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
func (g *Gateway) membership(c *conn, cmd wire.Command) error {
	op, tok := cmd.Op, cmd.GroupToken
	if op == wire.OpBind || op == wire.OpUnbind {
		tok = cmd.UidToken
	}
	name, err := wire.TokenName(tok)
	if err != nil {
		return err
	}
	if err := wire.ValidName(name); err != nil {
		return err
	}
	token := wire.NameToken(name) // the canonical token, whatever the sender wrote
	created := false
	switch op {
	case wire.OpJoin:
		created, err = g.hub.join(c, token, name)
	case wire.OpLeave:
		g.hub.leave(c, token)
	case wire.OpBind:
		created, err = g.hub.bind(c, token, name)
	case wire.OpUnbind:
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
	gw, seq, err := wire.ParseClientID(id)
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
	err := m.RespondMsg(&nats.Msg{Header: wire.OKHeader(), Data: body})
	if err == nil {
		return
	}
	g.metrics.queryAnswersFailed.Add(1)
	g.log.Error("command answer not sent", "op", op, "client_id", wire.ReadCommand(m).Client, "bytes", len(body), "err", err)
	g.respondError(m, wire.CodeInternal, "gateway "+g.id+": answer not sent: "+err.Error())
}

func (g *Gateway) respondError(m *nats.Msg, code, reason string) {
	if m.Reply == "" {
		return
	}
	err := m.RespondMsg(&nats.Msg{Header: wire.ErrorHeader(code, reason)})
	if err != nil {
		g.metrics.queryAnswersFailed.Add(1)
		cmd := wire.ReadCommand(m)
		g.log.Error("command error answer not sent", "op", cmd.Op, "client_id", cmd.Client, "reason", reason, "err", err)
	}
}

type errUnknownOp string

func (e errUnknownOp) Error() string { return "unknown operation " + string(e) }
