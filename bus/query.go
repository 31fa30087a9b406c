package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// ClientInfo describes one connected client, as a gateway reports it.
type ClientInfo struct {
	ID          string          `json:"id"`
	Gateway     string          `json:"gateway"`
	Remote      string          `json:"remote,omitempty"`
	Uid         string          `json:"uid,omitempty"`
	Groups      []string        `json:"groups,omitempty"`
	Session     json.RawMessage `json:"session,omitempty"`
	ConnectedAt time.Time       `json:"connected_at"`
}

// Filter selects the clients a query looks at: all, one group's members or
// one uid's clients.
type Filter struct {
	Group string
	Uid   string

	groupSet, uidSet bool // set by the ...ByGroup/...ByUid calls: "" is then an error
}

func byGroup(g string) Filter { return Filter{Group: g, groupSet: true} }
func byUid(u string) Filter   { return Filter{Uid: u, uidSet: true} }

// Fields a list query asks gateways to fill in besides the id.
const (
	FieldUid     = "uid"
	FieldGroups  = "groups"
	FieldSession = "session"
)

// ListReply is the body of a gateway's answer to a QueryList.
type ListReply struct {
	Clients []ClientInfo `json:"clients"`
}

// CountReply is the body of a gateway's answer to a QueryCount.
type CountReply struct {
	Clients int      `json:"clients"`
	Uids    []string `json:"uids"`
}

// gather publishes a query to every gateway and collects one answer from
// each live gateway. Each answer names the gateways its sender knows to be
// alive, so the first answer tells how many to wait for; gather returns as
// soon as all of them answered, or with ErrQueryTimeout at the deadline.
func (c *Client) gather(ctx context.Context, kind string, f Filter, fields ...string) ([]*nats.Msg, error) {
	if f.Group == "" && f.groupSet || f.Uid == "" && f.uidSet {
		return nil, fmt.Errorf("query %s: empty group or uid: %w", kind, ErrInvalidName)
	}
	hdr := nats.Header{HdrQuery: []string{kind}}
	if f.Group != "" {
		if err := ValidName(f.Group); err != nil {
			return nil, err
		}
		hdr.Set(HdrGroup, NameToken(f.Group))
	}
	if f.Uid != "" {
		if err := ValidName(f.Uid); err != nil {
			return nil, err
		}
		hdr.Set(HdrUid, NameToken(f.Uid))
	}
	if len(fields) > 0 {
		hdr.Set(HdrFields, strings.Join(fields, ","))
	}
	ctx, cancel := c.withDeadline(ctx)
	defer cancel()
	inbox := c.nc.NewRespInbox()
	sub, err := c.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", kind, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := c.nc.PublishMsg(&nats.Msg{Subject: c.subj.Query(), Reply: inbox, Header: hdr}); err != nil {
		return nil, fmt.Errorf("query %s: %w", kind, err)
	}
	expected := map[string]bool{}
	answers := map[string]*nats.Msg{}
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if errors.Is(err, nats.ErrNoResponders) { // no gateway is running
			return nil, nil
		}
		if err != nil {
			missing := missingGateways(expected, answers)
			return msgs(answers), fmt.Errorf("query %s: %d answers, missing %v: %w", kind, len(answers), missing, ErrQueryTimeout)
		}
		if m.Header.Get("Status") == "503" { // no responders: no gateway is running
			return nil, nil
		}
		if err := ReplyError(m); err != nil {
			return nil, fmt.Errorf("query %s: gateway %s: %w", kind, m.Header.Get(HdrGateway), err)
		}
		gw := m.Header.Get(HdrGateway)
		answers[gw] = m
		expected[gw] = true
		for _, id := range SplitIDs(m.Header.Get(HdrGateways)) {
			expected[id] = true
		}
		if len(missingGateways(expected, answers)) == 0 {
			return msgs(answers), nil
		}
	}
}

func missingGateways(expected map[string]bool, answers map[string]*nats.Msg) []string {
	var out []string
	for id := range expected {
		if answers[id] == nil {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

func msgs(answers map[string]*nats.Msg) []*nats.Msg {
	return slices.Collect(maps.Values(answers))
}

// Clients lists the clients of the whole cluster that match f, with the
// given fields filled in (FieldUid, FieldGroups, FieldSession).
func (c *Client) Clients(ctx context.Context, f Filter, fields ...string) ([]ClientInfo, error) {
	answers, err := c.gather(ctx, QueryList, f, fields...)
	if err != nil {
		return nil, err
	}
	var out []ClientInfo
	for _, m := range answers {
		var r ListReply
		if err := json.Unmarshal(m.Data, &r); err != nil {
			return nil, fmt.Errorf("query list: gateway %s: %w", m.Header.Get(HdrGateway), err)
		}
		out = append(out, r.Clients...)
	}
	slices.SortFunc(out, func(a, b ClientInfo) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (c *Client) count(ctx context.Context, f Filter) (int, []string, error) {
	answers, err := c.gather(ctx, QueryCount, f)
	if err != nil {
		return 0, nil, err
	}
	n := 0
	uids := map[string]bool{}
	for _, m := range answers {
		var r CountReply
		if err := json.Unmarshal(m.Data, &r); err != nil {
			return 0, nil, fmt.Errorf("query count: gateway %s: %w", m.Header.Get(HdrGateway), err)
		}
		n += r.Clients
		for _, u := range r.Uids {
			uids[u] = true
		}
	}
	return n, slices.Sorted(maps.Keys(uids)), nil
}

func ids(infos []ClientInfo) []string {
	out := make([]string, len(infos))
	for i, ci := range infos {
		out[i] = ci.ID
	}
	return out
}

// ClientCount returns the number of connected clients in the cluster.
func (c *Client) ClientCount(ctx context.Context) (int, error) {
	n, _, err := c.count(ctx, Filter{})
	return n, err
}

// ClientIDs returns every connected client id (getAllClientIdList).
func (c *Client) ClientIDs(ctx context.Context) ([]string, error) {
	infos, err := c.Clients(ctx, Filter{})
	return ids(infos), err
}

// ClientIDsByUid returns the clients bound to uid (getClientIdByUid).
func (c *Client) ClientIDsByUid(ctx context.Context, uid string) ([]string, error) {
	infos, err := c.Clients(ctx, byUid(uid))
	return ids(infos), err
}

// ClientCountByGroup returns the number of members of group.
func (c *Client) ClientCountByGroup(ctx context.Context, group string) (int, error) {
	n, _, err := c.count(ctx, byGroup(group))
	return n, err
}

// ClientIDsByGroup returns the members of group.
func (c *Client) ClientIDsByGroup(ctx context.Context, group string) ([]string, error) {
	infos, err := c.Clients(ctx, byGroup(group))
	return ids(infos), err
}

// ClientSessionsByGroup returns the session of every member of group, by
// client id.
func (c *Client) ClientSessionsByGroup(ctx context.Context, group string) (map[string]Session, error) {
	return c.sessions(ctx, byGroup(group))
}

// AllClientSessions returns the session of every client, by client id.
func (c *Client) AllClientSessions(ctx context.Context) (map[string]Session, error) {
	return c.sessions(ctx, Filter{})
}

func (c *Client) sessions(ctx context.Context, f Filter) (map[string]Session, error) {
	infos, err := c.Clients(ctx, f, FieldSession)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Session, len(infos))
	for _, ci := range infos {
		s, err := DecodeSession(ci.Session)
		if err != nil {
			return nil, fmt.Errorf("client %s: %w", ci.ID, err)
		}
		out[ci.ID] = s
	}
	return out, nil
}

// UidsByGroup returns the distinct uids bound to members of group, sorted.
func (c *Client) UidsByGroup(ctx context.Context, group string) ([]string, error) {
	_, uids, err := c.count(ctx, byGroup(group))
	return uids, err
}

// UidCountByGroup returns the number of distinct uids in group.
func (c *Client) UidCountByGroup(ctx context.Context, group string) (int, error) {
	uids, err := c.UidsByGroup(ctx, group)
	return len(uids), err
}

// Uids returns every bound uid in the cluster, sorted.
func (c *Client) Uids(ctx context.Context) ([]string, error) {
	_, uids, err := c.count(ctx, Filter{})
	return uids, err
}

// UidCount returns the number of distinct bound uids.
func (c *Client) UidCount(ctx context.Context) (int, error) {
	uids, err := c.Uids(ctx)
	return len(uids), err
}

// GroupIDs returns every group with at least one member, sorted.
func (c *Client) GroupIDs(ctx context.Context) ([]string, error) {
	m, err := c.GroupClientIDs(ctx)
	return slices.Sorted(maps.Keys(m)), err
}

// GroupClientIDs returns the members of every group (getAllGroupClientIdList).
func (c *Client) GroupClientIDs(ctx context.Context) (map[string][]string, error) {
	infos, err := c.Clients(ctx, Filter{}, FieldGroups)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, ci := range infos {
		for _, g := range ci.Groups {
			out[g] = append(out[g], ci.ID)
		}
	}
	return out, nil
}

// GroupUidList returns the distinct uids of every group (getAllGroupUidList).
func (c *Client) GroupUidList(ctx context.Context) (map[string][]string, error) {
	infos, err := c.Clients(ctx, Filter{}, FieldGroups, FieldUid)
	if err != nil {
		return nil, err
	}
	sets := map[string]map[string]bool{}
	for _, ci := range infos {
		if ci.Uid == "" {
			continue
		}
		for _, g := range ci.Groups {
			if sets[g] == nil {
				sets[g] = map[string]bool{}
			}
			sets[g][ci.Uid] = true
		}
	}
	out := make(map[string][]string, len(sets))
	for g, set := range sets {
		out[g] = slices.Sorted(maps.Keys(set))
	}
	return out, nil
}

// Gateways returns the status of every live gateway, sorted by id.
func (c *Client) Gateways(ctx context.Context) ([]GatewayStatus, error) {
	answers, err := c.gather(ctx, QueryStatus, Filter{})
	if err != nil {
		return nil, err
	}
	out := make([]GatewayStatus, 0, len(answers))
	for _, m := range answers {
		var st GatewayStatus
		if err := json.Unmarshal(m.Data, &st); err != nil {
			return nil, fmt.Errorf("query status: gateway %s: %w", m.Header.Get(HdrGateway), err)
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b GatewayStatus) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Workers returns the status of the live workers. Workers have no fixed
// membership to wait for: Workers asks them all to announce themselves and
// returns once no new worker answered for quiet (or at the deadline).
func (c *Client) Workers(ctx context.Context, quiet time.Duration) ([]WorkerStatus, error) {
	ctx, cancel := c.withDeadline(ctx)
	defer cancel()
	sub, err := c.nc.SubscribeSync(c.subj.WorkerHeartbeat())
	if err != nil {
		return nil, fmt.Errorf("workers: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	hello := &nats.Msg{Subject: c.subj.WorkerHeartbeat(), Header: nats.Header{HdrOp: []string{OpHello}}}
	if err := c.nc.PublishMsg(hello); err != nil {
		return nil, fmt.Errorf("workers: %w", err)
	}
	seen := map[string]WorkerStatus{}
	for {
		wait, cancelWait := context.WithTimeout(ctx, quiet)
		m, err := sub.NextMsgWithContext(wait)
		cancelWait()
		if err != nil {
			break
		}
		id := m.Header.Get(HdrWorker)
		if id == "" || m.Header.Get(HdrOp) == OpBye {
			continue
		}
		var st WorkerStatus
		if json.Unmarshal(m.Data, &st) == nil {
			seen[id] = st
		}
	}
	out := slices.Collect(maps.Values(seen))
	slices.SortFunc(out, func(a, b WorkerStatus) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}
