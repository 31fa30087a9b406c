package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/worker"
)

// ctl is the test worker: it announces the client id on connect and runs
// commands sent as text ("join G", "set k v", ...); anything else echoes.
type ctl struct {
	mu      sync.Mutex
	closed  []string // client ids whose OnClose ran
	connect []string // client ids whose OnConnect ran
}

func (w *ctl) OnConnect(c *worker.Context) error {
	w.mu.Lock()
	w.connect = append(w.connect, c.ClientID())
	w.mu.Unlock()
	c.Session()["greeted"] = "yes"
	return c.SendToCurrentClient([]byte("id " + c.ClientID()))
}

func (w *ctl) OnClose(c *worker.Context) error {
	w.mu.Lock()
	w.closed = append(w.closed, c.ClientID())
	w.mu.Unlock()
	return nil
}

func (w *ctl) closedCount(id string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, c := range w.closed {
		if c == id {
			n++
		}
	}
	return n
}

func (w *ctl) OnMessage(c *worker.Context, m worker.Message) error {
	cmd, arg, _ := strings.Cut(m.Text(), " ")
	api := c.Gateway()
	var err error
	out := "ok"
	switch cmd {
	case "join":
		err = api.JoinGroup(c, c.ClientID(), arg)
	case "leave":
		err = api.LeaveGroup(c, c.ClientID(), arg)
	case "bind":
		err = api.BindUid(c, c.ClientID(), arg)
	case "unbind":
		err = api.UnbindUid(c, c.ClientID(), arg)
	case "set":
		k, v, _ := strings.Cut(arg, " ")
		c.Session()[k] = v
	case "get":
		v, ok := c.Session()[arg]
		out = fmt.Sprint(v)
		if !ok {
			out = "<nil>"
		}
	case "incr":
		n, _ := c.Session()["n"].(float64)
		c.Session()["n"] = n + 1
		out = fmt.Sprint(n + 1)
	case "panic":
		panic("handler panic on purpose")
	case "close":
		c.CloseCurrentClient([]byte("bye"))
		return nil
	default:
		out = m.Text()
	}
	if err != nil {
		out = "error " + err.Error()
	}
	return c.SendToCurrentClient([]byte(out))
}

// cluster is two gateways and two ctl workers on one NATS server.
type cluster struct {
	url    string
	g1, g2 *gateway.Gateway
	w      *ctl
	api    *bus.Client
}

func newCluster(t *testing.T, opts ...gateway.Option) *cluster {
	t.Helper()
	ns := sbtest.NATS(t)
	cl := &cluster{url: ns.ClientURL(), w: &ctl{}}
	cl.g1 = sbtest.Gateway(t, cl.url, opts...)
	cl.g2 = sbtest.Gateway(t, cl.url, opts...)
	sbtest.Worker(t, cl.url, cl.w)
	sbtest.Worker(t, cl.url, cl.w)
	cl.api = sbtest.Client(t, cl.url)
	return cl
}

// dial connects a client and reads its id announcement.
func dial(t *testing.T, g *gateway.Gateway) *sbtest.WS {
	t.Helper()
	c := sbtest.Dial(t, g, "/ws")
	first := c.Read(5 * time.Second)
	id, ok := strings.CutPrefix(first, "id ")
	if !ok {
		t.Fatalf("first message %q, want the client id", first)
	}
	c.ID = id
	return c
}

// do sends a command and expects "ok".
func do(t *testing.T, c *sbtest.WS, cmd string) {
	t.Helper()
	c.Send(cmd)
	c.Expect("ok")
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

// closeClient closes a test client with a close frame and waits until its
// OnClose ran.
func closeClient(t *testing.T, cl *cluster, c *sbtest.WS) {
	t.Helper()
	_ = ws.WriteFrame(c.Conn, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))))
	sbtest.Eventually(t, 5*time.Second, "OnClose of "+c.ID, func() bool { return cl.w.closedCount(c.ID) == 1 })
}
