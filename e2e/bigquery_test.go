package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/natsserver"
	"github.com/switchboard-go/switchboard/worker"
)

// TestQueriesLargerThanMaxPayload runs every list and sessions query
// against a NATS server whose max_payload (4 KiB) is far smaller than the
// answers: the gateways answer in parts (Sb-Part) and the asker joins
// them, so every query returns every client. Before answers in parts, the
// gateway's RespondMsg failed with "maximum payload exceeded", the error
// was discarded and the query failed after its deadline.
func TestQueriesLargerThanMaxPayload(t *testing.T) {
	ns, err := natsserver.Start(natsserver.Config{Port: -1, MaxPayload: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	url := ns.ClientURL()
	w := &ctl{}
	g1 := sbtest.Gateway(t, url)
	g2 := sbtest.Gateway(t, url)
	sbtest.Worker(t, url, w)
	api := sbtest.Client(t, url)

	const n = 400 // 350 on g1, 50 on g2
	var all []string
	members := map[string][]string{} // group -> client ids
	sessions := map[string]bus.Session{}
	uids := map[string]bool{}
	for i := range n {
		g := g1
		if i >= 350 {
			g = g2
		}
		c := dial(t, g)
		all = append(all, c.ID)
		group := fmt.Sprintf("group-%d", i%3)
		uid := fmt.Sprintf("user-%06d", i)
		for _, gr := range []string{"everyone", group} {
			if err := api.JoinGroup(ctx(t), c.ID, gr); err != nil {
				t.Fatal(err)
			}
			members[gr] = append(members[gr], c.ID)
		}
		if err := api.BindUid(ctx(t), c.ID, uid); err != nil {
			t.Fatal(err)
		}
		uids[uid] = true
		s := bus.Session{"greeted": "yes", "n": float64(i), "pad": strings.Repeat("x", 100)}
		if err := api.SetSession(ctx(t), c.ID, s); err != nil {
			t.Fatal(err)
		}
		sessions[c.ID] = s
	}
	slices.Sort(all)
	for _, ids := range members {
		slices.Sort(ids)
	}
	allUids := slices.Sorted(maps.Keys(uids))

	same := func(what string, got, want []string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: %d entries, want %d", what, len(got), len(want))
		}
	}
	ids, err := api.ClientIDs(ctx(t))
	same("ClientIDs", ids, all, err)
	ids, err = api.ClientIDsByGroup(ctx(t), "everyone")
	same("ClientIDsByGroup(everyone)", ids, all, err)
	ids, err = api.ClientIDsByGroup(ctx(t), "group-1")
	same("ClientIDsByGroup(group-1)", ids, members["group-1"], err)
	got, err := api.Uids(ctx(t))
	same("Uids", got, allUids, err)
	got, err = api.UidsByGroup(ctx(t), "everyone")
	same("UidsByGroup(everyone)", got, allUids, err)
	count, err := api.UidCount(ctx(t))
	if err != nil || count != n {
		t.Fatalf("UidCount = %d, %v; want %d", count, err, n)
	}
	groups, err := api.GroupIDs(ctx(t))
	same("GroupIDs", groups, []string{"everyone", "group-0", "group-1", "group-2"}, err)
	gc, err := api.GroupClientIDs(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for gr, want := range members {
		same("GroupClientIDs["+gr+"]", slices.Sorted(slices.Values(gc[gr])), want, nil)
	}
	gu, err := api.GroupUidList(ctx(t))
	same("GroupUidList[everyone]", gu["everyone"], allUids, err)

	checkSessions := func(what string, got map[string]bus.Session, ids []string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if len(got) != len(ids) {
			t.Fatalf("%s: %d sessions, want %d", what, len(got), len(ids))
		}
		for _, id := range ids {
			if got[id]["n"] != sessions[id]["n"] || got[id]["pad"] != sessions[id]["pad"] {
				t.Fatalf("%s[%s] = %v, want %v", what, id, got[id], sessions[id])
			}
		}
	}
	ss, err := api.AllClientSessions(ctx(t))
	checkSessions("AllClientSessions", ss, all, err)
	ss, err = api.ClientSessionsByGroup(ctx(t), "group-2")
	checkSessions("ClientSessionsByGroup(group-2)", ss, members["group-2"], err)
	infos, err := api.Clients(ctx(t), bus.Filter{}, bus.FieldUid, bus.FieldGroups, bus.FieldSession)
	if err != nil || len(infos) != n {
		t.Fatalf("Clients with every field: %d, %v; want %d", len(infos), err, n)
	}
	gws, err := api.Gateways(ctx(t))
	if err != nil || len(gws) != 2 {
		t.Fatalf("Gateways = %d, %v; want 2", len(gws), err)
	}
	if f := g1.Stats().AnswersFailed + g2.Stats().AnswersFailed; f != 0 {
		t.Fatalf("%d answers failed", f)
	}
}

// padder gives every client a 300-byte session and joins it to "all".
type padder struct{}

func (padder) OnConnect(c *worker.Context) error {
	c.Session()["pad"] = strings.Repeat("p", 300)
	return c.Gateway().JoinGroup(c, c.ClientID(), "all")
}

func (padder) OnMessage(*worker.Context, worker.Message) error { return nil }

// TestQueriesPastAStockMaxPayload: 5,000 clients on one gateway and a NATS
// server with the stock max_payload (1 MiB): the list and sessions queries
// (about 0.6 and 2 MiB of answer) return every client. Skipped with
// -short.
func TestQueriesPastAStockMaxPayload(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 clients: skipped with -short")
	}
	ns, err := natsserver.Start(natsserver.Config{Port: -1, MaxPayload: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	url := ns.ClientURL()
	g := sbtest.Gateway(t, url)
	sbtest.Worker(t, url, padder{})
	api := sbtest.Client(t, url, bus.WithTimeout(30*time.Second))
	const n = 5000
	start := time.Now()
	for range n {
		sbtest.Dial(t, g, "/")
	}
	sbtest.Eventually(t, 60*time.Second, "every client in the group", func() bool {
		c, err := api.ClientCountByGroup(ctx(t), "all")
		return err == nil && c == n
	})
	t.Logf("%d clients connected and joined in %v", n, time.Since(start))
	timed := func(what string, got int, err error) {
		t.Helper()
		if err != nil || got != n {
			t.Fatalf("%s: %d, %v; want %d", what, got, err, n)
		}
	}
	start = time.Now()
	ids, err := api.ClientIDs(context.Background())
	timed("ClientIDs", len(ids), err)
	ids, err = api.ClientIDsByGroup(context.Background(), "all")
	timed("ClientIDsByGroup", len(ids), err)
	ss, err := api.AllClientSessions(context.Background())
	timed("AllClientSessions", len(ss), err)
	ss, err = api.ClientSessionsByGroup(context.Background(), "all")
	timed("ClientSessionsByGroup", len(ss), err)
	infos, err := api.Clients(context.Background(), bus.Filter{}, bus.FieldUid, bus.FieldGroups, bus.FieldSession)
	timed("Clients with every field", len(infos), err)
	t.Logf("5 queries over %d clients in %v", n, time.Since(start))
}
