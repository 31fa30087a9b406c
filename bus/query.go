package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/internal/wire"
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
	FieldUid     = wire.FieldUid
	FieldGroups  = wire.FieldGroups
	FieldSession = wire.FieldSession
)

// A ClientInfo is the wire.ClientRecord of a list answer: the conversion
// below stops the build if their fields ever differ. A conversion ignores
// JSON tags, so Clients decodes answers straight into ClientInfo (listReply):
// tags that drifted from the gateway's would lose fields in every list test.
var _ = ClientInfo(wire.ClientRecord{})

// listReply is wire.ListReply read with ClientInfo's tags.
type listReply struct {
	Clients []ClientInfo `json:"clients"`
}

// gather publishes a query to every gateway and collects one answer from
// each live gateway. Each answer names the gateways its sender knows to be
// alive, so the first answer tells how many to wait for; gather returns as
// soon as all of them answered, or with ErrQueryTimeout at the deadline.
func (c *Client) gather(ctx context.Context, kind string, f Filter, fields ...string) ([]*nats.Msg, error) {
	if f.Group == "" && f.groupSet || f.Uid == "" && f.uidSet {
		return nil, fmt.Errorf("query %s: empty group or uid: %w", kind, ErrInvalidName)
	}
	req := wire.QueryRequest{Kind: kind, Fields: fields}
	if f.Group != "" {
		if err := wire.ValidName(f.Group); err != nil {
			return nil, err
		}
		req.GroupToken = wire.NameToken(f.Group)
	}
	if f.Uid != "" {
		if err := wire.ValidName(f.Uid); err != nil {
			return nil, err
		}
		req.UidToken = wire.NameToken(f.Uid)
	}
	hdr := req.Header()
	ctx, cancel := c.withDeadline(ctx)
	defer cancel()
	// One subscription for the answers (<inbox>.q) and for the probes of
	// gateways that may be dead (<inbox>.p.<gateway id>).
	inbox := c.nc.NewInbox()
	// An asynchronous subscription: a synchronous one turns a
	// no-responders status into an error without saying which request it
	// answers, and probes need to know.
	q := &inboxQueue{signal: make(chan struct{}, 1)}
	sub, err := c.nc.Subscribe(wire.QueryInboxAll(inbox), q.push)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", kind, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := c.nc.PublishMsg(&nats.Msg{Subject: c.subj.Query(), Reply: wire.QueryAnswers(inbox), Header: hdr}); err != nil {
		return nil, fmt.Errorf("query %s: %w", kind, err)
	}
	st := gathering{
		expected: map[string]bool{},
		answers:  map[string]*nats.Msg{},
		partial:  map[string]*wire.Assembly{},
		probed:   map[string]bool{},
		dead:     map[string]bool{},
	}
	for {
		m, probeDue, err := q.next(ctx, st.probeAt)
		if probeDue {
			if err := c.probe(inbox, &st); err != nil {
				return nil, fmt.Errorf("query %s: %w", kind, err)
			}
			continue
		}
		if err == nil {
			if dropped, _ := sub.Dropped(); dropped > 0 {
				err = fmt.Errorf("%d answer messages dropped: %w", dropped, nats.ErrSlowConsumer)
			}
		}
		if err != nil {
			if dropped, _ := sub.Dropped(); dropped > 0 {
				err = fmt.Errorf("%d answer messages dropped: %w", dropped, nats.ErrSlowConsumer)
			}
			return msgs(st.answers), c.gatherError(ctx, kind, err, st.expected, st.answers, st.partial)
		}
		if gw, ok := wire.ParseQueryProbe(inbox, m.Subject); ok {
			// A probe's answer: no responders means that gateway has no
			// subscription left on the bus (its connection is gone).
			if wire.NoResponders(m) {
				st.dead[gw] = true
				delete(st.expected, gw)
				delete(st.partial, gw)
				if len(missingGateways(st.expected, st.answers)) == 0 {
					return msgs(st.answers), nil
				}
			}
			continue
		}
		if wire.NoResponders(m) { // no gateway is running
			return nil, nil
		}
		answer := wire.ReadQueryAnswer(m)
		gw := answer.Gateway
		if err := wire.ReplyError(m); err != nil {
			return nil, fmt.Errorf("query %s: gateway %s: %w", kind, gw, err)
		}
		st.expect(gw)
		for _, id := range answer.Gateways {
			st.expect(id)
		}
		i, n, err := answer.Parts()
		if err != nil {
			return nil, fmt.Errorf("query %s: gateway %s: %w", kind, gw, err)
		}
		if n > 1 {
			a := st.partial[gw]
			if a == nil {
				a = &wire.Assembly{}
				st.partial[gw] = a
			}
			whole, err := a.Add(m, i, n)
			if err != nil {
				return nil, fmt.Errorf("query %s: gateway %s: %w", kind, gw, err)
			}
			if whole == nil {
				continue
			}
			delete(st.partial, gw)
			m = whole
		}
		st.answers[gw] = m
		st.dead[gw] = false // it answered: alive, whatever a probe said
		if len(missingGateways(st.expected, st.answers)) == 0 {
			return msgs(st.answers), nil
		}
	}
}

// inboxQueue holds a query's incoming messages for gather, in order.
type inboxQueue struct {
	mu     sync.Mutex
	msgs   []*nats.Msg
	signal chan struct{} // one token: messages are waiting
}

func (q *inboxQueue) push(m *nats.Msg) {
	q.mu.Lock()
	q.msgs = append(q.msgs, m)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// next returns the next message; or probeDue when probeAt (if not zero)
// came first; or ctx's error.
func (q *inboxQueue) next(ctx context.Context, probeAt time.Time) (m *nats.Msg, probeDue bool, err error) {
	var timer <-chan time.Time
	if !probeAt.IsZero() {
		t := time.NewTimer(time.Until(probeAt))
		defer t.Stop()
		timer = t.C
	}
	for {
		q.mu.Lock()
		if len(q.msgs) > 0 {
			m = q.msgs[0]
			q.msgs[0] = nil
			q.msgs = q.msgs[1:]
			q.mu.Unlock()
			return m, false, nil
		}
		q.mu.Unlock()
		select {
		case <-q.signal:
		case <-timer:
			return nil, true, nil
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// probeDelay is how long a query waits for a gateway named alive by its
// peers before it asks NATS whether that gateway still has a connection
// (docs/protocol.md §8, "Gateways that crashed").
const probeDelay = 100 * time.Millisecond

// gathering is the state of one query's scatter-gather.
type gathering struct {
	expected map[string]bool           // gateways to wait for
	answers  map[string]*nats.Msg      // whole answers, by gateway
	partial  map[string]*wire.Assembly // answers in parts (Sb-Part), by gateway
	probed   map[string]bool           // gateways probed already
	dead     map[string]bool           // true: no responders to the probe
	probeAt  time.Time                 // when to probe the gateways not yet answered; zero: none to probe
}

// expect adds a gateway to wait for, unless a probe found it gone, and
// schedules a probe of it.
func (st *gathering) expect(id string) {
	if st.dead[id] || st.expected[id] {
		return
	}
	st.expected[id] = true
	if st.probeAt.IsZero() && !st.probed[id] {
		st.probeAt = time.Now().Add(probeDelay)
	}
}

// probe asks, for every gateway still awaited and not probed yet, whether
// its command subject has a subscriber: a "ping" request whose answer (or
// NATS's no-responders status) comes back on <inbox>.p.<id>.
func (c *Client) probe(inbox string, st *gathering) error {
	st.probeAt = time.Time{}
	for _, id := range missingGateways(st.expected, st.answers) {
		if st.probed[id] || !wire.ValidGatewayID(id) {
			continue
		}
		st.probed[id] = true
		m := &nats.Msg{Subject: c.subj.Gateway(id), Reply: wire.QueryProbe(inbox, id), Header: wire.Command{Op: wire.OpPing}.Header()}
		if err := c.nc.PublishMsg(m); err != nil {
			return fmt.Errorf("probe gateway %s: %w", id, err)
		}
	}
	return nil
}

// gatherError names why a query ended before every gateway answered: the
// deadline (which gateways are missing, and how far their answers in
// parts got) or the subscription's own error (a slow consumer, a closed
// connection).
func (c *Client) gatherError(ctx context.Context, kind string, err error, expected map[string]bool, answers map[string]*nats.Msg, partial map[string]*wire.Assembly) error {
	missing := missingGateways(expected, answers)
	for i, gw := range missing {
		if a := partial[gw]; a != nil {
			missing[i] = gw + " (" + a.Progress() + ")"
		}
	}
	switch {
	case c.nc.IsClosed():
		err = nats.ErrConnectionClosed
	case !errors.Is(err, context.DeadlineExceeded):
	case !c.nc.IsConnected():
		return fmt.Errorf("query %s: %d answers, missing %v: nats disconnected: %w", kind, len(answers), missing, ErrQueryTimeout)
	default:
		return fmt.Errorf("query %s: %d answers, missing %v: %w", kind, len(answers), missing, ErrQueryTimeout)
	}
	return fmt.Errorf("query %s: %d answers, missing %v: receive: %w", kind, len(answers), missing, err)
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
	answers, err := c.gather(ctx, wire.QueryList, f, fields...)
	if err != nil {
		return nil, err
	}
	var out []ClientInfo
	for _, m := range answers {
		var r listReply
		if err := json.Unmarshal(m.Data, &r); err != nil {
			return nil, fmt.Errorf("query list: gateway %s: %w", wire.ReadQueryAnswer(m).Gateway, err)
		}
		out = append(out, r.Clients...)
	}
	slices.SortFunc(out, func(a, b ClientInfo) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (c *Client) count(ctx context.Context, f Filter) (int, []string, error) {
	answers, err := c.gather(ctx, wire.QueryCount, f)
	if err != nil {
		return 0, nil, err
	}
	n := 0
	uids := map[string]bool{}
	for _, m := range answers {
		var r wire.CountReply
		if err := json.Unmarshal(m.Data, &r); err != nil {
			return 0, nil, fmt.Errorf("query count: gateway %s: %w", wire.ReadQueryAnswer(m).Gateway, err)
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
		s, err := wire.DecodeSession(ci.Session)
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

// GroupClientCounts returns the number of members of every group
// (getAllGroupClientIdCount).
func (c *Client) GroupClientCounts(ctx context.Context) (map[string]int, error) {
	m, err := c.GroupClientIDs(ctx)
	if err != nil {
		return nil, err
	}
	return counts(m), nil
}

// GroupUidCounts returns the number of distinct uids of every group
// (getAllGroupUidCount). A group whose members have no uid is left out,
// as in GroupUidList.
func (c *Client) GroupUidCounts(ctx context.Context) (map[string]int, error) {
	m, err := c.GroupUidList(ctx)
	if err != nil {
		return nil, err
	}
	return counts(m), nil
}

func counts(m map[string][]string) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = len(v)
	}
	return out
}

// ClientIDsByGroups returns the clients that are members of any of groups,
// each once, sorted (getClientIdListByGroup with an array). It lists every
// client with its groups and filters here: one query whatever the number
// of groups.
func (c *Client) ClientIDsByGroups(ctx context.Context, groups []string) ([]string, error) {
	infos, err := c.membersOfAny(ctx, groups)
	return ids(infos), err
}

// UidsByGroups returns the distinct uids bound to members of any of groups,
// sorted (getUidListByGroup with an array).
func (c *Client) UidsByGroups(ctx context.Context, groups []string) ([]string, error) {
	infos, err := c.membersOfAny(ctx, groups)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, ci := range infos {
		if ci.Uid != "" {
			set[ci.Uid] = true
		}
	}
	return slices.Sorted(maps.Keys(set)), nil
}

func (c *Client) membersOfAny(ctx context.Context, groups []string) ([]ClientInfo, error) {
	groups, err := distinctNames("group", groups)
	if err != nil {
		return nil, err
	}
	if len(groups) == 1 {
		return c.Clients(ctx, byGroup(groups[0]), FieldUid)
	}
	want := make(map[string]bool, len(groups))
	for _, g := range groups {
		want[g] = true
	}
	infos, err := c.Clients(ctx, Filter{}, FieldUid, FieldGroups)
	if err != nil {
		return nil, err
	}
	out := []ClientInfo{}
	for _, ci := range infos {
		if slices.ContainsFunc(ci.Groups, func(g string) bool { return want[g] }) {
			out = append(out, ci)
		}
	}
	return out, nil
}

// Gateways returns the status of every live gateway, sorted by id.
func (c *Client) Gateways(ctx context.Context) ([]GatewayStatus, error) {
	answers, err := c.gather(ctx, wire.QueryStatus, Filter{})
	if err != nil {
		return nil, err
	}
	out := make([]GatewayStatus, 0, len(answers))
	for _, m := range answers {
		var st GatewayStatus
		if err := json.Unmarshal(m.Data, &st); err != nil {
			return nil, fmt.Errorf("query status: gateway %s: %w", wire.ReadQueryAnswer(m).Gateway, err)
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
	hello := wire.WorkerBeat{Op: wire.OpHello}.Msg(c.subj.WorkerHeartbeat(), nil)
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
		beat := wire.ReadWorkerBeat(m)
		id := beat.Worker
		if id == "" || beat.Op == wire.OpBye {
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
