package e2e

import (
	"errors"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/nats-io/nats.go"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/internal/wire"
)

// TestCloseSendsTheLastMessageFirst: CloseCurrentClient, CloseClient and
// a close command whose last message is a bare body (no Sb-Frames, as a
// worker in another language may send it) each deliver the message, then
// WebSocket close 1000, then OnClose.
func TestCloseSendsTheLastMessageFirst(t *testing.T) {
	cl := newCluster(t)
	expectClosed := func(c *sbtest.WS) {
		t.Helper()
		_, err := c.ReadErr(5 * time.Second)
		var closed wsutil.ClosedError
		if !errors.As(err, &closed) || closed.Code != ws.StatusNormalClosure {
			t.Fatalf("after the last message: %v, want close 1000", err)
		}
		sbtest.Eventually(t, 5*time.Second, "OnClose of "+c.ID, func() bool { return cl.w.closedCount(c.ID) == 1 })
	}

	a := dial(t, cl.g1)
	a.Send("close") // the ctl worker answers with CloseCurrentClient("bye")
	a.Expect("bye")
	expectClosed(a)

	b := dial(t, cl.g1)
	if err := cl.api.CloseClient(ctx(t), b.ID, []byte("later")); err != nil {
		t.Fatal(err)
	}
	b.Expect("later")
	expectClosed(b)

	c := dial(t, cl.g2)
	subj, _ := wire.NewSubjects(wire.DefaultPrefix)
	_, err := cl.api.Conn().RequestMsg(&nats.Msg{
		Subject: subj.Gateway(cl.g2.ID()),
		Header:  nats.Header{wire.HdrOp: {wire.OpClose}, wire.HdrClient: {c.ID}},
		Data:    []byte("bare"),
	}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Expect("bare")
	expectClosed(c)
}
