package bus_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/natsserver"
	"github.com/switchboard-go/switchboard/worker"
)

// Push from any program: connect to the cluster's NATS and call the
// Gateway API. Here an embedded server stands in for the cluster.
func ExampleConnect() {
	srv, err := natsserver.Start(natsserver.Config{Port: -1})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown()

	api, err := bus.Connect(srv.ClientURL(), bus.WithTimeout(2*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer api.Close()

	// Sends are fire-and-forget publishes; queries ask every gateway.
	if err := api.SendToGroup("room:lobby", []byte(`{"type":"notice"}`)); err != nil {
		fmt.Println(err)
	}
	online, err := api.IsUidOnline(context.Background(), "user-42")
	fmt.Println(online, err)
	// Output: false <nil>
}

// ignore is a worker that takes client messages and does nothing: a
// gateway accepts clients only while some worker runs.
type ignore struct{}

func (ignore) OnMessage(*worker.Context, worker.Message) error { return nil }

// startCluster runs, in this process, what a deployment runs on several
// machines: NATS, one gateway with a WebSocket listener and one worker. It
// returns the NATS URL, the gateway's WebSocket URL and a function that
// stops them.
func startCluster() (natsURL, wsURL string, stop func(), err error) {
	srv, err := natsserver.Start(natsserver.Config{Port: -1})
	if err != nil {
		return "", "", nil, err
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		srv.Shutdown()
		return "", "", nil, err
	}
	quiet := slog.New(slog.DiscardHandler)
	g, err := gateway.New(nc, gateway.Listen("ws://127.0.0.1:0"), gateway.Logger(quiet))
	if err == nil {
		err = g.Start(context.Background())
	}
	if err != nil {
		nc.Close()
		srv.Shutdown()
		return "", "", nil, err
	}
	w, err := worker.New(nc, ignore{}, worker.Logger(quiet))
	if err == nil {
		err = w.Start(context.Background())
	}
	if err != nil {
		_ = g.Shutdown(context.Background())
		nc.Close()
		srv.Shutdown()
		return "", "", nil, err
	}
	stop = func() {
		_ = w.Stop(context.Background())
		_ = g.Shutdown(context.Background())
		nc.Close()
		srv.Shutdown()
	}
	return srv.ClientURL(), g.Addrs()[0], stop, nil
}

// wsClient is a browser's WebSocket, reduced to what the examples need.
type wsClient struct {
	io.Reader
	net.Conn
}

// dial connects a WebSocket client to url.
func dial(url string) (*wsClient, error) {
	conn, br, _, err := ws.Dial(context.Background(), url)
	if err != nil {
		return nil, err
	}
	c := &wsClient{Reader: conn, Conn: conn}
	if br != nil { // bytes the server sent right after its handshake
		c.Reader = io.MultiReader(br, conn)
	}
	return c, nil
}

func (c *wsClient) Read(p []byte) (int, error) { return c.Reader.Read(p) }

// read returns the next text message, waiting at most 5 s.
func (c *wsClient) read() string {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := wsutil.ReadServerText(c)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// onlyClient waits until the gateway holds exactly one client and returns
// its id. A backend usually learns ids from its worker (Context.ClientID)
// or from a uid it bound; this example asks the cluster.
func onlyClient(api *bus.Client) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		ids, err := api.ClientIDs(ctx)
		if err != nil {
			return "", err
		}
		if len(ids) == 1 {
			return ids[0], nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%d clients: %w", len(ids), ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Join a client to a group and bind it to a uid, then reach it through
// both. When JoinGroup or BindUid returns, every later send reaches the
// client, and sends from one Client arrive in the order they were made.
func ExampleClient_JoinGroup() {
	natsURL, wsURL, stop, err := startCluster()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	browser, err := dial(wsURL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer browser.Close()
	api, err := bus.Connect(natsURL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer api.Close()
	id, err := onlyClient(api)
	if err != nil {
		fmt.Println(err)
		return
	}

	ctx := context.Background()
	if err := api.JoinGroup(ctx, id, "room:lobby"); err != nil {
		fmt.Println(err)
		return
	}
	if err := api.BindUid(ctx, id, "user-42"); err != nil {
		fmt.Println(err)
		return
	}
	_ = api.SendToGroup("room:lobby", []byte("hello, room"))
	_ = api.SendToUid("user-42", []byte("hello, user 42"))
	// Every member of both groups but the client itself.
	_ = api.SendToGroups([]string{"room:lobby", "room:other"}, []byte("not for you"), bus.Exclude(id))
	_ = api.SendToClient(id, []byte("bye"))
	for range 3 {
		fmt.Println(browser.read())
	}
	// Output:
	// hello, room
	// hello, user 42
	// bye
}

// A session is a JSON object the gateway keeps with the client and hands
// to every event of that client. SetSession replaces it, UpdateSession
// merges keys into it (a null value removes a key).
func ExampleClient_SetSession() {
	natsURL, wsURL, stop, err := startCluster()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	browser, err := dial(wsURL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer browser.Close()
	api, err := bus.Connect(natsURL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer api.Close()
	id, err := onlyClient(api)
	if err != nil {
		fmt.Println(err)
		return
	}

	ctx := context.Background()
	if err := api.SetSession(ctx, id, bus.Session{"name": "ann", "tmp": 1}); err != nil {
		fmt.Println(err)
		return
	}
	if err := api.UpdateSession(ctx, id, bus.Session{"room": "lobby", "tmp": nil}); err != nil {
		fmt.Println(err)
		return
	}
	s, err := api.Session(ctx, id)
	fmt.Println(s, err)
	// Output: map[name:ann room:lobby] <nil>
}

// Queries ask every gateway and merge the answers; they wait for each live
// gateway (WithTimeout bounds them).
func ExampleClient_ClientIDsByGroup() {
	natsURL, wsURL, stop, err := startCluster()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	browser, err := dial(wsURL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer browser.Close()
	api, err := bus.Connect(natsURL, bus.WithTimeout(2*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer api.Close()
	id, err := onlyClient(api)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	if err := api.JoinGroup(ctx, id, "room:lobby"); err != nil {
		fmt.Println(err)
		return
	}
	if err := api.BindUid(ctx, id, "user-42"); err != nil {
		fmt.Println(err)
		return
	}

	members, err := api.ClientIDsByGroup(ctx, "room:lobby")
	fmt.Println(len(members) == 1 && members[0] == id, err)
	uids, err := api.UidsByGroup(ctx, "room:lobby")
	fmt.Println(uids, err)
	online, err := api.IsUidOnline(ctx, "user-42")
	fmt.Println(online, err)
	groups, err := api.GroupIDs(ctx)
	fmt.Println(groups, err)
	n, err := api.ClientCount(ctx)
	fmt.Println(n, err)
	// Output:
	// true <nil>
	// [user-42] <nil>
	// true <nil>
	// [room:lobby] <nil>
	// 1 <nil>
}
