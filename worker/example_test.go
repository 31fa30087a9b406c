package worker_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/natsserver"
	"github.com/switchboard-go/switchboard/worker"
)

// Chat shows the callbacks a chat worker typically implements.
type Chat struct{}

// OnWebSocketConnect refuses clients without a token.
func (Chat) OnWebSocketConnect(c *worker.Context, hs bus.Handshake) error {
	if hs.Header.Get("Authorization") == "" {
		return worker.Reject(http.StatusUnauthorized, "token required")
	}
	return nil
}

// OnConnect joins every client to the lobby and remembers it in the session.
func (Chat) OnConnect(c *worker.Context) error {
	c.Session()["room"] = "lobby"
	return c.Gateway().JoinGroup(c, c.ClientID(), "lobby")
}

// OnMessage relays a message to the client's room.
func (Chat) OnMessage(c *worker.Context, m worker.Message) error {
	room, _ := c.Session()["room"].(string)
	return c.Gateway().SendToGroup(room, m.Data, bus.Exclude(c.ClientID()))
}

// A worker is a queue-group consumer: start as many as you like, anywhere
// on the NATS cluster.
func ExampleNew() {
	srv, err := natsserver.Start(natsserver.Config{Port: -1})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()

	w, err := worker.New(nc, Chat{})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := w.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	// Stop drains: no new events, the ones in hand are finished.
	fmt.Println(w.Stop(context.Background()))
	// Output: <nil>
}
