package gateway

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/switchboard-go/switchboard/internal/wire"
)

// onQuery answers a cluster-wide query with this gateway's part, naming
// the gateways it knows to be alive so the asker knows whom to wait for.
func (g *Gateway) onQuery(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	clients := g.selectClients(m.Header.Get(wire.HdrGroup), m.Header.Get(wire.HdrUid))
	var body any
	switch kind := m.Header.Get(wire.HdrQuery); kind {
	case wire.QueryList:
		fields := m.Header.Get(wire.HdrFields)
		withUid := strings.Contains(fields, wire.FieldUid)
		withGroups := strings.Contains(fields, wire.FieldGroups)
		withSession := strings.Contains(fields, wire.FieldSession)
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
		g.hub.ungroup(wire.NameToken(nameOrInvalid(m.Header.Get(wire.HdrGroup))))
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
	hdr := nats.Header{
		wire.HdrStatus:   []string{wire.StatusOK},
		wire.HdrGateway:  []string{g.id},
		wire.HdrGateways: []string{wire.JoinIDs(g.peers.alive())},
	}
	if err := g.respondInParts(m, hdr, data); err != nil {
		g.metrics.queryAnswersFailed.Add(1)
		g.log.Error("query answer not sent", "query", m.Header.Get(wire.HdrQuery), "bytes", len(data), "err", err)
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
		h := maps.Clone(hdr)
		h.Set(wire.HdrPart, wire.PartValue(i+1, len(parts)))
		if err := m.RespondMsg(&nats.Msg{Header: h, Data: p}); err != nil {
			return fmt.Errorf("part %d of %d: %w", i+1, len(parts), err)
		}
	}
	return nil
}

// respondQueryError answers a query with an error, naming this gateway so
// the asker does not wait for it.
func (g *Gateway) respondQueryError(m *nats.Msg, code, reason string) {
	err := m.RespondMsg(&nats.Msg{Header: nats.Header{
		wire.HdrStatus:  []string{wire.StatusError},
		wire.HdrError:   []string{code},
		wire.HdrReason:  []string{reason},
		wire.HdrGateway: []string{g.id},
	}})
	if err != nil {
		g.metrics.queryAnswersFailed.Add(1)
		g.log.Error("query error answer not sent", "query", m.Header.Get(wire.HdrQuery), "reason", reason, "err", err)
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
