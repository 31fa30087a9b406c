package gateway

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/internal/wire"
)

const hubShards = 64

// hub knows the gateway's clients, groups and uids. Clients live in sharded
// maps so connects and lookups do not fight over one lock; group and uid
// membership, which also (un)subscribes interest subjects, has its own lock.
type hub struct {
	shards [hubShards]hubShard
	live   atomic.Int64

	subscribe func(kind, name string) (*nats.Subscription, error)

	mu     sync.Mutex
	groups map[string]*members // by name token
	uids   map[string]*members // by name token
}

type hubShard struct {
	mu sync.RWMutex
	m  map[uint64]*conn
}

// members is the local side of one group or uid, with the subscription
// that brings its messages while it has a member.
type members struct {
	name  string
	conns map[*conn]struct{}
	sub   *nats.Subscription
}

func newHub(subscribe func(kind, name string) (*nats.Subscription, error)) *hub {
	h := &hub{subscribe: subscribe, groups: map[string]*members{}, uids: map[string]*members{}}
	for i := range h.shards {
		h.shards[i].m = map[uint64]*conn{}
	}
	return h
}

func (h *hub) shard(seq uint64) *hubShard { return &h.shards[seq%hubShards] }

func (h *hub) add(c *conn) {
	s := h.shard(c.seq)
	s.mu.Lock()
	s.m[c.seq] = c
	s.mu.Unlock()
	h.live.Add(1)
}

// get returns the client with this sequence number, also while its close
// event is still on its way.
func (h *hub) get(seq uint64) *conn {
	s := h.shard(seq)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.m[seq]
}

// remove forgets a client whose close event is done.
func (h *hub) remove(c *conn) {
	s := h.shard(c.seq)
	s.mu.Lock()
	delete(s.m, c.seq)
	s.mu.Unlock()
}

// each calls fn for every client, live or closing, outside the shard locks.
func (h *hub) each(fn func(*conn)) {
	var batch []*conn
	for i := range h.shards {
		s := &h.shards[i]
		batch = batch[:0]
		s.mu.RLock()
		for _, c := range s.m {
			batch = append(batch, c)
		}
		s.mu.RUnlock()
		for _, c := range batch {
			fn(c)
		}
	}
}

// join adds c to a group. created reports whether the gateway subscribed
// to the group just now.
func (h *hub) join(c *conn, token, name string) (created bool, err error) {
	if c.isClosed() {
		return false, errClosed
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	c.mu.Lock()
	_, member := c.groups[token]
	n := len(c.groups)
	c.mu.Unlock()
	if max := c.g.opts.MaxGroupsPerClient; !member && n >= max {
		c.g.metrics.limits.hit(limitMaxGroups)
		return false, fmt.Errorf("%w: the client is in %d groups", errTooManyGroups, n)
	}
	m, created, err := h.membersOf(h.groups, wire.KindGroup, token, name)
	if err != nil {
		return false, err
	}
	m.conns[c] = struct{}{}
	c.mu.Lock()
	if c.groups == nil {
		c.groups = map[string]struct{}{}
	}
	c.groups[token] = struct{}{}
	c.mu.Unlock()
	return created, nil
}

func (h *hub) membersOf(table map[string]*members, kind, token, name string) (*members, bool, error) {
	if m := table[token]; m != nil {
		return m, false, nil
	}
	sub, err := h.subscribe(kind, name)
	if err != nil {
		return nil, false, err
	}
	m := &members{name: name, conns: map[*conn]struct{}{}, sub: sub}
	table[token] = m
	return m, true, nil
}

// leave removes c from a group.
func (h *hub) leave(c *conn, token string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.leaveLocked(c, token)
}

func (h *hub) leaveLocked(c *conn, token string) {
	c.mu.Lock()
	delete(c.groups, token)
	c.mu.Unlock()
	dropMember(h.groups, token, c)
}

func dropMember(table map[string]*members, token string, c *conn) {
	m := table[token]
	if m == nil {
		return
	}
	delete(m.conns, c)
	if len(m.conns) == 0 {
		_ = m.sub.Unsubscribe()
		delete(table, token)
	}
}

// ungroup removes every local member from a group.
func (h *hub) ungroup(token string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.groups[token]
	if m == nil {
		return
	}
	for c := range m.conns {
		h.leaveLocked(c, token)
	}
}

// bind binds c to a uid, replacing its previous uid.
func (h *hub) bind(c *conn, token, name string) (created bool, err error) {
	if c.isClosed() {
		return false, errClosed
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	c.mu.Lock()
	old := c.uid
	c.mu.Unlock()
	if old == name {
		return false, nil
	}
	m, created, err := h.membersOf(h.uids, wire.KindUid, token, name)
	if err != nil {
		return false, err
	}
	if old != "" {
		dropMember(h.uids, tokenOf(old), c)
	}
	m.conns[c] = struct{}{}
	c.mu.Lock()
	c.uid = name
	c.mu.Unlock()
	return created, nil
}

// unbind removes c's binding to the uid, if it is bound to it.
func (h *hub) unbind(c *conn, name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.unbindLocked(c, name)
}

func (h *hub) unbindLocked(c *conn, name string) {
	c.mu.Lock()
	bound := c.uid == name && name != ""
	if bound {
		c.uid = ""
	}
	c.mu.Unlock()
	if bound {
		dropMember(h.uids, tokenOf(name), c)
	}
}

// detach takes a closing client out of every group and its uid.
func (h *hub) detach(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c.mu.Lock()
	tokens := make([]string, 0, len(c.groups))
	for t := range c.groups {
		tokens = append(tokens, t)
	}
	uid := c.uid
	c.mu.Unlock()
	for _, t := range tokens {
		h.leaveLocked(c, t)
	}
	h.unbindLocked(c, uid)
	h.live.Add(-1)
}

// appendMembers appends the members of a group or uid to dst.
func (h *hub) appendMembers(dst []*conn, kind, token string) []*conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	table := h.groups
	if kind == wire.KindUid {
		table = h.uids
	}
	if m := table[token]; m != nil {
		for c := range m.conns {
			dst = append(dst, c)
		}
	}
	return dst
}

// appendMembersNotIn appends the members of a group that are members of
// none of the groups in exclude (a comma-separated list of group tokens).
func (h *hub) appendMembersNotIn(dst []*conn, token, exclude string) []*conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.groups[token]
	if m == nil {
		return dst
	}
	var others []*members
	for exclude != "" {
		var t string
		t, exclude, _ = strings.Cut(exclude, ",")
		if o := h.groups[t]; o != nil && t != token {
			others = append(others, o)
		}
	}
next:
	for c := range m.conns {
		for _, o := range others {
			if _, in := o.conns[c]; in {
				continue next
			}
		}
		dst = append(dst, c)
	}
	return dst
}

// hasMembers reports whether the uid or group has a local member.
func (h *hub) hasMembers(kind, token string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	table := h.groups
	if kind == wire.KindUid {
		table = h.uids
	}
	return table[token] != nil
}

var errClosed = errors.New("client is closing")

// errTooManyGroups: a JoinGroup refused by max_groups_per_client.
var errTooManyGroups = errors.New("client in gateway.max_groups_per_client groups")

func tokenOf(name string) string { return wire.NameToken(name) }
