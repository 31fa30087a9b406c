// Package chat is Switchboard's demo: a chat with nicknames and rooms.
// Events is the worker; the page in static/ is served by the gateway.
package chat

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/worker"
)

// Events is the chat worker: login, say, room switch, join/leave notices.
type Events struct{}

// User is one entry of a room's user list.
type User struct {
	ClientID string `json:"client_id"`
	Name     string `json:"name"`
}

// Frame is every message of the chat protocol, in both directions.
type Frame struct {
	Type     string    `json:"type"`
	ClientID string    `json:"client_id,omitempty"`
	Name     string    `json:"name,omitempty"`
	Room     string    `json:"room,omitempty"`
	Text     string    `json:"text,omitempty"`
	Message  string    `json:"message,omitempty"`
	Time     time.Time `json:"time,omitzero"`
	Users    []User    `json:"users,omitempty"`
}

const maxName, maxText = 32, 2000

// OnMessage handles one chat frame.
func (Events) OnMessage(c *worker.Context, m worker.Message) error {
	var in Frame
	if err := json.Unmarshal(m.Data, &in); err != nil {
		return reply(c, Frame{Type: "error", Message: "malformed message"})
	}
	s := c.Session()
	name, _ := s["name"].(string)
	room, _ := s["room"].(string)
	switch in.Type {
	case "login":
		newName := strings.TrimSpace(in.Name)
		if newName == "" || len(newName) > maxName {
			return reply(c, Frame{Type: "error", Message: "name required (1-32 characters)"})
		}
		if room != "" { // logging in again: the old room hears the old name leave
			if err := leave(c, name, room); err != nil {
				return err
			}
		}
		return enter(c, newName, roomOrLobby(in.Room))
	case "room":
		if name == "" {
			return reply(c, Frame{Type: "error", Message: "login first"})
		}
		if err := leave(c, name, room); err != nil {
			return err
		}
		return enter(c, name, roomOrLobby(in.Room))
	case "say":
		if name == "" {
			return reply(c, Frame{Type: "error", Message: "login first"})
		}
		text := in.Text
		if len(text) > maxText {
			text = text[:maxText]
		}
		return send(c, room, Frame{Type: "say", ClientID: c.ClientID(), Name: name, Room: room, Text: text, Time: now()})
	case "pong":
		return nil
	default:
		return reply(c, Frame{Type: "error", Message: fmt.Sprintf("unknown type %q", in.Type)})
	}
}

// OnClose tells the room that the user left.
func (Events) OnClose(c *worker.Context) error {
	s := c.Session()
	name, _ := s["name"].(string)
	room, _ := s["room"].(string)
	if name == "" || room == "" {
		return nil
	}
	return send(c, room, Frame{Type: "leave", ClientID: c.ClientID(), Name: name, Room: room, Time: now()})
}

// enter puts the user in room. Two users entering at the same moment must
// learn of each other, so the order matters: the name goes into the
// session at the gateway (the Session map is applied only when the handler
// returns, too late for the other user's list), then the user joins, then
// announces itself, then lists the room. Of two users A and B entering
// together, if A's list misses B, B joined after A had joined, so A hears
// B's join notice. The notice may reach A before A's welcome: clients add
// the welcome's users to those they heard of (static/index.html does).
func enter(c *worker.Context, name, room string) error {
	s := c.Session()
	s["name"], s["room"] = name, room
	api := c.Gateway()
	if err := api.UpdateSession(c, c.ClientID(), bus.Session{"name": name, "room": room}); err != nil {
		return fmt.Errorf("name %q in room %q: %w", name, room, err)
	}
	if err := api.JoinGroup(c, c.ClientID(), room); err != nil {
		return fmt.Errorf("join %q: %w", room, err)
	}
	if err := send(c, room, Frame{Type: "join", ClientID: c.ClientID(), Name: name, Room: room, Time: now()}, bus.Exclude(c.ClientID())); err != nil {
		return err
	}
	sessions, err := api.ClientSessionsByGroup(c, room)
	if err != nil {
		return fmt.Errorf("list room %q: %w", room, err)
	}
	users := []User{{ClientID: c.ClientID(), Name: name}}
	for id, sess := range sessions {
		if n, _ := sess["name"].(string); n != "" && id != c.ClientID() {
			users = append(users, User{ClientID: id, Name: n})
		}
	}
	slices.SortFunc(users, func(a, b User) int { return strings.Compare(a.Name, b.Name) })
	return reply(c, Frame{Type: "welcome", ClientID: c.ClientID(), Name: name, Room: room, Users: users})
}

func leave(c *worker.Context, name, room string) error {
	if room == "" {
		return nil
	}
	if err := c.Gateway().LeaveGroup(c, c.ClientID(), room); err != nil {
		return fmt.Errorf("leave %q: %w", room, err)
	}
	return send(c, room, Frame{Type: "leave", ClientID: c.ClientID(), Name: name, Room: room, Time: now()})
}

func reply(c *worker.Context, f Frame) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return c.SendToCurrentClient(b)
}

func send(c *worker.Context, room string, f Frame, opts ...bus.SendOption) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return c.Gateway().SendToGroup(room, b, opts...)
}

func roomOrLobby(room string) string {
	room = strings.TrimSpace(room)
	if room == "" || len(room) > maxName {
		return "lobby"
	}
	return room
}

func now() time.Time { return time.Now().UTC().Truncate(time.Second) }

// compile-time checks of the callbacks the demo implements.
var (
	_ worker.MessageHandler = Events{}
	_ worker.CloseHandler   = Events{}
)
