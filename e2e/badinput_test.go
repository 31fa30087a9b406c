package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/internal/wire"
	"github.com/switchboard-go/switchboard/worker"
)

func TestBadBusInputIsDroppedAndNothingBreaks(t *testing.T) {
	cl := newCluster(t)
	a := dial(t, cl.g1)
	do(t, a, "join room")
	nc := cl.api.Conn()
	subj, _ := wire.NewSubjects(wire.DefaultPrefix)
	gw := subj.Gateway(cl.g1.ID())
	bad := []*nats.Msg{
		{Subject: gw, Header: nats.Header{wire.HdrOp: []string{"explode"}, wire.HdrClient: []string{a.ID}}},
		{Subject: gw, Data: []byte("no headers at all")},
		{Subject: gw, Header: nats.Header{wire.HdrOp: []string{wire.OpClose}, wire.HdrClient: []string{a.ID},
			wire.HdrFrames: []string{"999"}}, Data: []byte("truncated")},
		{Subject: gw, Header: nats.Header{wire.HdrOp: []string{wire.OpSend},
			wire.HdrClients: []string{wire.ClientID(cl.g1.ID(), 424242)}}, Data: []byte("to nobody")},
		{Subject: gw, Header: nats.Header{wire.HdrOp: []string{wire.OpSessionSet}, wire.HdrClient: []string{a.ID}},
			Data: []byte("{not json")},
		{Subject: subj.GatewayReply(cl.g1.ID(), "zz", "1"), Data: []byte("reply for nobody")},
		{Subject: subj.GatewayReply(cl.g1.ID(), "!", "?")},
		{Subject: subj.Group("room"), Header: nats.Header{wire.HdrOp: []string{"boom"}}},
		{Subject: subj.Query(), Reply: "_INBOX.x", Header: nats.Header{wire.HdrQuery: []string{"nonsense"}}},
	}
	for _, m := range bad {
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	// Requests get a clear error back.
	reply, err := nc.RequestMsg(&nats.Msg{Subject: gw, Header: nats.Header{wire.HdrOp: []string{"explode"},
		wire.HdrClient: []string{a.ID}}}, 2*time.Second)
	if err != nil || wire.ReplyError(reply) == nil {
		t.Fatalf("unknown op: reply %v, %v; want an error reply", reply, err)
	}
	if err := cl.api.SetSession(ctx(t), a.ID, nil); err != nil {
		t.Fatalf("SetSession(nil): %v", err)
	}
	// The client is untouched and everything still works.
	if err := cl.api.SendToGroup("room", []byte("still here")); err != nil {
		t.Fatal(err)
	}
	a.Expect("still here")
	a.Send("echo")
	a.Expect("echo")
}

func TestHandlerPanicIsRecovered(t *testing.T) {
	cl := newCluster(t)
	a := dial(t, cl.g1)
	a.Send("panic")
	a.Send("after")
	a.Expect("after")
}

// gatekeeper rejects handshakes without ?token=good.
type gatekeeper struct{ ctl }

func (g *gatekeeper) OnWebSocketConnect(c *worker.Context, hs bus.Handshake) error {
	if !strings.Contains(hs.Query, "token=good") {
		return worker.Reject(http.StatusUnauthorized, "bad token")
	}
	if hs.Path != "/chat" || hs.Header.Get("Host") == "" {
		return worker.Reject(http.StatusBadRequest, "unexpected handshake "+hs.Path)
	}
	c.Session()["token"] = "good"
	return nil
}

func TestOnWebSocketConnectRejects(t *testing.T) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL())
	w := &gatekeeper{}
	sbtest.Worker(t, ns.ClientURL(), w)

	_, err := sbtest.DialErr(g, "/chat?token=bad")
	var status ws.StatusError
	if err == nil || !errorAs(err, &status) || int(status) != http.StatusUnauthorized {
		t.Fatalf("dial with a bad token: %v; want HTTP 401", err)
	}
	ok := sbtest.Dial(t, g, "/chat?token=good")
	first := ok.Read(5 * time.Second)
	if !strings.HasPrefix(first, "id ") {
		t.Fatalf("accepted client got %q", first)
	}
	ok.Send("get token")
	ok.Expect("good") // the handshake handler's session reached OnMessage
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.connect) != 1 {
		t.Fatalf("OnConnect ran %d times, want once (the rejected client must not connect)", len(w.connect))
	}
}

func TestPlainHTTPOnTheGatewayPort(t *testing.T) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL())
	resp, err := http.Get("http://" + g.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET / without a handler: %d, want 404", resp.StatusCode)
	}
}
