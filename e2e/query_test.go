package e2e

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/internal/wire"
)

func sorted(s ...string) []string { return slices.Sorted(slices.Values(s)) }

func TestQueriesAcrossGateways(t *testing.T) {
	cl := newCluster(t)
	a := dial(t, cl.g1)
	b, c := dial(t, cl.g2), dial(t, cl.g2)
	do(t, a, "join red")
	do(t, b, "join red")
	do(t, c, "join blue")
	do(t, b, "join blue")
	do(t, a, "bind alice")
	do(t, b, "bind bob")
	do(t, c, "bind bob")
	do(t, a, "set role admin")

	api := cl.api
	check := func(what string, got, want any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s = %#v, want %#v", what, got, want)
		}
	}
	all := sorted(a.ID, b.ID, c.ID)

	online, err := api.IsOnline(ctx(t), b.ID)
	check("IsOnline(b)", online, true, err)
	on, err := api.IsUidOnline(ctx(t), "bob")
	check("IsUidOnline(bob)", on, true, err)
	on, err = api.IsUidOnline(ctx(t), "nobody")
	check("IsUidOnline(nobody)", on, false, err)
	ids, err := api.ClientIDsByUid(ctx(t), "bob")
	check("ClientIDsByUid(bob)", ids, sorted(b.ID, c.ID), err)
	uid, err := api.UidByClientID(ctx(t), a.ID)
	check("UidByClientID(a)", uid, "alice", err)
	n, err := api.ClientCount(ctx(t))
	check("ClientCount", n, 3, err)
	ids, err = api.ClientIDs(ctx(t))
	check("ClientIDs", ids, all, err)
	n, err = api.ClientCountByGroup(ctx(t), "red")
	check("ClientCountByGroup(red)", n, 2, err)
	ids, err = api.ClientIDsByGroup(ctx(t), "blue")
	check("ClientIDsByGroup(blue)", ids, sorted(b.ID, c.ID), err)
	sessions, err := api.ClientSessionsByGroup(ctx(t), "red")
	check("ClientSessionsByGroup(red)", sessions, map[string]bus.Session{
		a.ID: {"greeted": "yes", "role": "admin"},
		b.ID: {"greeted": "yes"},
	}, err)
	sessions, err = api.AllClientSessions(ctx(t))
	if err != nil || len(sessions) != 3 || sessions[c.ID]["greeted"] != "yes" {
		t.Fatalf("AllClientSessions = %v, %v", sessions, err)
	}
	uids, err := api.UidsByGroup(ctx(t), "red")
	check("UidsByGroup(red)", uids, []string{"alice", "bob"}, err)
	n, err = api.UidCountByGroup(ctx(t), "blue")
	check("UidCountByGroup(blue)", n, 1, err)
	uids, err = api.Uids(ctx(t))
	check("Uids", uids, []string{"alice", "bob"}, err)
	n, err = api.UidCount(ctx(t))
	check("UidCount", n, 2, err)
	groups, err := api.GroupIDs(ctx(t))
	check("GroupIDs", groups, []string{"blue", "red"}, err)
	gc, err := api.GroupClientIDs(ctx(t))
	for g := range gc {
		slices.Sort(gc[g])
	}
	check("GroupClientIDs", gc, map[string][]string{"red": sorted(a.ID, b.ID), "blue": sorted(b.ID, c.ID)}, err)
	gu, err := api.GroupUidList(ctx(t))
	check("GroupUidList", gu, map[string][]string{"red": {"alice", "bob"}, "blue": {"bob"}}, err)
	gws, err := api.Gateways(ctx(t))
	if err != nil || len(gws) != 2 {
		t.Fatalf("Gateways = %v, %v; want 2", gws, err)
	}

	// Empty and unknown groups and uids.
	n, err = api.ClientCountByGroup(ctx(t), "nobody here")
	check("ClientCountByGroup(empty)", n, 0, err)
	ids, err = api.ClientIDsByGroup(ctx(t), "nobody here")
	check("ClientIDsByGroup(empty)", ids, []string{}, err)
	ids, err = api.ClientIDsByUid(ctx(t), "ghost")
	check("ClientIDsByUid(ghost)", ids, []string{}, err)

	// A closed client leaves its groups and uid everywhere.
	closeClient(t, cl, b)
	online, err = api.IsOnline(ctx(t), b.ID)
	check("IsOnline(b) after close", online, false, err)
	ids, err = api.ClientIDsByGroup(ctx(t), "red")
	check("ClientIDsByGroup(red) after close", ids, []string{a.ID}, err)
	ids, err = api.ClientIDsByUid(ctx(t), "bob")
	check("ClientIDsByUid(bob) after close", ids, []string{c.ID}, err)
	n, err = api.ClientCount(ctx(t))
	check("ClientCount after close", n, 2, err)
	if _, err := api.UidByClientID(ctx(t), b.ID); err == nil {
		t.Fatal("UidByClientID of a closed client: want ErrClientNotFound")
	}
	closeClient(t, cl, c)
	on, err = api.IsUidOnline(ctx(t), "bob")
	check("IsUidOnline(bob) after both closed", on, false, err)
	groups, err = api.GroupIDs(ctx(t))
	check("GroupIDs after close", groups, []string{"red"}, err)
}

func TestQueryWithoutGateways(t *testing.T) {
	cl := newCluster(t)
	api := cl.api
	n, err := api.ClientCount(ctx(t))
	if err != nil || n != 0 {
		t.Fatalf("ClientCount with idle gateways = %d, %v", n, err)
	}
	online, err := api.IsOnline(ctx(t), wire.ClientID("aaaaaaaaaa", 1))
	if err != nil || online {
		t.Fatalf("IsOnline(unknown gateway) = %v, %v; want false, nil", online, err)
	}
	if _, err := api.IsOnline(ctx(t), "not-an-id"); err == nil {
		t.Fatal("IsOnline(malformed id): want an error")
	}
	start := time.Now()
	if err := api.JoinGroup(ctx(t), wire.ClientID("aaaaaaaaaa", 1), "g"); err == nil {
		t.Fatal("JoinGroup of an unknown client: want ErrClientNotFound")
	}
	if time.Since(start) > time.Second {
		t.Fatal("JoinGroup of a client on a gateway that does not exist waited for a timeout instead of no-responders")
	}
}

// TestQueryAfterGatewayCrash kills one of two gateways without a goodbye
// (its NATS connection is cut; its peer keeps naming it alive for three
// heartbeat intervals) and queries at once: the query must return the live
// gateway's answer promptly (the dead gateway's probe gets no responders),
// not wait for its deadline.
func TestQueryAfterGatewayCrash(t *testing.T) {
	ns := sbtest.NATS(t)
	url := ns.ClientURL()
	w := &ctl{}
	sbtest.Worker(t, url, w)
	live := sbtest.Gateway(t, url)
	doomedNC := sbtest.Conn(t, url)
	doomed, err := gateway.New(doomedNC, gateway.Listen("ws://127.0.0.1:0"), gateway.Logger(sbtest.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	if err := doomed.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = doomed.Shutdown(c)
	})
	api := sbtest.Client(t, url)
	a := dial(t, live)
	dial(t, doomed)
	sbtest.Eventually(t, 5*time.Second, "both gateways in a status query", func() bool {
		gws, err := api.Gateways(ctx(t))
		return err == nil && len(gws) == 2
	})

	// The crash: the connection goes away with no bye. Wait until the
	// server has dropped it (what "known dead" means), then ask.
	before := ns.NumClients()
	doomedNC.Close()
	sbtest.Eventually(t, 5*time.Second, "the server to drop the crashed gateway's connection", func() bool {
		return ns.NumClients() < before
	})
	for i := range 5 {
		start := time.Now()
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ids, err := api.ClientIDs(c)
		cancel()
		took := time.Since(start)
		if err != nil || !slices.Equal(ids, []string{a.ID}) {
			t.Fatalf("query %d after the crash: %v, %v; want [%s]", i, ids, err, a.ID)
		}
		t.Logf("query %d after the crash answered in %v", i, took)
		if took > time.Second {
			t.Fatalf("query %d after the crash took %v; want well under the 5 s deadline", i, took)
		}
	}
}

// TestDeadGatewayLeavesThePeerList: a gateway that dies without a
// goodbye (its NATS connection cut) stops answering; once three of its
// heartbeat intervals passed, the others no longer list it, so queries
// answer at once again instead of waiting for it until their deadline.
func TestDeadGatewayLeavesThePeerList(t *testing.T) {
	ns := sbtest.NATS(t)
	beat := gateway.HeartbeatInterval(50 * time.Millisecond)
	g1 := sbtest.Gateway(t, ns.ClientURL(), beat)
	nc2 := sbtest.Conn(t, ns.ClientURL())
	sbtest.GatewayOn(t, nc2, beat)
	api := sbtest.Client(t, ns.ClientURL())
	sbtest.Eventually(t, 5*time.Second, "both gateways listed", func() bool {
		gws, err := api.Gateways(ctx(t))
		return err == nil && len(gws) == 2
	})
	nc2.Close() // the second gateway's process dies
	quick := func() error {
		c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := api.ClientCount(c)
		return err
	}
	sbtest.Eventually(t, 5*time.Second, "a query that does not wait for the dead gateway", func() bool { return quick() == nil })
	gws, err := api.Gateways(ctx(t))
	if err != nil || len(gws) != 1 || gws[0].ID != g1.ID() {
		t.Fatalf("Gateways after one died = %+v, %v; want only %s", gws, err, g1.ID())
	}
}

// TestQueryTimesOutNamingTheSilentGateway: a gateway that sends
// heartbeats but does not answer queries (frozen, or cut off from the
// query subject) makes a query fail at its deadline with
// ErrQueryTimeout, naming the gateway that did not answer and keeping
// the answers that came.
func TestQueryTimesOutNamingTheSilentGateway(t *testing.T) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL(), gateway.HeartbeatInterval(50*time.Millisecond))
	api := sbtest.Client(t, ns.ClientURL())
	nc := sbtest.Conn(t, ns.ClientURL())
	subj, _ := wire.NewSubjects("sb")
	const frozen = "frozen0001"
	sbtest.AnnounceGateway(t, nc, subj, frozen)
	var err error
	sbtest.Eventually(t, 5*time.Second, "a query that waits for the frozen gateway", func() bool {
		c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err = api.ClientCount(c)
		return err != nil
	})
	if !errors.Is(err, bus.ErrQueryTimeout) || !strings.Contains(err.Error(), frozen) || strings.Contains(err.Error(), g.ID()) {
		t.Fatalf("query error %v: want ErrQueryTimeout naming %s and not %s", err, frozen, g.ID())
	}
}

// TestQueryWithNoGatewayAtAll: with no gateway on the bus, queries answer
// at once (NATS says no one listens) with nothing, not after a timeout.
func TestQueryWithNoGatewayAtAll(t *testing.T) {
	ns := sbtest.NATS(t)
	api := sbtest.Client(t, ns.ClientURL())
	start := time.Now()
	n, err := api.ClientCount(ctx(t))
	if err != nil || n != 0 {
		t.Fatalf("ClientCount with no gateway = %d, %v; want 0, nil", n, err)
	}
	ids, err := api.ClientIDs(ctx(t))
	if err != nil || len(ids) != 0 {
		t.Fatalf("ClientIDs with no gateway = %v, %v; want none", ids, err)
	}
	gws, err := api.Gateways(ctx(t))
	if err != nil || len(gws) != 0 {
		t.Fatalf("Gateways with no gateway = %v, %v; want none", gws, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("queries with no gateway took %v: they waited for a timeout", d)
	}
}
