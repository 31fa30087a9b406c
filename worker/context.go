package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"

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
	log         atomic.Pointer[slog.Logger] // made on first use: most events never log

	rawSession string
	original   map[string]json.RawMessage // each key as received, to compute the change
	session    bus.Session                // what handlers read and write
	replaced   bool                       // SetSession was called

	spec   []byte // HdrFrames of the frames queued for the current client
	frames []byte
	close  bool

	out    nats.Msg     // the reply, see reply
	values [4][1]string // its header values: status, frames, close, session

	// Room for the usual reply (one short frame) inside the Context, which
	// is allocated anyway: spec and frames start here and grow if needed.
	specBuf  [16]byte
	frameBuf [128]byte
}

func newContext(ctx context.Context, w *Worker, m *nats.Msg) *Context {
	c := &Context{
		Context:     ctx,
		w:           w,
		clientID:    m.Header.Get(bus.HdrClient),
		gatewayID:   m.Header.Get(bus.HdrGateway),
		remote:      m.Header.Get(bus.HdrRemote),
		redelivered: m.Header.Get(bus.HdrRedelivered) == "1",
		rawSession:  m.Header.Get(bus.HdrSession),
	}
	c.spec, c.frames = c.specBuf[:0], c.frameBuf[:0]
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
func (c *Context) Logger() *slog.Logger {
	if l := c.log.Load(); l != nil {
		return l
	}
	c.log.CompareAndSwap(nil, c.w.log.With("client_id", c.clientID))
	return c.log.Load()
}

// Worker returns the worker running the handler.
func (c *Context) Worker() *Worker { return c.w }

// Session returns the current client's session. Changes made to the
// returned map are kept: they are applied at the gateway before the
// client's next event is handled.
func (c *Context) Session() bus.Session {
	if c.session == nil {
		s, err := bus.DecodeSession([]byte(c.rawSession))
		if err != nil {
			c.Logger().Warn("unreadable session replaced by an empty one", "err", err)
			s = bus.Session{}
		}
		// The encoded values, not a clone: a clone would share nested maps
		// with the session and miss changes made inside them.
		_ = json.Unmarshal([]byte(c.rawSession), &c.original)
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
			c.Logger().Warn("send to current client", "err", err)
		}
	})
	if err != nil {
		c.Logger().Error("queued frames", "err", err)
	}
	c.spec, c.frames = c.specBuf[:0], c.frameBuf[:0]
}

// reply builds the answer to the gateway: frames, session change, close.
// It lives in the Context, with a header map from the worker's pool, so
// that an answer costs no allocation of its own; release returns the map.
func (c *Context) reply() *nats.Msg {
	c.out = nats.Msg{Header: c.w.headers.Get().(nats.Header), Data: c.frames}
	c.setHeader(bus.HdrStatus, bus.StatusOK)
	if len(c.spec) > 0 {
		c.setHeader(bus.HdrFrames, string(c.spec))
	}
	if c.close {
		c.setHeader(bus.HdrClose, "1")
	}
	switch {
	case c.replaced:
		c.setHeader(bus.HdrSessionSet, encodeOrEmpty(c.Logger(), c.session))
	case c.session != nil:
		if patch := sessionPatch(c.original, c.session); len(patch) > 0 {
			b, err := json.Marshal(patch)
			if err != nil {
				c.Logger().Error("session change not saved", "err", err)
				break
			}
			c.setHeader(bus.HdrSessionUpd, string(b))
		}
	}
	return &c.out
}

// setHeader sets one header of the reply, its value slice taken from the
// Context instead of allocated: each key is set at most once.
func (c *Context) setHeader(key, value string) {
	v := c.values[len(c.out.Header)][:]
	v[0] = value
	c.out.Header[key] = v
}

// release gives the reply's header map back once it has been published
// (nats.go encodes headers during PublishMsg and keeps nothing).
func (c *Context) release(m *nats.Msg) {
	if m == &c.out && m.Header != nil {
		clear(m.Header)
		c.w.headers.Put(m.Header)
		c.out.Header = nil
	}
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
