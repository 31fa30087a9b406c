package gateway

import (
	"io"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/switchboard-go/switchboard/internal/wire"
)

// The objects of one client message are recycled, so that the path
// read frame → publish → reply → write allocates nothing of ours in steady
// state: a message is read straight into a pooled event's buffer, and the
// event is published through a pooled NATS message.

// maxPooledEventBytes: an event whose buffer grew beyond this (a rare big
// message) leaves the buffer to the collector rather than keep it pooled.
const maxPooledEventBytes = 64 << 10

// eventPools recycles one gateway's events and event messages (the
// gateway owns them: no package-level state).
type eventPools struct {
	events sync.Pool // *pendingEvent
	msgs   sync.Pool // *wire.EventWriter
	local  sync.Pool // *localBuf (local.go)
}

func newEventPools() *eventPools {
	p := &eventPools{}
	p.events.New = func() any { return &pendingEvent{pool: p} }
	p.msgs.New = func() any { return wire.NewEventWriter() }
	p.local.New = func() any { return &localBuf{} }
	return p
}

// event returns an event of the given kind from the pool. Its data is
// empty but may have capacity left from an earlier message.
func (p *eventPools) event(kind string) *pendingEvent {
	ev := p.events.Get().(*pendingEvent)
	ev.kind = kind
	return ev
}

// release gives ev back to the pool. Only the holder of the last reference
// may call it: ev left the client's pipeline (or never entered it) and no
// publish of it is under way (see conn.advance and conn.publishDone).
func (ev *pendingEvent) release() {
	data := ev.data[:0]
	if cap(data) > maxPooledEventBytes {
		data = nil
	}
	pool := ev.pool
	*ev = pendingEvent{data: data, replyBuf: ev.replyBuf[:0], pool: pool}
	pool.events.Put(ev)
}

// readData appends the next n bytes of r to ev.data. On an error ev.data
// is unchanged, so a frame cut short can be read again from its start.
func (ev *pendingEvent) readData(r io.Reader, n int) error {
	buf := slices.Grow(ev.data, n)
	if _, err := io.ReadFull(r, buf[len(buf):len(buf)+n]); err != nil {
		return err
	}
	ev.data = buf[:len(buf)+n]
	return nil
}

// fillEvent makes e the message of one publish of ev, an event of c
// (the writer is wire.EventWriter; its strings alias c's fields and ev's
// data until e is Reset).
func (g *Gateway) fillEvent(e *wire.EventWriter, c *conn, ev *pendingEvent, redelivered bool) {
	e.Fill(g.subj, ev.kind, g.id, c.seqToken, ev.seq, wire.Event{
		ClientID: c.id,
		Remote:   c.remote,
		// A stored session is replaced, never modified (conn.session), so
		// the header can alias it instead of copying it.
		Session: bytesString(c.getSession()),
		// The gateway gives up on this attempt event_timeout from now (a
		// first send, a resend after "no responders", a redelivery: each
		// has a fresh deadline).
		Deadline:    time.Now().Add(g.opts.EventTimeout).UnixMilli(),
		Redelivered: redelivered,
		Binary:      ev.binary,
		Data:        ev.data,
	})
}

// bytesString returns b as a string without copying. The caller must
// make sure b is not modified while the string is in use.
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
