package e2e

import (
	"errors"
	"reflect"
	"testing"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/internal/sbtest"
)

// TestListForms covers GatewayWorker's array forms and per-group counts
// across two gateways: sendToGroup with a list of groups (a client in two
// listed groups receives once), sendToUid with a list of uids, each with
// exclusions; getAllGroupClientIdCount, getAllGroupUidCount and
// getClientIdListByGroup / getUidListByGroup with a list of groups.
func TestListForms(t *testing.T) {
	cl := newCluster(t)
	a, b := dial(t, cl.g1), dial(t, cl.g1)
	c, d := dial(t, cl.g2), dial(t, cl.g2)
	do(t, a, "join red")
	do(t, a, "join blue") // a is in both groups
	do(t, b, "join blue")
	do(t, c, "join red")
	do(t, c, "join blue") // so is c, on the other gateway
	do(t, d, "join green")
	do(t, a, "bind ann")
	do(t, c, "bind cid")
	do(t, d, "bind dan")
	api := cl.api

	t.Run("SendToGroups delivers once per client", func(t *testing.T) {
		if err := api.SendToGroups([]string{"red", "blue", "red"}, []byte("rb")); err != nil {
			t.Fatal(err)
		}
		a.Expect("rb")
		b.Expect("rb")
		c.Expect("rb")
		for _, x := range []*sbtest.WS{a, b, c, d} {
			x.ExpectNothingFrom(api) // no second copy
		}
	})
	t.Run("SendToGroups with exclusions", func(t *testing.T) {
		if err := api.SendToGroups([]string{"blue", "green"}, []byte("bg"), bus.Exclude(a.ID, d.ID)); err != nil {
			t.Fatal(err)
		}
		b.Expect("bg")
		c.Expect("bg")
		for _, x := range []*sbtest.WS{a, b, c, d} {
			x.ExpectNothingFrom(api)
		}
	})
	t.Run("SendToUids with exclusions", func(t *testing.T) {
		if err := api.SendToUids([]string{"ann", "cid", "dan", "nobody"}, []byte("u"), bus.Exclude(c.ID)); err != nil {
			t.Fatal(err)
		}
		a.Expect("u")
		d.Expect("u")
		for _, x := range []*sbtest.WS{a, b, c, d} {
			x.ExpectNothingFrom(api)
		}
	})
	t.Run("empty and invalid lists send nothing", func(t *testing.T) {
		for _, err := range []error{
			api.SendToGroups(nil, []byte("x")),
			api.SendToUids([]string{}, []byte("x")),
			api.SendToGroups([]string{"red", ""}, []byte("x")),
		} {
			if !errors.Is(err, bus.ErrInvalidName) {
				t.Fatalf("err = %v, want ErrInvalidName", err)
			}
		}
		a.ExpectNothingFrom(api)
	})
	t.Run("per-group counts and list filters", func(t *testing.T) {
		gc, err := api.GroupClientCounts(ctx(t))
		if want := map[string]int{"red": 2, "blue": 3, "green": 1}; err != nil || !reflect.DeepEqual(gc, want) {
			t.Fatalf("GroupClientCounts = %v, %v; want %v", gc, err, want)
		}
		gu, err := api.GroupUidCounts(ctx(t))
		if want := map[string]int{"red": 2, "blue": 2, "green": 1}; err != nil || !reflect.DeepEqual(gu, want) {
			t.Fatalf("GroupUidCounts = %v, %v; want %v", gu, err, want)
		}
		ids, err := api.ClientIDsByGroups(ctx(t), []string{"red", "green"})
		if want := sorted(a.ID, c.ID, d.ID); err != nil || !reflect.DeepEqual(ids, want) {
			t.Fatalf("ClientIDsByGroups = %v, %v; want %v", ids, err, want)
		}
		uids, err := api.UidsByGroups(ctx(t), []string{"blue", "green"})
		if want := []string{"ann", "cid", "dan"}; err != nil || !reflect.DeepEqual(uids, want) {
			t.Fatalf("UidsByGroups = %v, %v; want %v", uids, err, want)
		}
		uids, err = api.UidsByGroups(ctx(t), []string{"red"})
		if want := []string{"ann", "cid"}; err != nil || !reflect.DeepEqual(uids, want) {
			t.Fatalf("UidsByGroups(red) = %v, %v; want %v", uids, err, want)
		}
	})
}
