package worker

import (
	"fmt"

	"github.com/switchboard-go/switchboard/bus"
)

// Message is one message from a client.
type Message struct {
	Data   []byte
	Binary bool
}

// Text returns the message as a string.
func (m Message) Text() string { return string(m.Data) }

// MessageHandler handles client messages (onMessage).
type MessageHandler interface {
	OnMessage(c *Context, m Message) error
}

// ConnectHandler runs when a client has connected (onConnect).
type ConnectHandler interface {
	OnConnect(c *Context) error
}

// CloseHandler runs after a client disconnected (onClose). The session is
// still readable; the client can no longer be sent to.
type CloseHandler interface {
	OnClose(c *Context) error
}

// WebSocketConnectHandler runs during the WebSocket handshake, before
// OnConnect (onWebSocketConnect). Returning an error rejects the client:
// a *RejectError chooses the HTTP status, any other error gives 403.
type WebSocketConnectHandler interface {
	OnWebSocketConnect(c *Context, hs bus.Handshake) error
}

// StartHandler runs when the worker starts, before it takes events
// (onWorkerStart). An error stops the start.
type StartHandler interface {
	OnWorkerStart(w *Worker) error
}

// StopHandler runs when the worker has drained (onWorkerStop).
type StopHandler interface {
	OnWorkerStop(w *Worker)
}

// RejectError rejects a WebSocket handshake with an HTTP status.
type RejectError struct {
	Status int
	Reason string
}

func (e *RejectError) Error() string { return fmt.Sprintf("rejected (%d): %s", e.Status, e.Reason) }

// Reject returns an error for OnWebSocketConnect that answers the handshake
// with status and reason.
func Reject(status int, reason string) error { return &RejectError{Status: status, Reason: reason} }

// implementsAny reports whether events has at least one client callback.
func implementsAny(events any) bool {
	switch events.(type) {
	case MessageHandler, ConnectHandler, CloseHandler, WebSocketConnectHandler:
		return true
	}
	return false
}
