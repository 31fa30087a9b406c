package chat_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/examples/chat"
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
)

type client struct {
	t  *testing.T
	ws *sbtest.WS
}

func (c client) send(f chat.Frame) {
	b, _ := json.Marshal(f)
	c.ws.Send(string(b))
}

// next reads frames until one of type typ arrives.
func (c client) next(typ string) chat.Frame {
	c.t.Helper()
	for {
		var f chat.Frame
		if err := json.Unmarshal([]byte(c.ws.Read(5*time.Second)), &f); err != nil {
			c.t.Fatal(err)
		}
		if f.Type == typ {
			return f
		}
	}
}

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

	alice := client{t, sbtest.Dial(t, g, "/ws")}
	bob := client{t, sbtest.Dial(t, g, "/ws")}
	alice.send(chat.Frame{Type: "say", Text: "too early"})
	if e := alice.next("error"); e.Message != "login first" {
		t.Fatalf("error = %q", e.Message)
	}
	alice.send(chat.Frame{Type: "login", Name: "alice"})
	w := alice.next("welcome")
	if w.Room != "lobby" || len(w.Users) != 1 || w.Users[0].Name != "alice" {
		t.Fatalf("welcome = %+v", w)
	}
	bob.send(chat.Frame{Type: "login", Name: "bob", Room: "lobby"})
	if w := bob.next("welcome"); len(w.Users) != 2 {
		t.Fatalf("bob's welcome lists %+v, want alice and bob", w.Users)
	}
	if j := alice.next("join"); j.Name != "bob" {
		t.Fatalf("join = %+v", j)
	}
	bob.send(chat.Frame{Type: "say", Text: "hi alice"})
	if s := alice.next("say"); s.Name != "bob" || s.Text != "hi alice" {
		t.Fatalf("alice got %+v", s)
	}
	if s := bob.next("say"); s.Text != "hi alice" {
		t.Fatalf("bob's own message: %+v", s)
	}
	bob.send(chat.Frame{Type: "room", Room: "kitchen"})
	if l := alice.next("leave"); l.Name != "bob" || l.Room != "lobby" {
		t.Fatalf("leave = %+v", l)
	}
	if w := bob.next("welcome"); w.Room != "kitchen" || len(w.Users) != 1 {
		t.Fatalf("kitchen welcome = %+v", w)
	}
	alice.send(chat.Frame{Type: "room", Room: "kitchen"})
	alice.next("welcome")
	bob.next("join")
	_ = alice.ws.Conn.Close()
	if l := bob.next("leave"); l.Name != "alice" {
		t.Fatalf("leave after close = %+v", l)
	}
}
