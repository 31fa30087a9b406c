package chat_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard-go/switchboard/examples/chat"
	"github.com/switchboard-go/switchboard/examples/chat/chattest"
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
)

func TestChat(t *testing.T) {
	ns := sbtest.NATS(t)
	static, err := chat.StaticFS()
	if err != nil {
		t.Fatal(err)
	}
	g := sbtest.Gateway(t, ns.ClientURL(), gateway.HTTPHandler(http.FileServerFS(static)))
	sbtest.Worker(t, ns.ClientURL(), chat.Events{})
	sbtest.Worker(t, ns.ClientURL(), chat.Events{})

	resp, err := http.Get("http://" + g.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "Switchboard chat") {
		t.Fatalf("GET /: %d", resp.StatusCode)
	}

	chattest.Scenario(t, g)
}

// TestChatLoginTogether: two users entering the same room at the same
// moment, on two gateways served by two workers, always learn of each
// other (50 times, a new room each time).
func TestChatLoginTogether(t *testing.T) {
	ns := sbtest.NATS(t)
	g1 := sbtest.Gateway(t, ns.ClientURL())
	g2 := sbtest.Gateway(t, ns.ClientURL())
	sbtest.Worker(t, ns.ClientURL(), chat.Events{})
	sbtest.Worker(t, ns.ClientURL(), chat.Events{})
	chattest.LoginTogether(t, g1, g2, 50)
}
