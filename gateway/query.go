package gateway

import (
	"encoding/json"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
)

// onQuery answers a cluster-wide query with this gateway's part, naming
// the gateways it knows to be alive so the asker knows whom to wait for.
func (g *Gateway) onQuery(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	clients := g.selectClients(m.Header.Get(bus.HdrGroup), m.Header.Get(bus.HdrUid))
	var body any
	switch kind := m.Header.Get(bus.HdrQuery); kind {
	case bus.QueryList:
		fields := m.Header.Get(bus.HdrFields)
		withUid := strings.Contains(fields, bus.FieldUid)
		withGroups := strings.Contains(fields, bus.FieldGroups)
		withSession := strings.Contains(fields, bus.FieldSession)
		r := bus.ListReply{Clients: make([]bus.ClientInfo, 0, len(clients))}
		for _, c := range clients {
			r.Clients = append(r.Clients, c.info(withUid, withGroups, withSession))
		}
		body = r
	case bus.QueryCount:
		r := bus.CountReply{Clients: len(clients), Uids: []string{}}
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
	case bus.QueryStatus:
		body = g.status()
	case bus.QueryUngroup:
		g.hub.ungroup(bus.NameToken(nameOrInvalid(m.Header.Get(bus.HdrGroup))))
		body = struct{}{}
	default:
		g.log.Warn("unknown query", "query", kind)
		g.respondQueryError(m, bus.CodeInvalid, "unknown query "+kind)
		return
	}
	data, err := json.Marshal(body)
	if err != nil {
		g.respondQueryError(m, bus.CodeInternal, err.Error())
		return
	}
	_ = m.RespondMsg(&nats.Msg{Header: nats.Header{
		bus.HdrStatus:   []string{bus.StatusOK},
		bus.HdrGateway:  []string{g.id},
		bus.HdrGateways: []string{bus.JoinIDs(g.peers.alive())},
	}, Data: data})
}

// respondQueryError answers a query with an error, naming this gateway so
// the asker does not wait for it.
func (g *Gateway) respondQueryError(m *nats.Msg, code, reason string) {
	_ = m.RespondMsg(&nats.Msg{Header: nats.Header{
		bus.HdrStatus:  []string{bus.StatusError},
		bus.HdrError:   []string{code},
		bus.HdrReason:  []string{reason},
		bus.HdrGateway: []string{g.id},
	}})
}

// selectClients returns the live clients of a group, of a uid, or all.
func (g *Gateway) selectClients(groupToken, uidToken string) []*conn {
	var out []*conn
	switch {
	case groupToken != "":
		out = g.hub.appendMembers(out, bus.KindGroup, groupToken)
	case uidToken != "":
		out = g.hub.appendMembers(out, bus.KindUid, uidToken)
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
	name, err := bus.TokenName(token)
	if err != nil {
		return "\x00invalid"
	}
	return name
}
