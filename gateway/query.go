package gateway

import (
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/switchboard-go/switchboard/internal/wire"
)

// onQuery answers a cluster-wide query with this gateway's part, naming
// the gateways it knows to be alive so the asker knows whom to wait for.
func (g *Gateway) onQuery(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	q := wire.ReadQueryRequest(m)
	clients := g.selectClients(q.GroupToken, q.UidToken)
	var body any
	switch kind := q.Kind; kind {
	case wire.QueryList:
		withUid := q.Wants(wire.FieldUid)
		withGroups := q.Wants(wire.FieldGroups)
		withSession := q.Wants(wire.FieldSession)
		r := wire.ListReply{Clients: make([]wire.ClientRecord, 0, len(clients))}
		for _, c := range clients {
			r.Clients = append(r.Clients, c.info(withUid, withGroups, withSession))
		}
		body = r
	case wire.QueryCount:
		r := wire.CountReply{Clients: len(clients), Uids: []string{}}
		seen := map[string]bool{}
		for _, c := range clients {
			c.mu.Lock()
			uid := c.uid
			c.mu.Unlock()
			if uid != "" && !seen[uid] {
				seen[uid] = true
				r.Uids = append(r.Uids, uid)
			}
		}
		body = r
	case wire.QueryStatus:
		body = g.status()
	case wire.QueryUngroup:
		g.hub.ungroup(wire.NameToken(nameOrInvalid(q.GroupToken)))
		body = struct{}{}
	default:
		g.log.Warn("unknown query", "query", kind)
		g.respondQueryError(m, wire.CodeInvalid, "unknown query "+kind)
		return
	}
	data, err := json.Marshal(body)
	if err != nil {
		g.respondQueryError(m, wire.CodeInternal, err.Error())
		return
	}
	hdr := wire.QueryAnswer{Gateway: g.id, Gateways: g.peers.alive()}.Header()
	if err := g.respondInParts(m, hdr, data); err != nil {
		g.metrics.queryAnswersFailed.Add(1)
		g.log.Error("query answer not sent", "query", q.Kind, "bytes", len(data), "err", err)
		// Tell the asker at once rather than let it wait for its deadline.
		g.respondQueryError(m, wire.CodeInternal, "gateway "+g.id+": answer not sent: "+err.Error())
	}
}

// respondInParts answers m with data, in as many messages as it takes for
// each to fit the server's max_payload (docs/protocol.md §8, "Answers in
// parts"). Every part carries hdr; parts of a split answer add Sb-Part.
func (g *Gateway) respondInParts(m *nats.Msg, hdr nats.Header, data []byte) error {
	parts, err := wire.SplitAnswer(g.nc.MaxPayload(), hdr, data)
	if err != nil {
		return err
	}
	if len(parts) == 1 {
		return m.RespondMsg(&nats.Msg{Header: hdr, Data: parts[0]})
	}
	for i, p := range parts {
		h := wire.WithPart(hdr, i+1, len(parts))
		if err := m.RespondMsg(&nats.Msg{Header: h, Data: p}); err != nil {
			return fmt.Errorf("part %d of %d: %w", i+1, len(parts), err)
		}
	}
	return nil
}

// respondQueryError answers a query with an error, naming this gateway so
// the asker does not wait for it.
func (g *Gateway) respondQueryError(m *nats.Msg, code, reason string) {
	err := m.RespondMsg(&nats.Msg{Header: wire.QueryErrorHeader(g.id, code, reason)})
	if err != nil {
		g.metrics.queryAnswersFailed.Add(1)
		g.log.Error("query error answer not sent", "query", wire.ReadQueryRequest(m).Kind, "reason", reason, "err", err)
	}
}

// selectClients returns the live clients of a group, of a uid, or all.
func (g *Gateway) selectClients(groupToken, uidToken string) []*conn {
	var out []*conn
	switch {
	case groupToken != "":
		out = g.hub.appendMembers(out, wire.KindGroup, groupToken)
	case uidToken != "":
		out = g.hub.appendMembers(out, wire.KindUid, uidToken)
	default:
		g.hub.each(func(c *conn) {
			if !c.isClosed() {
				out = append(out, c)
			}
		})
	}
	return out
}

// nameOrInvalid decodes a name token; an invalid one gives a name no group has.
func nameOrInvalid(token string) string {
	name, err := wire.TokenName(token)
	if err != nil {
		return "\x00invalid"
	}
	return name
}
