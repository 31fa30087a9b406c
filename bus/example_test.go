package bus_test

import (
	"context"
	"fmt"
	"time"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/natsserver"
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

// Group and uid names may hold any UTF-8; they are encoded into one
// subject token.
func ExampleNameToken() {
	fmt.Println(bus.NameToken("lobby"))
	fmt.Println(bus.NameToken("room 1.*"))
	// Output:
	// lobby
	// ~cm9vbSAxLio
}

// A reply subject ends with the client's and the event's numbers in base
// 36; a reply batch names each reply by the same two tokens.
func ExampleParseEventRef() {
	seq, evSeq, ok := bus.ParseEventRef("1f", "a")
	fmt.Println(seq, evSeq, ok)
	_, _, ok = bus.ParseEventRef("1f", "")
	fmt.Println(ok)
	// Output:
	// 51 10 true
	// false
}
