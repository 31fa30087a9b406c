// Command echo is the README's example: a complete Switchboard server.
//
//	go run ./examples/echo start
package main

import (
	"github.com/switchboard-go/switchboard"
	"github.com/switchboard-go/switchboard/worker"
)

// Events are the worker callbacks; implement the ones you need.
type Events struct{}

// OnConnect greets a new client.
func (Events) OnConnect(c *worker.Context) error {
	return c.SendToCurrentClient([]byte("hello " + c.ClientID()))
}

// OnMessage sends each message back to its sender.
func (Events) OnMessage(c *worker.Context, m worker.Message) error {
	return c.SendToCurrentClient(m.Data)
}

func main() { switchboard.Main(Events{}) }
