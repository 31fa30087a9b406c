package wire_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/internal/wire"
	"github.com/switchboard-go/switchboard/natsserver"
)

// TestNoResponders: the server's answer to a request nobody subscribes to
// is recognised, a real reply (even an empty one) is not.
func TestNoResponders(t *testing.T) {
	srv, err := natsserver.Start(natsserver.Config{Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	answers := make(chan *nats.Msg, 2)
	inbox := nc.NewInbox()
	sub, err := nc.ChanSubscribe(inbox+".*", answers)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if _, err := nc.Subscribe("echo", func(m *nats.Msg) { _ = m.Respond(nil) }); err != nil {
		t.Fatal(err)
	}
	for subject, want := range map[string]bool{"nobody": true, "echo": false} {
		if err := nc.PublishRequest(subject, inbox+"."+subject, []byte("x")); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-answers:
			if got := wire.NoResponders(m); got != want {
				t.Errorf("request to %q: NoResponders = %v, want %v (header %v)", subject, got, want, m.Header)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no answer to the request to %q", subject)
		}
	}
}
