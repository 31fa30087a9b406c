package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
)

// Context is one event of one client. It is a context.Context (cancelled
// when the worker is forced to stop) and gives the client's id and session,
// sends to the current client, and the whole Gateway API through Gateway.
type Context struct {
	context.Context
	w           *Worker
	clientID    string
	gatewayID   string
	remote      string
	redelivered bool
	log         *slog.Logger

	rawSession []byte
	original   map[string]json.RawMessage // each key as received, to compute the change
	session    bus.Session                // what handlers read and write
	replaced   bool                       // SetSession was called

	spec   []byte // HdrFrames of the frames queued for the current client
	frames []byte
	close  bool
}

func newContext(ctx context.Context, w *Worker, m *nats.Msg) *Context {
	c := &Context{
		Context:     ctx,
		w:           w,
		clientID:    m.Header.Get(bus.HdrClient),
		gatewayID:   m.Header.Get(bus.HdrGateway),
		remote:      m.Header.Get(bus.HdrRemote),
		redelivered: m.Header.Get(bus.HdrRedelivered) == "1",
		rawSession:  []byte(m.Header.Get(bus.HdrSession)),
	}
	c.log = w.log.With("client_id", c.clientID)
	return c
}

// ClientID returns the current client's id.
func (c *Context) ClientID() string { return c.clientID }

// GatewayID returns the id of the gateway holding the current client.
func (c *Context) GatewayID() string { return c.gatewayID }

// RemoteAddr returns the client's address as the gateway sees it.
func (c *Context) RemoteAddr() string { return c.remote }

// Redelivered reports whether this event was sent before to a worker that
// did not answer in time (it may have been handled already).
func (c *Context) Redelivered() bool { return c.redelivered }

// Logger returns a logger with the client id attached.
func (c *Context) Logger() *slog.Logger { return c.log }

// Worker returns the worker running the handler.
func (c *Context) Worker() *Worker { return c.w }

// Session returns the current client's session. Changes made to the
// returned map are kept: they are applied at the gateway before the
// client's next event is handled.
func (c *Context) Session() bus.Session {
	if c.session == nil {
		s, err := bus.DecodeSession(c.rawSession)
		if err != nil {
			c.log.Warn("unreadable session replaced by an empty one", "err", err)
			s = bus.Session{}
		}
		// The encoded values, not a clone: a clone would share nested maps
		// with the session and miss changes made inside them.
		_ = json.Unmarshal(c.rawSession, &c.original)
		c.session = s
	}
	return c.session
}

// SetSession replaces the current client's session.
func (c *Context) SetSession(s bus.Session) {
	c.session = s.Clone()
	if c.session == nil {
		c.session = bus.Session{}
	}
	c.replaced = true
}

// UpdateSession merges s into the current client's session; a nil value
// removes a key.
func (c *Context) UpdateSession(s bus.Session) {
	sess := c.Session()
	for k, v := range s {
		if v == nil {
			delete(sess, k)
			continue
		}
		sess[k] = v
	}
}

// SendToCurrentClient sends data to the current client. The frames travel
// with the reply to the gateway (no extra message) unless the handler uses
// Gateway() afterwards, which sends them first to keep their order.
func (c *Context) SendToCurrentClient(data []byte, opts ...bus.SendOption) error {
	f := bus.Frame{Data: data, Binary: bus.IsBinary(opts)}
	c.spec = bus.AppendFrameSpec(c.spec, f)
	c.frames = append(c.frames, data...)
	return nil
}

// CloseCurrentClient closes the current client after the handler returns,
// sending last first when it is not nil.
func (c *Context) CloseCurrentClient(last []byte, opts ...bus.SendOption) {
	if last != nil {
		_ = c.SendToCurrentClient(last, opts...)
	}
	c.close = true
}

// Gateway returns the Gateway API. Frames queued with SendToCurrentClient
// are sent before it returns, so that they reach the client before anything
// sent through the API afterwards (the gateway handles one worker's
// messages in the order they were published).
func (c *Context) Gateway() *bus.Client {
	c.flushFrames()
	return c.w.client
}

func (c *Context) flushFrames() {
	if len(c.spec) == 0 {
		return
	}
	err := bus.EachFrame(string(c.spec), c.frames, func(f bus.Frame) {
		var opts []bus.SendOption
		if f.Binary {
			opts = append(opts, bus.Binary())
		}
		if err := c.w.client.SendToClient(c.clientID, f.Data, opts...); err != nil {
			c.log.Warn("send to current client", "err", err)
		}
	})
	if err != nil {
		c.log.Error("queued frames", "err", err)
	}
	c.spec, c.frames = nil, nil
}

// reply builds the answer to the gateway: frames, session change, close.
func (c *Context) reply() *nats.Msg {
	m := &nats.Msg{Header: nats.Header{bus.HdrStatus: []string{bus.StatusOK}}, Data: c.frames}
	if len(c.spec) > 0 {
		m.Header.Set(bus.HdrFrames, string(c.spec))
	}
	if c.close {
		m.Header.Set(bus.HdrClose, "1")
	}
	switch {
	case c.replaced:
		m.Header.Set(bus.HdrSessionSet, encodeOrEmpty(c.log, c.session))
	case c.session != nil:
		if patch := sessionPatch(c.original, c.session); len(patch) > 0 {
			b, err := json.Marshal(patch)
			if err != nil {
				c.log.Error("session change not saved", "err", err)
				break
			}
			m.Header.Set(bus.HdrSessionUpd, string(b))
		}
	}
	return m
}

// sessionPatch returns the keys whose encoding changed from before to
// after, with nil for removed keys: the merge that turns before into after.
// Comparing encodings needs one Marshal per key and treats an int and the
// float64 it was decoded as alike.
func sessionPatch(before map[string]json.RawMessage, after bus.Session) map[string]any {
	patch := map[string]any{}
	for k, v := range after {
		b, err := json.Marshal(v)
		if old, ok := before[k]; !ok || err != nil || !bytes.Equal(old, b) {
			patch[k] = v
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			patch[k] = nil
		}
	}
	return patch
}

func encodeOrEmpty(log *slog.Logger, s bus.Session) string {
	b, err := bus.EncodeSession(s)
	if err != nil {
		log.Error("session not saved", "err", err)
		return "{}"
	}
	if b == nil {
		return "{}"
	}
	return string(b)
}
