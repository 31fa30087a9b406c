package gateway

import (
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
)

// runFanout handles, in arrival order, commands, event replies and group,
// uid and broadcast messages. All their subscriptions feed one channel, so
// an idle group costs no goroutine and a worker's sends keep their order.
func (g *Gateway) runFanout() {
	defer g.wg.Done()
	var members []*conn
	var frame encodedFrame
	command, replies := g.subj.Gateway(g.id), g.subj.GatewayReplies(g.id)
	replies = replies[:len(replies)-1] // "<p>.gw.<id>.r."
	for {
		select {
		case m := <-g.fanout:
			switch {
			case m.Subject == command:
				g.onCommand(m)
			case strings.HasPrefix(m.Subject, replies):
				g.onReply(m)
			default:
				members = g.deliver(m, members[:0], &frame)
			}
		case <-g.stop:
			return
		}
	}
}

// deliver encodes the frame once and hands it to every local member.
func (g *Gateway) deliver(m *nats.Msg, members []*conn, frame *encodedFrame) []*conn {
	kind, token, ok := g.subj.Classify(m.Subject)
	if !ok {
		g.log.Warn("message on unexpected subject dropped", "subject", m.Subject)
		return members
	}
	switch op := m.Header.Get(bus.HdrOp); op {
	case "", bus.OpSend:
	case bus.OpUngroup:
		if kind == bus.KindGroup {
			g.hub.ungroup(token)
		}
		return members
	case bus.OpPing:
		answer := "0"
		if g.hub.hasMembers(kind, token) {
			answer = "1"
		}
		if m.Reply != "" {
			_ = m.Respond([]byte(answer))
		}
		return members
	default:
		g.log.Warn("unknown operation dropped", "subject", m.Subject, "op", op)
		return members
	}
	if kind == bus.KindAll {
		g.hub.each(func(c *conn) { members = append(members, c) })
	} else {
		members = g.hub.appendMembers(members, kind, token)
	}
	frame.reset(bus.Frame{Data: m.Data, Binary: m.Header.Get(bus.HdrBinary) == "1"})
	exclude := m.Header.Get(bus.HdrExclude)
	for _, c := range members {
		if exclude != "" && listed(exclude, c.id) {
			continue
		}
		c.send(frame.of(c.t))
		g.metrics.msgsOut.Add(1)
	}
	clear(members)
	frame.reset(bus.Frame{})
	return members
}

// listed reports whether id is an element of the comma-separated list.
func listed(list, id string) bool {
	for list != "" {
		var item string
		item, list, _ = strings.Cut(list, ",")
		if item == id {
			return true
		}
	}
	return false
}
