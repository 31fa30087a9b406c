package e2e

import (
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/internal/wire"
)

func TestSendAcrossGateways(t *testing.T) {
	cl := newCluster(t)
	a := dial(t, cl.g1)
	b, c := dial(t, cl.g2), dial(t, cl.g2)
	for _, x := range []string{a.ID, b.ID, c.ID} {
		if gw, _, _ := wire.ParseClientID(x); gw != cl.g1.ID() && gw != cl.g2.ID() {
			t.Fatalf("client id %s names no gateway", x)
		}
	}
	const room = "room 1.*>" // dots, spaces and wildcards must not break subjects
	do(t, a, "join "+room)
	do(t, b, "join "+room)
	do(t, c, "join "+room)

	t.Run("SendToGroup with exclusion", func(t *testing.T) {
		if err := cl.api.SendToGroup(room, []byte("g1"), bus.Exclude(b.ID)); err != nil {
			t.Fatal(err)
		}
		a.Expect("g1")
		c.Expect("g1")
		b.ExpectNothingFrom(cl.api)
	})
	t.Run("SendToGroup excludes every listed client", func(t *testing.T) {
		// b is second in the list: a gateway that honoured only the first
		// id would send it the frame. a and b are on different gateways.
		if err := cl.api.SendToGroup(room, []byte("only c"), bus.Exclude(a.ID, b.ID)); err != nil {
			t.Fatal(err)
		}
		c.Expect("only c")
		a.ExpectNothingFrom(cl.api)
		b.ExpectNothingFrom(cl.api)
		if err := cl.api.SendToAll([]byte("only a"), bus.Exclude(c.ID, b.ID)); err != nil {
			t.Fatal(err)
		}
		a.Expect("only a")
		b.ExpectNothingFrom(cl.api)
		c.ExpectNothingFrom(cl.api)
	})
	t.Run("SendToUid reaches every client of the uid", func(t *testing.T) {
		do(t, a, "bind u:1")
		do(t, c, "bind u:1")
		if err := cl.api.SendToUid("u:1", []byte("u1")); err != nil {
			t.Fatal(err)
		}
		a.Expect("u1")
		c.Expect("u1")
		b.ExpectNothingFrom(cl.api)
	})
	t.Run("SendToAll with a client list and exclusions", func(t *testing.T) {
		if err := cl.api.SendToAll([]byte("some"), bus.Only(a.ID, b.ID), bus.Exclude(b.ID)); err != nil {
			t.Fatal(err)
		}
		a.Expect("some")
		b.ExpectNothingFrom(cl.api)
		c.ExpectNothingFrom(cl.api)
		if err := cl.api.SendToAll([]byte("all"), bus.Exclude(c.ID)); err != nil {
			t.Fatal(err)
		}
		a.Expect("all")
		b.Expect("all")
		c.ExpectNothingFrom(cl.api)
	})
	t.Run("SendToClient on the other gateway", func(t *testing.T) {
		if err := cl.api.SendToClient(c.ID, []byte("direct")); err != nil {
			t.Fatal(err)
		}
		c.Expect("direct")
		a.ExpectNothingFrom(cl.api)
	})
	t.Run("LeaveGroup and Ungroup", func(t *testing.T) {
		do(t, c, "leave "+room)
		if err := cl.api.SendToGroup(room, []byte("after leave")); err != nil {
			t.Fatal(err)
		}
		a.Expect("after leave")
		b.Expect("after leave")
		c.ExpectNothingFrom(cl.api)
		if err := cl.api.Ungroup(ctx(t), room); err != nil {
			t.Fatal(err)
		}
		n, err := cl.api.ClientCountByGroup(ctx(t), room)
		if err != nil || n != 0 {
			t.Fatalf("members after Ungroup = %d, %v; want 0", n, err)
		}
		if err := cl.api.SendToGroup(room, []byte("after ungroup")); err != nil {
			t.Fatal(err)
		}
		a.ExpectNothingFrom(cl.api)
		b.ExpectNothingFrom(cl.api)
	})
}

func TestBindUidReplacesThePreviousUid(t *testing.T) {
	cl := newCluster(t)
	a := dial(t, cl.g1)
	do(t, a, "bind first")
	do(t, a, "bind second")
	if uid, err := cl.api.UidByClientID(ctx(t), a.ID); err != nil || uid != "second" {
		t.Fatalf("uid = %q, %v; want second", uid, err)
	}
	if on, err := cl.api.IsUidOnline(ctx(t), "first"); err != nil || on {
		t.Fatalf("IsUidOnline(first) = %v, %v; want false", on, err)
	}
	if err := cl.api.SendToUid("first", []byte("old")); err != nil {
		t.Fatal(err)
	}
	a.ExpectNothingFrom(cl.api)
}

func TestBinaryFrames(t *testing.T) {
	cl := newCluster(t)
	a := dial(t, cl.g1)
	if err := cl.api.SendToClient(a.ID, []byte{0, 1, 2}, bus.Binary()); err != nil {
		t.Fatal(err)
	}
	_ = a.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	data, op, err := readData(a)
	if err != nil || op != "binary" || string(data) != "\x00\x01\x02" {
		t.Fatalf("got %q %s %v; want binary 000102", data, op, err)
	}
}
