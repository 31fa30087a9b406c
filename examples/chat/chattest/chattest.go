// Package chattest is the chat demo's behaviour as a test, run against any
// chat worker (the Go one in examples/chat, the JavaScript one in
// examples/node-worker) behind a real gateway.
package chattest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/examples/chat"
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
)

// Client is one chat user on a real WebSocket.
type Client struct {
	t  testing.TB
	WS *sbtest.WS
}

// Dial connects a chat user to the gateway.
func Dial(t testing.TB, g *gateway.Gateway) Client {
	return Client{t: t, WS: sbtest.Dial(t, g, "/ws")}
}

// Send sends one chat frame.
func (c Client) Send(f chat.Frame) {
	b, _ := json.Marshal(f)
	c.WS.Send(string(b))
}

// Next reads frames until one of type typ arrives.
func (c Client) Next(typ string) chat.Frame {
	c.t.Helper()
	for {
		var f chat.Frame
		if err := json.Unmarshal([]byte(c.WS.Read(5*time.Second)), &f); err != nil {
			c.t.Fatal(err)
		}
		if f.Type == typ {
			return f
		}
	}
}

// Scenario checks the chat with two users: errors before login, welcome
// with the room's users, join notice, messages to the room (the sender
// included), room switch with leave notice and a new welcome, and the
// leave notice when a user disconnects.
func Scenario(t *testing.T, g *gateway.Gateway) {
	t.Helper()
	alice, bob := Dial(t, g), Dial(t, g)
	alice.Send(chat.Frame{Type: "say", Text: "too early"})
	if e := alice.Next("error"); e.Message != "login first" {
		t.Fatalf("error = %q", e.Message)
	}
	alice.Send(chat.Frame{Type: "login", Name: "alice"})
	if w := alice.Next("welcome"); w.Room != "lobby" || len(w.Users) != 1 || w.Users[0].Name != "alice" {
		t.Fatalf("welcome = %+v", w)
	}
	bob.Send(chat.Frame{Type: "login", Name: "bob", Room: "lobby"})
	if w := bob.Next("welcome"); len(w.Users) != 2 {
		t.Fatalf("bob's welcome lists %+v, want alice and bob", w.Users)
	}
	if j := alice.Next("join"); j.Name != "bob" {
		t.Fatalf("join = %+v", j)
	}
	bob.Send(chat.Frame{Type: "say", Text: "hi alice"})
	if s := alice.Next("say"); s.Name != "bob" || s.Text != "hi alice" || s.Time.IsZero() {
		t.Fatalf("alice got %+v", s)
	}
	if s := bob.Next("say"); s.Text != "hi alice" {
		t.Fatalf("bob's own message: %+v", s)
	}
	bob.Send(chat.Frame{Type: "room", Room: "kitchen"})
	if l := alice.Next("leave"); l.Name != "bob" || l.Room != "lobby" {
		t.Fatalf("leave = %+v", l)
	}
	if w := bob.Next("welcome"); w.Room != "kitchen" || len(w.Users) != 1 {
		t.Fatalf("kitchen welcome = %+v", w)
	}
	alice.Send(chat.Frame{Type: "room", Room: "kitchen"})
	alice.Next("welcome")
	bob.Next("join")
	// Logging in again under a new name: the room hears the old name leave
	// and the new one join.
	alice.Send(chat.Frame{Type: "login", Name: "alicia", Room: "kitchen"})
	if l := bob.Next("leave"); l.Name != "alice" {
		t.Fatalf("leave on a new login = %+v, want the old name", l)
	}
	if j := bob.Next("join"); j.Name != "alicia" {
		t.Fatalf("join on a new login = %+v", j)
	}
	alice.Next("welcome")
	_ = alice.WS.Conn.Close()
	if l := bob.Next("leave"); l.Name != "alicia" {
		t.Fatalf("leave after close = %+v", l)
	}
}

// LoginTogether logs two users into a new room at the same moment, n
// times (a new room each time, one user on each gateway), and checks that
// each learns of the other: from the user list of its welcome, or from the
// other's join notice, which may arrive before the welcome.
func LoginTogether(t *testing.T, g1, g2 *gateway.Gateway, n int) {
	t.Helper()
	for i := range n {
		room := fmt.Sprintf("together-%d", i)
		a, b := Dial(t, g1), Dial(t, g2)
		nameA, nameB := fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i)
		a.Send(chat.Frame{Type: "login", Name: nameA, Room: room})
		b.Send(chat.Frame{Type: "login", Name: nameB, Room: room})
		for _, u := range []struct {
			c         Client
			me, other string
		}{{a, nameA, nameB}, {b, nameB, nameA}} {
			if err := u.c.learnOf(u.other); err != nil {
				t.Fatalf("login %d in %s: %s never learnt of %s: %v", i, room, u.me, u.other, err)
			}
		}
		_ = a.WS.Conn.Close()
		_ = b.WS.Conn.Close()
	}
}

// learnOf reads frames until the welcome has come and other was either in
// its user list or announced by a join notice (before or after it).
func (c Client) learnOf(other string) error {
	welcomed, seen := false, false
	var got []string
	deadline := time.Now().Add(5 * time.Second)
	for !welcomed || !seen {
		s, err := c.WS.ReadErr(time.Until(deadline))
		if err != nil {
			return fmt.Errorf("%w (frames: %v)", err, got)
		}
		got = append(got, s)
		var f chat.Frame
		if err := json.Unmarshal([]byte(s), &f); err != nil {
			return err
		}
		switch f.Type {
		case "welcome":
			welcomed = true
			for _, u := range f.Users {
				seen = seen || u.Name == other
			}
		case "join":
			seen = seen || f.Name == other
		}
	}
	return nil
}
