package gateway

import (
	"io"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/nats-io/nats.go"

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
	msgs   sync.Pool // *eventMsg
}

func newEventPools() *eventPools {
	p := &eventPools{}
	p.events.New = func() any { return &pendingEvent{pool: p} }
	p.msgs.New = func() any {
		return &eventMsg{msg: nats.Msg{Header: make(nats.Header, numEventHeaders)}}
	}
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
	*ev = pendingEvent{data: data, pool: pool}
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

// The headers of an event message, by index into eventMsg.vals. The last
// three are set only when they apply.
const (
	hdrClient = iota
	hdrRemote
	hdrDeadline
	hdrSession
	hdrBinary
	hdrRedelivered
	numEventHeaders
)

var eventHeaderKeys = [numEventHeaders]string{
	wire.HdrClient, wire.HdrRemote, wire.HdrDeadline, wire.HdrSession, wire.HdrBinary, wire.HdrRedelivered,
}

// eventMsg is the NATS message an event is published as. Its header map
// keeps its keys and room between publishes, every value is a one-element
// slice of vals, and both subjects are written into subjects and the
// deadline into deadline, so filling it allocates nothing.
type eventMsg struct {
	msg      nats.Msg
	vals     [numEventHeaders][1]string
	subjects []byte
	deadline []byte
}

// setHeader sets header i to v; setOptional sets it only when on and
// removes it otherwise. Neither allocates: the value slice is e's own and
// the map has room for every key.
func (e *eventMsg) setHeader(i int, v string) {
	e.vals[i][0] = v
	e.msg.Header[eventHeaderKeys[i]] = e.vals[i][:]
}

func (e *eventMsg) setOptional(i int, v string, on bool) {
	if !on {
		delete(e.msg.Header, eventHeaderKeys[i])
		return
	}
	e.setHeader(i, v)
}

// fill makes e the message of one publish of ev, an event of c.
func (e *eventMsg) fill(g *Gateway, c *conn, ev *pendingEvent, redelivered bool) {
	e.setSubjects(g, c, ev)
	// No Sb-Gateway: the client id names its gateway (protocol.md §5.1).
	e.setHeader(hdrClient, c.id)
	e.setHeader(hdrRemote, c.remote)
	// The gateway gives up on this attempt event_timeout from now (a
	// first send, a resend after "no responders", a redelivery: each has a
	// fresh deadline). The value aliases e.deadline, as the subjects do.
	e.deadline = wire.AppendDeadline(e.deadline[:0], time.Now().Add(g.opts.EventTimeout))
	e.setHeader(hdrDeadline, bytesString(e.deadline))
	// A stored session is replaced, never modified (conn.session), so the
	// header can alias it instead of copying it.
	s := c.getSession()
	e.setOptional(hdrSession, bytesString(s), s != nil)
	e.setOptional(hdrBinary, "1", ev.binary)
	e.setOptional(hdrRedelivered, "1", redelivered)
	e.msg.Data = ev.data
}

// setSubjects writes the event subject and the reply subject into
// e.subjects and points the message at them.
//
// The strings alias e.subjects without a copy. That is safe because
// nats.Conn.PublishMsg is done with them when it returns: it encodes the
// headers into a new buffer (Msg.headerBytes), and publish() appends the
// subject and reply to nc.scratch and then the header and data bytes to
// its write buffer (natsWriter.appendBufs: append to w.bufs, or
// bytes.Buffer.Write to w.pending while reconnecting), all under nc.mu
// before returning; nothing keeps a reference to the strings or to
// msg.Data (nats.go v1.55.0, nats.go: PublishMsg, publish, appendBufs;
// re-check when upgrading nats.go). e goes back to the pool, and so can
// be refilled, only after PublishMsg returned (Gateway.publishEvent), and
// reset drops the aliases first.
func (e *eventMsg) setSubjects(g *Gateway, c *conn, ev *pendingEvent) {
	b := g.subj.AppendEvent(e.subjects[:0], ev.kind)
	n := len(b)
	b = g.subj.AppendGatewayReply(b, g.id, c.seqToken, ev.seq)
	e.subjects = b
	e.msg.Subject, e.msg.Reply = bytesString(b[:n]), bytesString(b[n:])
}

// reset drops every reference into the event, the connection and the
// subject buffer before e goes back to the pool.
func (e *eventMsg) reset() {
	e.msg.Subject, e.msg.Reply, e.msg.Data = "", "", nil
	for i := range e.vals {
		e.vals[i][0] = ""
	}
}

// bytesString returns b as a string without copying. The caller must
// make sure b is not modified while the string is in use.
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
