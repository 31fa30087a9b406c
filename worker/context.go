package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/internal/wire"
)

// Context is one event of one client. It is a context.Context (cancelled
// when the worker is forced to stop) and gives the client's id and session,
// sends to the current client, and the whole Gateway API through Gateway.
// A Context belongs to its handler call: keep what a goroutine started by
// the handler needs (ClientID, the *bus.Client from Gateway) rather than
// the Context, whose queued frames go out when the handler returns.
type Context struct {
	context.Context
	w           *Worker
	clientID    string
	remote      string
	redelivered bool
	deadline    int64                       // Sb-Deadline in Unix milliseconds; 0: none
	log         atomic.Pointer[slog.Logger] // made on first use: most events never log

	rawSession string
	original   map[string]json.RawMessage // each key as received, to compute the change
	session    bus.Session                // what handlers read and write
	replaced   bool                       // SetSession was called

	out   *reply // frames queued for the current client and the answer; nil until needed
	close bool
}

// reply is the answer to one event while it is built: the frames queued
// for the current client and the message that carries them. Replies come
// from the worker's pool and go back once published (nats.go copies
// subject, headers and data into its buffer during PublishMsg), so
// answering allocates nothing of its own. A reply never reaches user code.
type reply struct {
	msg    nats.Msg
	values wire.ReplySlots // header values (wire.Reply.Put)
	spec   []byte          // HdrFrames of the queued frames
	frames []byte
	// What the headers say, kept as they are set so that a reply batch
	// takes them from here and nothing reads the built reply back.
	count       int    // frames in spec
	closes      bool   // HdrClose
	set, update string // HdrSessionSet, HdrSessionUpd; "" for none
}

// maxKeptReply bounds the frame buffer a pooled reply keeps.
const maxKeptReply = 64 << 10

func newReply() any {
	return &reply{msg: nats.Msg{Header: nats.Header{}}, spec: make([]byte, 0, 16), frames: make([]byte, 0, 256)}
}

// queued returns the reply being built, taking one from the pool first.
func (c *Context) queued() *reply {
	if c.out == nil {
		c.out = c.w.replies.Get().(*reply)
	}
	return c.out
}

func newContext(ctx context.Context, w *Worker, ev event) *Context {
	return &Context{
		Context:     ctx,
		w:           w,
		clientID:    ev.clientID,
		remote:      ev.remote,
		redelivered: ev.redelivered,
		deadline:    max(ev.deadline, 0),
		rawSession:  ev.session,
	}
}

// ClientID returns the current client's id.
func (c *Context) ClientID() string { return c.clientID }

// GatewayID returns the id of the gateway holding the current client: the
// part of its client id before the "-".
func (c *Context) GatewayID() string {
	gw, _, _ := wire.ParseClientID(c.clientID)
	return gw
}

// RemoteAddr returns the client's address as the gateway sees it.
func (c *Context) RemoteAddr() string { return c.remote }

// Redelivered reports whether this event was sent before to a worker that
// did not answer in time (it may have been handled already).
func (c *Context) Redelivered() bool { return c.redelivered }

// EventDeadline returns when the gateway stops waiting for the answer to
// this attempt of the event (Sb-Deadline), and false for an event that
// carries none. The worker checks it before calling the handler (an event
// it gets to later than that, plus DeadlineSkew, is skipped); a handler
// may use it to bound its own work.
func (c *Context) EventDeadline() (time.Time, bool) {
	if c.deadline == 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(c.deadline), true
}

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
		raw := []byte(c.rawSession)
		s, err := wire.DecodeSession(raw)
		if err != nil {
			c.Logger().Warn("unreadable session replaced by an empty one", "err", err)
			s = bus.Session{}
		}
		// The encoded values, not a clone: a clone would share nested maps
		// with the session and miss changes made inside them.
		_ = json.Unmarshal(raw, &c.original)
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

// UpdateSession merges s into the current client's session recursively,
// as bus.Client.UpdateSession does at the gateway: nested objects
// (map[string]any or bus.Session values) merge into nested objects, a nil
// value removes a key at any depth, anything else replaces the old value.
func (c *Context) UpdateSession(s bus.Session) {
	wire.MergeSession(c.Session(), s)
}

// SendToCurrentClient sends data to the current client. The frames travel
// with the reply to the gateway (no extra message) unless the handler uses
// Gateway() afterwards, which sends them first to keep their order.
func (c *Context) SendToCurrentClient(data []byte, opts ...bus.SendOption) error {
	f := wire.Frame{Data: data, Binary: bus.IsBinary(opts)}
	if !f.Binary && !utf8.Valid(data) {
		return fmt.Errorf("send to client %s: %w", c.clientID, bus.ErrInvalidUTF8)
	}
	r := c.queued()
	r.spec = wire.AppendFrameSpec(r.spec, f)
	r.frames = append(r.frames, data...)
	r.count++
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

// Gateway returns the Gateway API: the worker's *bus.Client, the same
// client bus.Connect returns, which reaches every gateway of the cluster
// (not the gateway of the current client; that one is only named, by
// GatewayID). The name is GatewayWorker's, whose handlers call this API as
// Gateway::sendToGroup and so on, so that c.Gateway().SendToGroup reads
// as the code it replaces; a second name for the same client would give
// readers two things to tell apart where there is one. Frames queued with
// SendToCurrentClient are sent before it returns, so that they reach the client before anything
// sent through the API afterwards (the gateway handles one worker's
// messages in the order they were published).
func (c *Context) Gateway() *bus.Client {
	c.flushFrames()
	return c.w.client
}

func (c *Context) flushFrames() {
	r := c.out
	if r == nil || len(r.spec) == 0 {
		return
	}
	err := wire.EachFrame(string(r.spec), r.frames, func(f wire.Frame) {
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
	r.spec, r.frames, r.count = r.spec[:0], r.frames[:0], 0
}

// reply builds the answer to the gateway: frames, session change, close.
func (c *Context) reply() *nats.Msg {
	// No Sb-Status: ok: gateways read a reply's status only for a
	// rejected handshake (protocol.md §5.2), so success costs no header.
	r := c.queued()
	r.closes, r.set, r.update = false, "", ""
	r.msg.Data = r.frames
	var h wire.Reply
	// One non-empty text frame, the commonest answer, needs no list
	// (protocol.md §5.2): a reply without headers costs nothing to encode
	// here or to decode at the gateway.
	if wire.NeedsFrameList(r.spec, r.frames) {
		h.Frames = string(r.spec)
	}
	if c.close {
		r.closes = true
		h.Close = "1"
	}
	switch {
	case c.replaced:
		r.set = encodeOrEmpty(c.Logger(), c.session)
		h.SessionSet = r.set
	case c.session != nil:
		if patch := sessionPatch(c.original, c.session); len(patch) > 0 {
			b, err := json.Marshal(patch)
			if err != nil {
				c.Logger().Error("session change not saved", "err", err)
				break
			}
			r.update = string(b)
			h.SessionUpdate = r.update
		}
	}
	// Put clears the header first: it is built again after a panic inside
	// a first attempt.
	h.Put(r.msg.Header, &r.values)
	return &r.msg
}

// batchParts returns what a reply batch carries of the built reply, and
// false for a reply that closes its client: that one goes alone.
func (r *reply) batchParts() (replyParts, bool) {
	if r.closes {
		return replyParts{}, false
	}
	return replyParts{spec: r.spec, body: r.frames, frames: r.count, set: r.set, update: r.update}, true
}

// release gives the reply back to the pool once it has been published.
func (c *Context) release() {
	r := c.out
	if r == nil {
		return
	}
	c.out = nil
	clear(r.msg.Header)
	r.values = wire.ReplySlots{}
	r.msg = nats.Msg{Header: r.msg.Header}
	if cap(r.frames) > maxKeptReply {
		r.frames = make([]byte, 0, 256)
	}
	r.spec, r.frames = r.spec[:0], r.frames[:0]
	r.count, r.closes, r.set, r.update = 0, false, "", ""
	c.w.replies.Put(r)
}

// sessionPatch returns the patch that turns before into after under the
// gateway's recursive merge (wire.MergeSessionJSON): the keys whose encoding
// changed, with nil for removed keys; a key whose old and new values are
// both objects gets a nested patch (so keys removed inside it are removed
// at the gateway too). Comparing encodings needs one Marshal per key and
// treats an int and the float64 it was decoded as alike.
func sessionPatch(before map[string]json.RawMessage, after bus.Session) map[string]any {
	patch := map[string]any{}
	for k, v := range after {
		b, err := json.Marshal(v)
		old, ok := before[k]
		switch {
		case ok && err == nil && bytes.Equal(old, b):
		case ok && err == nil && jsonObject(old) && jsonObject(b):
			p, changed, err := wire.DiffSessionJSON(old, b)
			if err != nil {
				patch[k] = v
			} else if changed {
				patch[k] = p
			}
		default:
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

func jsonObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{'
}

func encodeOrEmpty(log *slog.Logger, s bus.Session) string {
	b, err := wire.EncodeSession(s)
	if err != nil {
		log.Error("session not saved", "err", err)
		return "{}"
	}
	if b == nil {
		return "{}"
	}
	return string(b)
}
