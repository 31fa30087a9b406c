package gateway

import (
	"strings"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/internal/wire"
)

// runInbound handles, in arrival order, commands, event replies and group,
// uid and broadcast messages. All their subscriptions feed one channel, so
// an idle group costs no goroutine and a worker's sends keep their order.
func (g *Gateway) runInbound() {
	defer g.wg.Done()
	var members []*conn
	frames := make([]encodedFrame, maxWriteBatch)
	b := newWriteBatch()
	kinds := g.subj.GatewayInbound(g.id)
	handle := func(m *nats.Msg, frame *encodedFrame) {
		switch kind := kinds.Kind(m.Subject); {
		case m.Subject == "": // a barrier from drainEvents (NATS subjects are never empty)
			b.flush()
			select {
			case g.barrier <- struct{}{}:
			default:
			}
		case kind == wire.InboundCommand:
			g.onCommand(m, b)
		case kind == wire.InboundReply:
			g.onReply(m, b)
		case kind == wire.InboundReplyBatch:
			g.onReplyBatch(m, b)
		case kind == wire.InboundBatchBounce:
			g.onBatchBounce(m)
		default:
			members = g.deliver(m, members[:0], frame, b)
		}
		g.inboundDone.Add(1)
	}
	for {
		select {
		case m := <-g.inbound:
			// Take what else has arrived, up to maxWriteBatch messages, and
			// write each client's share with one system call.
			handle(m, &frames[0])
			size := len(m.Data)
			for i := 1; i < maxWriteBatch && size < maxWriteBatchBytes; i++ {
				select {
				case m := <-g.inbound:
					handle(m, &frames[i])
					size += len(m.Data)
					continue
				default:
				}
				break
			}
			b.flush()
			for i := range frames {
				frames[i].reset(wire.Frame{})
			}
		case <-g.stop:
			return
		}
	}
}

// maxWriteBatch and maxWriteBatchBytes bound the messages of one dispatch
// round, whose frames are gathered in the writeBatch before writing: enough to turn a flood of small messages into few system
// calls, small enough not to hand a client a burst bigger than its socket
// takes at once.
const (
	maxWriteBatch      = 256
	maxWriteBatchBytes = 16 << 10
)

// deliver encodes the frame once and hands it to every local member.
func (g *Gateway) deliver(m *nats.Msg, members []*conn, frame *encodedFrame, b *writeBatch) []*conn {
	kind, token, ok := g.subj.Classify(m.Subject)
	if !ok {
		g.log.Warn("message on unexpected subject dropped", "subject", m.Subject)
		return members
	}
	cmd := wire.ReadCommand(m)
	switch op := cmd.Op; op {
	case "", wire.OpSend:
	case wire.OpUngroup:
		if kind == wire.KindGroup {
			g.hub.ungroup(token)
		}
		return members
	case wire.OpPing:
		answer := "0"
		if g.hub.hasMembers(kind, token) {
			answer = "1"
		}
		if m.Reply != "" {
			if err := m.Respond([]byte(answer)); err != nil {
				g.metrics.queryAnswersFailed.Add(1)
				g.log.Error("uid ping answer not sent", "subject", m.Subject, "err", err)
			}
		}
		return members
	default:
		g.log.Warn("unknown operation dropped", "subject", m.Subject, "op", op)
		return members
	}
	if f := (wire.Frame{Data: m.Data, Binary: cmd.Binary}); !g.textValid(f, m.Subject) {
		return members
	}
	switch groups := cmd.ExcludeGroups; {
	case kind == wire.KindAll:
		g.hub.each(func(c *conn) { members = append(members, c) })
	case groups != "" && kind == wire.KindGroup:
		// One of a SendToGroups' publishes: the members of the groups
		// listed before this one get it through theirs.
		members = g.hub.appendMembersNotIn(members, token, groups)
	default:
		members = g.hub.appendMembers(members, kind, token)
	}
	frame.reset(wire.Frame{Data: m.Data, Binary: cmd.Binary})
	exclude := cmd.Exclude
	sent := 0
	for _, c := range members {
		if exclude != "" && listed(exclude, c.id) {
			continue
		}
		b.add(c, frame.of(c.t))
		sent++
	}
	g.metrics.msgsOut.Add(uint64(sent))
	clear(members)
	return members
}

// textValid checks once per message that a text frame for clients is
// UTF-8 (a publisher in another language may not have): one that is not is
// dropped, counted (invalid_utf8_out) and logged.
func (g *Gateway) textValid(f wire.Frame, subject string) bool {
	if f.Binary || utf8.Valid(f.Data) {
		return true
	}
	g.metrics.limits.hit(limitInvalidUTF8Out)
	g.log.Warn("text frame that is not UTF-8 dropped (send it as binary)", "subject", subject, "bytes", len(f.Data))
	return false
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
