package gateway_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/natsserver"
)

// A gateway with a WebSocket and a newline-delimited TCP listener on one
// NATS connection.
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

	g, err := gateway.New(nc,
		gateway.Listen("ws://127.0.0.1:0", "tcp+text://127.0.0.1:0"),
		gateway.MaxMessageBytes(64<<10),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := g.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	defer g.Shutdown(context.Background())
	for _, a := range g.Addrs() {
		scheme, _, _ := strings.Cut(a, "://")
		fmt.Println(scheme)
	}
	// Output:
	// ws
	// tcp+text
}
