package wire

import (
	"strconv"
	"unsafe"

	"github.com/nats-io/nats.go"
)

// Events (docs/protocol.md §5.1). A gateway publishes each client event
// as a request on Subjects.Event(kind) (or, resent to one worker,
// Subjects.WorkerDirect) with the reply subject GatewayReply(gateway,
// client seq, event seq); the body is the client's message, the headers
// say the rest. EventWriter writes one, ReadEvent reads it. Event batches
// carry the same facts for many events (batch.go).

// Event is what an event message says besides its kind and subjects.
type Event struct {
	ClientID string // HdrClient
	Remote   string // HdrRemote
	Session  string // HdrSession: the session as JSON, "" for none
	// Deadline is HdrDeadline in Unix milliseconds: when the gateway stops
	// waiting for this attempt. A reader gets 0 for none (a gateway older
	// than the header) and -1 for a value it cannot read.
	Deadline    int64
	Redelivered bool   // HdrRedelivered: sent again after a timeout
	Binary      bool   // HdrBinary: the body is a binary message
	Data        []byte // the client's message
}

// The headers of an event message, by index into EventWriter.vals. The
// last three are set only when they apply.
const (
	evClient = iota
	evRemote
	evDeadline
	evSession
	evBinary
	evRedelivered
	numEventHeaders
)

// eventHeader names the headers by their index.
func eventHeader(i int) string {
	switch i {
	case evClient:
		return HdrClient
	case evRemote:
		return HdrRemote
	case evDeadline:
		return HdrDeadline
	case evSession:
		return HdrSession
	case evBinary:
		return HdrBinary
	}
	return HdrRedelivered
}

// EventWriter is a reusable event message. Its header map keeps its keys
// and room between publishes, every value is a one-element slice of its
// own, and both subjects and the deadline are written into its buffers,
// so Fill allocates nothing. The strings of Msg alias those buffers and
// the Event's fields: publish Msg (nats.Conn.PublishMsg copies everything
// into its buffer before it returns) and Reset before the next Fill or
// before pooling it.
type EventWriter struct {
	Msg      nats.Msg
	vals     [numEventHeaders][1]string
	subjects []byte
	deadline []byte
}

// NewEventWriter returns an empty EventWriter.
func NewEventWriter() *EventWriter {
	return &EventWriter{Msg: nats.Msg{Header: make(nats.Header, numEventHeaders)}}
}

// Fill makes Msg the event ev of kind, published by gateway gatewayID for
// the client whose sequence token is clientSeq, as its event eventSeq.
func (e *EventWriter) Fill(s Subjects, kind, gatewayID, clientSeq string, eventSeq uint64, ev Event) {
	b := s.AppendEvent(e.subjects[:0], kind)
	n := len(b)
	b = s.AppendGatewayReply(b, gatewayID, clientSeq, eventSeq)
	e.subjects = b
	e.Msg.Subject, e.Msg.Reply = bytesString(b[:n]), bytesString(b[n:])
	// No Sb-Gateway: the client id names its gateway (protocol.md §5.1).
	e.set(evClient, ev.ClientID)
	e.set(evRemote, ev.Remote)
	e.deadline = strconv.AppendInt(e.deadline[:0], ev.Deadline, 10)
	e.set(evDeadline, bytesString(e.deadline))
	e.setOptional(evSession, ev.Session, ev.Session != "")
	e.setOptional(evBinary, "1", ev.Binary)
	e.setOptional(evRedelivered, "1", ev.Redelivered)
	e.Msg.Data = ev.Data
}

// set sets header i to v; setOptional sets it only when on and removes it
// otherwise. Neither allocates: the value slice is e's own and the map
// has room for every key.
func (e *EventWriter) set(i int, v string) {
	e.vals[i][0] = v
	e.Msg.Header[eventHeader(i)] = e.vals[i][:]
}

func (e *EventWriter) setOptional(i int, v string, on bool) {
	if !on {
		delete(e.Msg.Header, eventHeader(i))
		return
	}
	e.set(i, v)
}

// Reset drops every reference into the last event and the subject buffer.
func (e *EventWriter) Reset() {
	e.Msg.Subject, e.Msg.Reply, e.Msg.Data = "", "", nil
	for i := range e.vals {
		e.vals[i][0] = ""
	}
}

// ReadEvent reads the event of message m, the reader of Fill. The kind
// comes from the subject (Subjects.EventKind, WorkerDirectKind), the reply
// subject is m.Reply. Data aliases m.Data.
func ReadEvent(m *nats.Msg) Event {
	return Event{
		ClientID:    m.Header.Get(HdrClient),
		Remote:      m.Header.Get(HdrRemote),
		Session:     m.Header.Get(HdrSession),
		Deadline:    MessageDeadline(m),
		Redelivered: m.Header.Get(HdrRedelivered) == "1",
		Binary:      m.Header.Get(HdrBinary) == "1",
		Data:        m.Data,
	}
}

// MessageDeadline reads the HdrDeadline of an event or event batch: 0
// when it has none (a gateway that predates the header), -1 when it cannot
// be read, which a worker treats as passed (fail closed: only a broken
// sender writes such a value).
func MessageDeadline(m *nats.Msg) int64 {
	v := m.Header.Get(HdrDeadline)
	if v == "" {
		return 0
	}
	ms, ok := ParseDeadline(v)
	if !ok {
		return -1
	}
	return ms
}

// bytesString returns b as a string without copying. The caller must
// make sure b is not modified while the string is in use.
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// Header returns the headers of an event message for e, allocating: for
// the rare events sent outside EventWriter (the wsconnect request). A
// Deadline of 0 or less is left out, as are the empty and false fields.
func (e Event) Header() nats.Header {
	h := nats.Header{HdrClient: []string{e.ClientID}}
	if e.Remote != "" {
		h[HdrRemote] = []string{e.Remote}
	}
	if e.Deadline > 0 {
		h[HdrDeadline] = []string{strconv.FormatInt(e.Deadline, 10)}
	}
	if e.Session != "" {
		h[HdrSession] = []string{e.Session}
	}
	if e.Binary {
		h[HdrBinary] = []string{"1"}
	}
	if e.Redelivered {
		h[HdrRedelivered] = []string{"1"}
	}
	return h
}
