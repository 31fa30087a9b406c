package e2e

// The GatewayWorker conformance suite: one subtest per row of the table in
// docs/gatewayworker.md (every public Lib\Gateway function and every Events
// callback), each run against two gateways on one NATS server and two
// workers, with real WebSocket clients on both gateways. The subtests share
// one cluster; each uses its own clients, groups and uids, and closes its
// clients (waiting for their OnClose) when it ends, so the whole-cluster
// queries of the next subtest see only its own clients.

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/internal/wire"
	"github.com/switchboard-go/switchboard/worker"
)

// gwEvents is the conformance worker: every Events callback, and commands
// sent as text that call the per-event API ($_SESSION, sendToCurrentClient,
// closeCurrentClient, destoryCurrentClient, and Lib\Gateway from inside a
// handler). Both workers of the cluster share one gwEvents.
type gwEvents struct {
	started, stopped atomic.Int32

	mu        sync.Mutex
	connected map[string]int         // OnConnect runs per client id
	closed    map[string]int         // OnClose runs per client id
	atClose   map[string]bus.Session // the session OnClose read
	order     map[string][]string    // event kinds per client id, in the order they ran
}

func newGWEvents() *gwEvents {
	return &gwEvents{connected: map[string]int{}, closed: map[string]int{},
		atClose: map[string]bus.Session{}, order: map[string][]string{}}
}

func (e *gwEvents) OnWorkerStart(*worker.Worker) error { e.started.Add(1); return nil }
func (e *gwEvents) OnWorkerStop(*worker.Worker)        { e.stopped.Add(1) }

// OnWebSocketConnect refuses ?deny=1 with 401 and otherwise keeps what it
// saw of the handshake in the session, for the client to ask about.
func (e *gwEvents) OnWebSocketConnect(c *worker.Context, hs bus.Handshake) error {
	q, err := url.ParseQuery(hs.Query)
	if err != nil {
		return worker.Reject(http.StatusBadRequest, "bad query")
	}
	if q.Get("deny") != "" {
		return worker.Reject(http.StatusUnauthorized, "denied")
	}
	s := c.Session()
	s["path"], s["query"] = hs.Path, hs.Query
	if v := hs.Header.Get("X-Conform"); v != "" {
		s["header"] = v
	}
	for _, ck := range hs.Cookies() {
		if ck.Name == "sid" {
			s["cookie"] = ck.Value
		}
	}
	return nil
}

func (e *gwEvents) OnConnect(c *worker.Context) error {
	e.mu.Lock()
	e.connected[c.ClientID()]++
	e.order[c.ClientID()] = append(e.order[c.ClientID()], "connect")
	e.mu.Unlock()
	c.Session()["greeted"] = "yes"
	return c.SendToCurrentClient([]byte("id " + c.ClientID()))
}

func (e *gwEvents) OnClose(c *worker.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed[c.ClientID()]++
	e.order[c.ClientID()] = append(e.order[c.ClientID()], "close")
	e.atClose[c.ClientID()] = c.Session().Clone()
	return nil
}

func (e *gwEvents) closedCount(id string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed[id]
}

func (e *gwEvents) OnMessage(c *worker.Context, m worker.Message) error {
	e.mu.Lock()
	e.order[c.ClientID()] = append(e.order[c.ClientID()], "message")
	e.mu.Unlock()
	if m.Binary {
		return c.SendToCurrentClient(append([]byte("binary "), m.Data...), bus.Binary())
	}
	cmd, arg, _ := strings.Cut(m.Text(), " ")
	out := "ok"
	var err error
	switch cmd {
	case "reply": // sendToCurrentClient
		out = arg
	case "session": // $_SESSION as JSON
		b, _ := json.Marshal(c.Session())
		out = string(b)
	case "set": // $_SESSION['k'] = 'v'
		k, v, _ := strings.Cut(arg, " ")
		c.Session()[k] = v
	case "setsession": // Gateway::setSession on the current client
		var s bus.Session
		err = json.Unmarshal([]byte(arg), &s)
		c.SetSession(s)
	case "updatesession": // Gateway::updateSession on the current client
		var s bus.Session
		err = json.Unmarshal([]byte(arg), &s)
		c.UpdateSession(s)
	case "sessionof": // Gateway::getSession of another client, from a worker
		var s bus.Session
		s, err = c.Gateway().Session(c, arg)
		b, _ := json.Marshal(s)
		out = string(b)
	case "join": // Gateway::joinGroup from a worker
		err = c.Gateway().JoinGroup(c, c.ClientID(), arg)
	case "close": // closeCurrentClient($message)
		c.CloseCurrentClient([]byte(arg))
		return nil
	case "destroy": // destoryCurrentClient()
		return c.Gateway().DestroyClient(c, c.ClientID())
	case "fail":
		return errors.New("handler failed on purpose")
	}
	if err != nil {
		out = "error " + err.Error()
	}
	return c.SendToCurrentClient([]byte(out))
}

// gwCluster is two gateways, two workers and a bus client on one NATS.
type gwCluster struct {
	url    string
	g1, g2 *gateway.Gateway
	w1, w2 *worker.Worker
	ev     *gwEvents
	api    *bus.Client
}

func newGWCluster(t *testing.T) *gwCluster {
	ns := sbtest.NATS(t)
	cl := &gwCluster{url: ns.ClientURL(), ev: newGWEvents()}
	cl.g1 = sbtest.Gateway(t, cl.url)
	cl.g2 = sbtest.Gateway(t, cl.url)
	cl.w1 = sbtest.Worker(t, cl.url, cl.ev)
	cl.w2 = sbtest.Worker(t, cl.url, cl.ev)
	cl.api = sbtest.Client(t, cl.url)
	return cl
}

// dial connects a client to g, reads its id announcement, and at the end of
// the (sub)test closes it and waits for its OnClose.
func (cl *gwCluster) dial(t *testing.T, g *gateway.Gateway) *sbtest.WS {
	t.Helper()
	return cl.dialHeader(t, g, "/ws", nil)
}

func (cl *gwCluster) dialHeader(t *testing.T, g *gateway.Gateway, path string, h http.Header) *sbtest.WS {
	t.Helper()
	c := sbtest.DialHeader(t, g, path, h)
	first := c.Read(5 * time.Second)
	id, ok := strings.CutPrefix(first, "id ")
	if !ok {
		t.Fatalf("first message %q, want the client id", first)
	}
	c.ID = id
	t.Cleanup(func() {
		_ = ws.WriteFrame(c.Conn, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))))
		sbtest.Eventually(t, 5*time.Second, "OnClose of "+id, func() bool { return cl.ev.closedCount(id) > 0 })
	})
	return c
}

// four dials a and b on gateway 1, c and d on gateway 2.
func (cl *gwCluster) four(t *testing.T) (a, b, c, d *sbtest.WS) {
	t.Helper()
	return cl.dial(t, cl.g1), cl.dial(t, cl.g1), cl.dial(t, cl.g2), cl.dial(t, cl.g2)
}

// nothing proves each client got nothing of what cl.api sent so far.
func (cl *gwCluster) nothing(t *testing.T, cs ...*sbtest.WS) {
	t.Helper()
	for _, c := range cs {
		c.ExpectNothingFrom(cl.api)
	}
}

func (cl *gwCluster) join(t *testing.T, group string, cs ...*sbtest.WS) {
	t.Helper()
	for _, c := range cs {
		if err := cl.api.JoinGroup(ctx(t), c.ID, group); err != nil {
			t.Fatalf("JoinGroup(%s, %s): %v", c.ID, group, err)
		}
	}
}

func (cl *gwCluster) bind(t *testing.T, uid string, cs ...*sbtest.WS) {
	t.Helper()
	for _, c := range cs {
		if err := cl.api.BindUid(ctx(t), c.ID, uid); err != nil {
			t.Fatalf("BindUid(%s, %s): %v", c.ID, uid, err)
		}
	}
}

// closeAndWait closes c from the client side and waits for its OnClose.
func (cl *gwCluster) closeAndWait(t *testing.T, c *sbtest.WS) {
	t.Helper()
	_ = ws.WriteFrame(c.Conn, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))))
	sbtest.Eventually(t, 5*time.Second, "OnClose of "+c.ID, func() bool { return cl.ev.closedCount(c.ID) == 1 })
}

func idsOf(cs ...*sbtest.WS) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	slices.Sort(out)
	return out
}

func equal(t *testing.T, what string, got, want any, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s = %#v, want %#v", what, got, want)
	}
}

// expectClose reads until the connection ends and checks it ended with a
// WebSocket close frame of code (0: without any close frame).
func expectClose(t *testing.T, c *sbtest.WS, code ws.StatusCode) {
	t.Helper()
	_, err := c.ReadErr(5 * time.Second)
	var closed wsutil.ClosedError
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatalf("%s: still open after 5 s", c.ID)
	case code == 0 && errors.As(err, &closed):
		t.Fatalf("%s: got close frame %d, want the socket dropped without one", c.ID, closed.Code)
	case code != 0 && (!errors.As(err, &closed) || closed.Code != code):
		t.Fatalf("%s: ended with %v, want close %d", c.ID, err, code)
	}
}

// pending marks a row whose Go call another change adds; the subtest is
// skipped until the call exists.
func pending(t *testing.T, call string) { t.Skip("needs " + call + ": pending") }

func TestGatewayWorkerConformance(t *testing.T) {
	cl := newGWCluster(t)
	api := cl.api

	// Sending.
	t.Run("sendToClient", func(t *testing.T) {
		a, b := cl.dial(t, cl.g1), cl.dial(t, cl.g2)
		if err := api.SendToClient(b.ID, []byte("to b")); err != nil {
			t.Fatal(err)
		}
		b.Expect("to b")
		if err := api.SendToClient(a.ID, []byte{1, 2}, bus.Binary()); err != nil {
			t.Fatal(err)
		}
		if data, kind, err := readData(a); err != nil || kind != "binary" || string(data) != "\x01\x02" {
			t.Fatalf("binary send: %q %s %v", data, kind, err)
		}
		cl.nothing(t, a, b)
	})
	t.Run("sendToClient to a gone client is not an error", func(t *testing.T) {
		a := cl.dial(t, cl.g2)
		cl.closeAndWait(t, a)
		if err := api.SendToClient(a.ID, []byte("late")); err != nil {
			t.Fatalf("SendToClient(gone) = %v, want nil as GatewayWorker", err)
		}
		if err := api.SendToClient("not-an-id", []byte("x")); !errors.Is(err, bus.ErrInvalidClientID) {
			t.Fatalf("SendToClient(malformed) = %v, want ErrInvalidClientID", err)
		}
	})
	t.Run("sendToCurrentClient", func(t *testing.T) {
		a := cl.dial(t, cl.g2)
		a.Send("reply hello")
		a.Expect("hello")
	})
	t.Run("sendToAll", func(t *testing.T) {
		a, b, c, d := cl.four(t)
		if err := api.SendToAll([]byte("everyone")); err != nil {
			t.Fatal(err)
		}
		for _, x := range []*sbtest.WS{a, b, c, d} {
			x.Expect("everyone")
		}
	})
	t.Run("sendToAll with exclusions", func(t *testing.T) {
		a, b, c, d := cl.four(t)
		if err := api.SendToAll([]byte("most"), bus.Exclude(a.ID, c.ID)); err != nil {
			t.Fatal(err)
		}
		b.Expect("most")
		d.Expect("most")
		cl.nothing(t, a, c)
	})
	t.Run("sendToAll with a client list and exclusions", func(t *testing.T) {
		a, b, c, d := cl.four(t)
		if err := api.SendToAll([]byte("listed"), bus.Only(a.ID, b.ID, c.ID), bus.Exclude(b.ID)); err != nil {
			t.Fatal(err)
		}
		a.Expect("listed")
		c.Expect("listed")
		cl.nothing(t, b, d)
	})
	t.Run("sendToAll with an empty client list", func(t *testing.T) {
		a, c := cl.dial(t, cl.g1), cl.dial(t, cl.g2)
		if err := api.SendToAll([]byte("nobody"), bus.Only()); err != nil {
			t.Fatal(err)
		}
		cl.nothing(t, a, c)
	})
	t.Run("sendToUid", func(t *testing.T) {
		a, b, c, d := cl.four(t)
		cl.bind(t, "u-send", a, c, d)
		if err := api.SendToUid("u-send", []byte("to uid")); err != nil {
			t.Fatal(err)
		}
		a.Expect("to uid")
		c.Expect("to uid")
		d.Expect("to uid")
		cl.nothing(t, b)
		if err := api.SendToUid("u-send", []byte("uid but d"), bus.Exclude(d.ID)); err != nil {
			t.Fatal(err)
		}
		a.Expect("uid but d")
		c.Expect("uid but d")
		cl.nothing(t, b, d)
	})
	t.Run("sendToUid with a list of uids", func(t *testing.T) {
		pending(t, "the list form of SendToUid (several uids, exclusions, one publish per subject)")
	})
	t.Run("sendToGroup with two exclusions", func(t *testing.T) {
		a, b, c, d := cl.four(t)
		cl.join(t, "g-send", a, b, c, d)
		if err := api.SendToGroup("g-send", []byte("group"), bus.Exclude(a.ID, d.ID)); err != nil {
			t.Fatal(err)
		}
		b.Expect("group")
		c.Expect("group")
		cl.nothing(t, a, d)
	})
	t.Run("sendToGroup with a list of groups", func(t *testing.T) {
		pending(t, "the list form of SendToGroup (several groups, exclusions, a member of two listed groups receives once)")
	})

	// Membership.
	t.Run("joinGroup and leaveGroup", func(t *testing.T) {
		a, c := cl.dial(t, cl.g1), cl.dial(t, cl.g2)
		cl.join(t, "g-jl", a, c)
		a.Send("join g-jl") // from a worker too; joining twice is not an error
		a.Expect("ok")
		if err := api.SendToGroup("g-jl", []byte("in")); err != nil {
			t.Fatal(err)
		}
		a.Expect("in")
		c.Expect("in")
		if err := api.LeaveGroup(ctx(t), c.ID, "g-jl"); err != nil {
			t.Fatal(err)
		}
		if err := api.LeaveGroup(ctx(t), c.ID, "g-jl"); err != nil {
			t.Fatalf("LeaveGroup of a non-member = %v, want nil", err)
		}
		if err := api.SendToGroup("g-jl", []byte("after leave")); err != nil {
			t.Fatal(err)
		}
		a.Expect("after leave")
		cl.nothing(t, c)
	})
	t.Run("ungroup", func(t *testing.T) {
		a, c := cl.dial(t, cl.g1), cl.dial(t, cl.g2)
		cl.join(t, "g-un", a, c)
		if err := api.Ungroup(ctx(t), "g-un"); err != nil {
			t.Fatal(err)
		}
		if err := api.SendToGroup("g-un", []byte("dissolved")); err != nil {
			t.Fatal(err)
		}
		cl.nothing(t, a, c) // no member left, and both still connected
		n, err := api.ClientCountByGroup(ctx(t), "g-un")
		equal(t, "ClientCountByGroup after Ungroup", n, 0, err)
	})
	t.Run("bindUid replaces the uid", func(t *testing.T) {
		a := cl.dial(t, cl.g1)
		cl.bind(t, "u-old", a)
		cl.bind(t, "u-new", a)
		uid, err := api.UidByClientID(ctx(t), a.ID)
		equal(t, "UidByClientID", uid, "u-new", err)
		ids, err := api.ClientIDsByUid(ctx(t), "u-old")
		equal(t, "ClientIDsByUid(old)", ids, []string{}, err)
		on, err := api.IsUidOnline(ctx(t), "u-old")
		equal(t, "IsUidOnline(old)", on, false, err)
		if err := api.SendToUid("u-old", []byte("old")); err != nil {
			t.Fatal(err)
		}
		cl.nothing(t, a)
		if err := api.SendToUid("u-new", []byte("new")); err != nil {
			t.Fatal(err)
		}
		a.Expect("new")
	})
	t.Run("unbindUid checks its uid", func(t *testing.T) {
		a := cl.dial(t, cl.g2)
		cl.bind(t, "u-unbind", a)
		if err := api.UnbindUid(ctx(t), a.ID, "u-other"); err != nil {
			t.Fatal(err)
		}
		uid, err := api.UidByClientID(ctx(t), a.ID)
		equal(t, "uid after unbinding another uid", uid, "u-unbind", err)
		if err := api.UnbindUid(ctx(t), a.ID, "u-unbind"); err != nil {
			t.Fatal(err)
		}
		uid, err = api.UidByClientID(ctx(t), a.ID)
		equal(t, "uid after unbinding it", uid, "", err)
		if err := api.SendToUid("u-unbind", []byte("gone")); err != nil {
			t.Fatal(err)
		}
		cl.nothing(t, a)
	})
	t.Run("empty group or uid name", func(t *testing.T) {
		a := cl.dial(t, cl.g1)
		for what, err := range map[string]error{
			"SendToGroup":        api.SendToGroup("", []byte("x")),
			"SendToUid":          api.SendToUid("", []byte("x")),
			"JoinGroup":          api.JoinGroup(ctx(t), a.ID, ""),
			"BindUid":            api.BindUid(ctx(t), a.ID, ""),
			"Ungroup":            api.Ungroup(ctx(t), ""),
			"ClientIDsByGroup":   second(api.ClientIDsByGroup(ctx(t), "")),
			"ClientCountByGroup": second(api.ClientCountByGroup(ctx(t), "")),
			"ClientIDsByUid":     second(api.ClientIDsByUid(ctx(t), "")),
		} {
			if !errors.Is(err, bus.ErrInvalidName) {
				t.Errorf("%s(\"\") = %v, want ErrInvalidName", what, err)
			}
		}
		cl.nothing(t, a)
	})
	t.Run("membership and sessions of a gone client", func(t *testing.T) {
		a := cl.dial(t, cl.g2)
		cl.closeAndWait(t, a)
		for what, err := range map[string]error{
			"JoinGroup":     api.JoinGroup(ctx(t), a.ID, "g-gone"),
			"LeaveGroup":    api.LeaveGroup(ctx(t), a.ID, "g-gone"),
			"BindUid":       api.BindUid(ctx(t), a.ID, "u-gone"),
			"UnbindUid":     api.UnbindUid(ctx(t), a.ID, "u-gone"),
			"SetSession":    api.SetSession(ctx(t), a.ID, bus.Session{"k": "v"}),
			"UpdateSession": api.UpdateSession(ctx(t), a.ID, bus.Session{"k": "v"}),
			"Session":       second(api.Session(ctx(t), a.ID)),
			"UidByClientID": second(api.UidByClientID(ctx(t), a.ID)),
			"CloseClient":   api.CloseClient(ctx(t), a.ID, nil),
			"DestroyClient": api.DestroyClient(ctx(t), a.ID),
		} {
			if !errors.Is(err, bus.ErrClientNotFound) {
				t.Errorf("%s(gone client) = %v, want ErrClientNotFound", what, err)
			}
		}
	})

	// Connections.
	t.Run("closeClient sends its message, then closes", func(t *testing.T) {
		a, c := cl.dial(t, cl.g1), cl.dial(t, cl.g2)
		if err := api.CloseClient(ctx(t), c.ID, []byte("kicked")); err != nil {
			t.Fatal(err)
		}
		c.Expect("kicked")
		expectClose(t, c, ws.StatusNormalClosure)
		sbtest.Eventually(t, 5*time.Second, "OnClose", func() bool { return cl.ev.closedCount(c.ID) == 1 })
		if err := api.CloseClient(ctx(t), a.ID, nil); err != nil {
			t.Fatal(err)
		}
		expectClose(t, a, ws.StatusNormalClosure)
	})
	t.Run("closeCurrentClient", func(t *testing.T) {
		a := cl.dial(t, cl.g2)
		a.Send("close bye")
		a.Expect("bye")
		expectClose(t, a, ws.StatusNormalClosure)
		sbtest.Eventually(t, 5*time.Second, "OnClose", func() bool { return cl.ev.closedCount(a.ID) == 1 })
	})
	t.Run("destoryClient", func(t *testing.T) {
		c := cl.dial(t, cl.g2)
		if err := api.DestroyClient(ctx(t), c.ID); err != nil {
			t.Fatal(err)
		}
		expectClose(t, c, 0)
		sbtest.Eventually(t, 5*time.Second, "OnClose", func() bool { return cl.ev.closedCount(c.ID) == 1 })
	})
	t.Run("destoryCurrentClient", func(t *testing.T) {
		a := cl.dial(t, cl.g1)
		a.Send("destroy")
		expectClose(t, a, 0)
		sbtest.Eventually(t, 5*time.Second, "OnClose", func() bool { return cl.ev.closedCount(a.ID) == 1 })
	})

	// Sessions.
	t.Run("setSession replaces", func(t *testing.T) {
		a, c := cl.dial(t, cl.g1), cl.dial(t, cl.g2)
		if err := api.SetSession(ctx(t), c.ID, bus.Session{"only": "this"}); err != nil {
			t.Fatal(err)
		}
		c.Send("session")
		c.Expect(`{"only":"this"}`)
		a.Send(`setsession {"mine":"yes"}`) // from a worker, on the current client
		a.Expect("ok")
		s, err := api.Session(ctx(t), a.ID)
		equal(t, "Session after SetSession in a worker", s, bus.Session{"mine": "yes"}, err)
	})
	t.Run("updateSession merges", func(t *testing.T) {
		a, c := cl.dial(t, cl.g1), cl.dial(t, cl.g2)
		if err := api.UpdateSession(ctx(t), c.ID, bus.Session{"plan": "gold", "path": nil}); err != nil {
			t.Fatal(err)
		}
		c.Send("session") // kept: greeted, query; set: plan; a null value removed path
		c.Expect(`{"greeted":"yes","plan":"gold","query":""}`)
		a.Send(`updatesession {"mine":"yes"}`) // from a worker, on the current client
		a.Expect("ok")
		s, err := api.Session(ctx(t), a.ID)
		equal(t, "Session after UpdateSession in a worker", s,
			bus.Session{"greeted": "yes", "mine": "yes", "path": "/ws", "query": ""}, err)
	})
	t.Run("updateSession merges nested keys recursively", func(t *testing.T) {
		pending(t, "UpdateSession merging nested objects recursively (array_replace_recursive)")
	})
	t.Run("getSession", func(t *testing.T) {
		a, c := cl.dial(t, cl.g1), cl.dial(t, cl.g2)
		c.Send("set color green")
		c.Expect("ok")
		s, err := api.Session(ctx(t), c.ID) // from a bus client
		equal(t, "Session(c)", s["color"], "green", err)
		a.Send("sessionof " + c.ID) // from a worker, a client on the other gateway
		var got bus.Session
		if err := json.Unmarshal([]byte(a.Read(5*time.Second)), &got); err != nil || got["color"] != "green" {
			t.Fatalf("Session(c) from a worker = %v, %v", got, err)
		}
	})
	t.Run("$_SESSION", func(t *testing.T) {
		a := cl.dial(t, cl.g2)
		a.Send("set k v") // written in one event,
		a.Expect("ok")
		a.Send("session") // read in the next, on either worker
		var got bus.Session
		if err := json.Unmarshal([]byte(a.Read(5*time.Second)), &got); err != nil || got["k"] != "v" || got["greeted"] != "yes" {
			t.Fatalf("session = %v, %v", got, err)
		}
	})

	// Queries: every one counts the clients of both gateways.
	t.Run("isOnline", func(t *testing.T) {
		a, c := cl.dial(t, cl.g1), cl.dial(t, cl.g2)
		for _, x := range []*sbtest.WS{a, c} {
			on, err := api.IsOnline(ctx(t), x.ID)
			equal(t, "IsOnline("+x.ID+")", on, true, err)
		}
		cl.closeAndWait(t, c)
		on, err := api.IsOnline(ctx(t), c.ID)
		equal(t, "IsOnline(closed)", on, false, err)
		on, err = api.IsOnline(ctx(t), wire.ClientID("zzzzzzzzzz", 1))
		equal(t, "IsOnline(unknown gateway)", on, false, err)
	})
	t.Run("isUidOnline", func(t *testing.T) {
		c := cl.dial(t, cl.g2)
		cl.bind(t, "u-online", c)
		on, err := api.IsUidOnline(ctx(t), "u-online")
		equal(t, "IsUidOnline", on, true, err)
		on, err = api.IsUidOnline(ctx(t), "u-nobody")
		equal(t, "IsUidOnline(nobody)", on, false, err)
	})
	t.Run("getClientIdByUid returns a list", func(t *testing.T) {
		a, _, c, _ := cl.four(t)
		cl.bind(t, "u-list", a, c)
		ids, err := api.ClientIDsByUid(ctx(t), "u-list")
		equal(t, "ClientIDsByUid", ids, idsOf(a, c), err)
	})
	t.Run("getUidByClientId", func(t *testing.T) {
		a, c := cl.dial(t, cl.g1), cl.dial(t, cl.g2)
		cl.bind(t, "u-of", c)
		uid, err := api.UidByClientID(ctx(t), c.ID)
		equal(t, "UidByClientID(bound)", uid, "u-of", err)
		uid, err = api.UidByClientID(ctx(t), a.ID)
		equal(t, "UidByClientID(unbound)", uid, "", err)
	})

	// The whole-cluster queries: a, b on gateway 1 and c, d on gateway 2;
	// a and c in q-red, c and d in q-blue; a bound to alice, c and d to bob.
	queries := func(t *testing.T) (a, b, c, d *sbtest.WS) {
		a, b, c, d = cl.four(t)
		cl.join(t, "q-red", a, c)
		cl.join(t, "q-blue", c, d)
		cl.bind(t, "alice", a)
		cl.bind(t, "bob", c, d)
		return
	}
	t.Run("getAllClientIdCount", func(t *testing.T) {
		queries(t)
		n, err := api.ClientCount(ctx(t))
		equal(t, "ClientCount", n, 4, err)
	})
	t.Run("getAllClientIdList", func(t *testing.T) {
		a, b, c, d := queries(t)
		ids, err := api.ClientIDs(ctx(t))
		equal(t, "ClientIDs", ids, idsOf(a, b, c, d), err)
	})
	t.Run("getClientIdCountByGroup", func(t *testing.T) {
		queries(t)
		n, err := api.ClientCountByGroup(ctx(t), "q-red")
		equal(t, "ClientCountByGroup(q-red)", n, 2, err)
		n, err = api.ClientCountByGroup(ctx(t), "q-none")
		equal(t, "ClientCountByGroup(q-none)", n, 0, err)
	})
	t.Run("getClientIdListByGroup", func(t *testing.T) {
		_, _, c, d := queries(t)
		ids, err := api.ClientIDsByGroup(ctx(t), "q-blue")
		equal(t, "ClientIDsByGroup(q-blue)", ids, idsOf(c, d), err)
	})
	t.Run("getClientSessionsByGroup", func(t *testing.T) {
		a, _, c, _ := queries(t)
		c.Send("set role admin")
		c.Expect("ok")
		ss, err := api.ClientSessionsByGroup(ctx(t), "q-red")
		if err != nil || len(ss) != 2 || ss[a.ID]["greeted"] != "yes" || ss[c.ID]["role"] != "admin" {
			t.Fatalf("ClientSessionsByGroup(q-red) = %v, %v", ss, err)
		}
	})
	t.Run("getAllClientSessions", func(t *testing.T) {
		a, b, c, d := queries(t)
		ss, err := api.AllClientSessions(ctx(t))
		if err != nil || !reflect.DeepEqual(slices.Sorted(maps.Keys(ss)), idsOf(a, b, c, d)) {
			t.Fatalf("AllClientSessions = %v, %v", ss, err)
		}
	})
	t.Run("getUidListByGroup", func(t *testing.T) {
		queries(t)
		uids, err := api.UidsByGroup(ctx(t), "q-red")
		equal(t, "UidsByGroup(q-red)", uids, []string{"alice", "bob"}, err)
	})
	t.Run("getUidCountByGroup", func(t *testing.T) {
		queries(t)
		n, err := api.UidCountByGroup(ctx(t), "q-blue")
		equal(t, "UidCountByGroup(q-blue)", n, 1, err)
	})
	t.Run("getAllUidList", func(t *testing.T) {
		queries(t)
		uids, err := api.Uids(ctx(t))
		equal(t, "Uids", uids, []string{"alice", "bob"}, err)
	})
	t.Run("getAllUidCount", func(t *testing.T) {
		queries(t)
		n, err := api.UidCount(ctx(t))
		equal(t, "UidCount", n, 2, err)
	})
	t.Run("getAllGroupIdList", func(t *testing.T) {
		queries(t)
		groups, err := api.GroupIDs(ctx(t))
		equal(t, "GroupIDs", groups, []string{"q-blue", "q-red"}, err)
	})
	t.Run("getAllGroupUidList", func(t *testing.T) {
		queries(t)
		m, err := api.GroupUidList(ctx(t))
		equal(t, "GroupUidList", m, map[string][]string{"q-red": {"alice", "bob"}, "q-blue": {"bob"}}, err)
	})
	t.Run("getAllGroupClientIdList", func(t *testing.T) {
		a, _, c, d := queries(t)
		m, err := api.GroupClientIDs(ctx(t))
		for g := range m {
			slices.Sort(m[g])
		}
		equal(t, "GroupClientIDs", m, map[string][]string{"q-red": idsOf(a, c), "q-blue": idsOf(c, d)}, err)
	})
	t.Run("getAllGroupUidCount", func(t *testing.T) {
		pending(t, "GetAllGroupUidCount (group -> number of distinct uids)")
	})
	t.Run("getAllGroupClientIdCount", func(t *testing.T) {
		pending(t, "GetAllGroupClientIdCount (group -> number of clients)")
	})

	// Events.
	t.Run("onWorkerStart", func(t *testing.T) {
		if n := cl.ev.started.Load(); n != 2 {
			t.Fatalf("OnWorkerStart ran %d times for 2 workers", n)
		}
		w, err := worker.New(sbtest.Conn(t, cl.url), failingStart{}, worker.Logger(sbtest.Logger()))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Start(ctx(t)); err == nil {
			t.Fatal("Start with a failing OnWorkerStart: want its error")
		}
	})
	t.Run("onWebSocketConnect sees path, query, headers and cookies", func(t *testing.T) {
		a := cl.dialHeader(t, cl.g2, "/chat/room?x=1&y=two", http.Header{
			"X-Conform": {"hello"},
			"Cookie":    {"sid=abc123; theme=dark"},
		})
		a.Send("session") // what the handshake handler kept, seen by OnMessage
		a.Expect(`{"cookie":"abc123","greeted":"yes","header":"hello","path":"/chat/room","query":"x=1\u0026y=two"}`)
	})
	t.Run("onWebSocketConnect refuses with an HTTP status", func(t *testing.T) {
		before := cl.connectedTotal()
		for _, g := range []*gateway.Gateway{cl.g1, cl.g2} {
			_, err := sbtest.DialErr(g, "/ws?deny=1")
			var status ws.StatusError
			if !errorAs(err, &status) || int(status) != http.StatusUnauthorized {
				t.Fatalf("dial with ?deny=1: %v, want HTTP 401", err)
			}
		}
		a := cl.dial(t, cl.g1) // OnConnect of a later client is the next one
		if n := cl.connectedTotal(); n != before+1 {
			t.Fatalf("OnConnect ran %d times, want once (refused clients never connect)", n-before)
		}
		_ = a
	})
	t.Run("onConnect", func(t *testing.T) {
		a, c := cl.dial(t, cl.g1), cl.dial(t, cl.g2) // dial read the OnConnect greeting
		a.Send("reply x")
		a.Expect("x")
		for _, x := range []*sbtest.WS{a, c} {
			cl.ev.mu.Lock()
			n, first := cl.ev.connected[x.ID], cl.ev.order[x.ID][0]
			cl.ev.mu.Unlock()
			if n != 1 || first != "connect" {
				t.Fatalf("%s: OnConnect ran %d times, first event %s", x.ID, n, first)
			}
		}
	})
	t.Run("onMessage", func(t *testing.T) {
		c := cl.dial(t, cl.g2)
		c.Send("reply text")
		c.Expect("text")
		if err := wsutil.WriteClientBinary(c.Conn, []byte{0, 1}); err != nil {
			t.Fatal(err)
		}
		if data, kind, err := readData(c); err != nil || kind != "binary" || string(data) != "binary \x00\x01" {
			t.Fatalf("binary message: %q %s %v", data, kind, err)
		}
		c.Send("fail") // a handler error is logged; the client goes on
		c.Send("reply after")
		c.Expect("after")
	})
	t.Run("onMessage runs one client's events in order", func(t *testing.T) {
		a := cl.dial(t, cl.g1)
		const n = 100
		for i := range n {
			a.Send(fmt.Sprintf("reply %d", i))
		}
		for i := range n {
			a.Expect(fmt.Sprint(i))
		}
	})
	t.Run("onClose", func(t *testing.T) {
		a := cl.dial(t, cl.g1)
		a.Send("set last words")
		a.Expect("ok")
		cl.closeAndWait(t, a)
		cl.ev.mu.Lock()
		s, order := cl.ev.atClose[a.ID], cl.ev.order[a.ID]
		cl.ev.mu.Unlock()
		if s["last"] != "words" {
			t.Fatalf("OnClose read session %v, want the client's last session", s)
		}
		if order[len(order)-1] != "close" {
			t.Fatalf("events %v, want OnClose last", order)
		}
	})
	t.Run("onWorkerStop", func(t *testing.T) {
		ev := newGWEvents()
		w := sbtest.Worker(t, cl.url, ev)
		if err := w.Stop(ctx(t)); err != nil {
			t.Fatal(err)
		}
		if ev.started.Load() != 1 || ev.stopped.Load() != 1 {
			t.Fatalf("OnWorkerStart %d, OnWorkerStop %d; want 1 and 1", ev.started.Load(), ev.stopped.Load())
		}
	})

	// Ids and the fleet.
	t.Run("client id format", func(t *testing.T) {
		a, c := cl.dial(t, cl.g1), cl.dial(t, cl.g2)
		for _, x := range []struct {
			c  *sbtest.WS
			gw string
		}{{a, cl.g1.ID()}, {c, cl.g2.ID()}} {
			gw, _, err := wire.ParseClientID(x.c.ID)
			if err != nil || gw != x.gw || !strings.HasPrefix(x.c.ID, x.gw+"-") {
				t.Fatalf("client id %q: gateway %q (%v), want %q", x.c.ID, gw, err, x.gw)
			}
		}
	})
	t.Run("events spread over both workers", func(t *testing.T) {
		if cl.w1.Handled() == 0 || cl.w2.Handled() == 0 {
			t.Fatalf("worker 1 handled %d events, worker 2 %d", cl.w1.Handled(), cl.w2.Handled())
		}
	})
}

func (e *gwEvents) connectedTotalLocked() int {
	n := 0
	for _, k := range e.connected {
		n += k
	}
	return n
}

func (cl *gwCluster) connectedTotal() int {
	cl.ev.mu.Lock()
	defer cl.ev.mu.Unlock()
	return cl.ev.connectedTotalLocked()
}

// failingStart is a worker whose OnWorkerStart fails.
type failingStart struct{}

func (failingStart) OnWorkerStart(*worker.Worker) error              { return errors.New("refusing to start") }
func (failingStart) OnMessage(*worker.Context, worker.Message) error { return nil }

func second[T any](_ T, err error) error { return err }
