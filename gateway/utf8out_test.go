package gateway_test

import (
	"errors"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/internal/wire"
)

// TestInvalidUTF8TextIsNotSentToClients: a text frame that is not UTF-8,
// published by a program that does not use bus (another language), is
// dropped by the gateway once per message and counted as
// invalid_utf8_out; the same bytes as binary, and valid text, go through.
// bus refuses such a text send at the sender with bus.ErrInvalidUTF8.
func TestInvalidUTF8TextIsNotSentToClients(t *testing.T) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL())
	sbtest.Worker(t, ns.ClientURL(), joiner{})
	api := sbtest.Client(t, ns.ClientURL())
	c := sbtest.Dial(t, g, "/")
	c.Expect("joined")
	ids, err := api.ClientIDsByGroup(t.Context(), "mixed")
	if err != nil || len(ids) != 1 {
		t.Fatalf("group members %v, %v", ids, err)
	}
	c.ID = ids[0]

	if err := api.SendToClient(c.ID, []byte{0xff}); !errors.Is(err, bus.ErrInvalidUTF8) {
		t.Fatalf("bus.SendToClient of invalid text: %v, want ErrInvalidUTF8", err)
	}
	if err := api.SendToGroup("mixed", []byte("a\xc3")); !errors.Is(err, bus.ErrInvalidUTF8) {
		t.Fatalf("bus.SendToGroup of invalid text: %v, want ErrInvalidUTF8", err)
	}
	if err := api.SendToAll([]byte{0xc0, 0x80}); !errors.Is(err, bus.ErrInvalidUTF8) {
		t.Fatalf("bus.SendToAll of invalid text: %v, want ErrInvalidUTF8", err)
	}
	if err := api.SendToClient(c.ID, []byte{0xff}, bus.Binary()); err != nil {
		t.Fatalf("binary send: %v", err)
	}
	_ = c.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, op, err := wsutil.ReadServerData(c.Conn); err != nil || op != ws.OpBinary || string(b) != "\xff" {
		t.Fatalf("binary frame: %q %v, %v", b, op, err)
	}
	_ = c.Conn.SetReadDeadline(time.Time{})

	// A publisher that bypasses bus.
	subj, err := wire.NewSubjects("sb")
	if err != nil {
		t.Fatal(err)
	}
	nc := sbtest.Conn(t, ns.ClientURL())
	raw := []*nats.Msg{
		{Subject: subj.Group("mixed"), Data: []byte("bad \xff group text")},
		{Subject: subj.Gateway(g.ID()), Data: []byte("bad \xfe client text"),
			Header: nats.Header{wire.HdrOp: {wire.OpSend}, wire.HdrClients: {c.ID}}},
	}
	for _, m := range raw {
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	c.ExpectNothingFrom(api)
	if n := g.Stats().Refused["invalid_utf8_out"]; n != 2 {
		t.Fatalf("invalid_utf8_out = %d, want 2", n)
	}
}
