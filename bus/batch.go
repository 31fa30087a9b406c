package bus

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
)

// Event batches (docs/protocol.md, "Event batches"). A busy gateway puts
// the message events that wait at one moment into one NATS message:
//
//   - subject <prefix>.evb.message, taken by the workers queue group of the
//     workers that subscribe to it;
//   - reply <prefix>.gw.<gateway>.b.<client seq>.<event seq>… with one pair
//     of tokens per event, in order. Event i's own reply subject is
//     GatewayReply(gateway, client seq i, event seq i) and its client id is
//     ClientID(gateway, client seq i); the batch's reply subject itself
//     only ever receives the server's "no responders";
//   - HdrFrames lists the events' bodies (the frame list of a reply: a "b"
//     marks a binary message), the body is the bodies in order;
//   - HdrRemote has one value per event, in order; HdrSession too, an
//     empty value for a client without a session, or is absent when no
//     client of the batch has one.

// ErrBadBatch reports an event batch whose headers, reply subject and body
// do not agree.
var ErrBadBatch = errors.New("malformed event batch")

// EventBatch is the subject of batched events of one kind:
// <prefix>.evb.<kind>. Only message events are batched.
func (s Subjects) EventBatch(kind string) string { return s.prefix + ".evb." + kind }

// AppendEventBatch appends EventBatch(kind) to b.
func (s Subjects) AppendEventBatch(b []byte, kind string) []byte {
	b = append(b, s.prefix...)
	b = append(b, ".evb."...)
	return append(b, kind...)
}

// GatewayBatchReplies is the wildcard a gateway subscribes to for the "no
// responders" answers to its batches.
func (s Subjects) GatewayBatchReplies(gatewayID string) string {
	return s.prefix + ".gw." + gatewayID + ".b.>"
}

// AppendGatewayBatchReply appends the start of a batch's reply subject,
// <prefix>.gw.<gateway>.b, to b; AppendBatchEntry adds each event.
func (s Subjects) AppendGatewayBatchReply(b []byte, gatewayID string) []byte {
	b = append(b, s.prefix...)
	b = append(b, ".gw."...)
	b = append(b, gatewayID...)
	return append(b, ".b"...)
}

// AppendBatchEntry appends one event's tokens to a batch reply subject:
// the client's sequence token and the event sequence in base 36.
func AppendBatchEntry(b []byte, clientSeq string, eventSeq uint64) []byte {
	b = append(b, '.')
	b = append(b, clientSeq...)
	b = append(b, '.')
	return strconv.AppendUint(b, eventSeq, 36)
}

// BatchReply splits a batch reply subject into the gateway id and the
// event entries: client sequence token and event sequence token, in pairs.
func (s Subjects) BatchReply(subject string) (gatewayID string, entries []string, err error) {
	rest, ok := strings.CutPrefix(subject, s.prefix+".gw.")
	if !ok {
		return "", nil, fmt.Errorf("%w: reply subject %q", ErrBadBatch, subject)
	}
	gatewayID, rest, ok = strings.Cut(rest, ".b.")
	if !ok || gatewayID == "" || strings.Contains(gatewayID, ".") {
		return "", nil, fmt.Errorf("%w: reply subject %q", ErrBadBatch, subject)
	}
	entries = strings.Split(rest, ".")
	if len(entries)%2 != 0 {
		return "", nil, fmt.Errorf("%w: reply subject %q", ErrBadBatch, subject)
	}
	for _, e := range entries {
		if e == "" {
			return "", nil, fmt.Errorf("%w: reply subject %q", ErrBadBatch, subject)
		}
	}
	return gatewayID, entries, nil
}

// BatchEvent is one event of a batch, as it would have been sent alone.
type BatchEvent struct {
	ClientID string
	Reply    string // the event's own reply subject
	Gateway  string // the gateway that sent the batch
	Ref      string // "<client seq>.<event seq>", the end of Reply: the event in a reply batch
	Remote   string
	Session  string // the client's session as JSON, "" for none
	Data     []byte // aliases the batch's body
	Binary   bool
}

// SplitEventBatch calls fn for each event of a batch message m, in order,
// after checking that its reply subject, headers and body agree.
func (s Subjects) SplitEventBatch(m *nats.Msg, fn func(BatchEvent)) error {
	gw, entries, err := s.BatchReply(m.Reply)
	if err != nil {
		return err
	}
	n := len(entries) / 2
	remotes, sessions := m.Header.Values(HdrRemote), m.Header.Values(HdrSession)
	if len(remotes) != n || (len(sessions) != 0 && len(sessions) != n) {
		return fmt.Errorf("%w: %d events, %d remote and %d session values", ErrBadBatch, n, len(remotes), len(sessions))
	}
	spec := m.Header.Get(HdrFrames)
	if strings.Count(spec, ",")+1 != n {
		return fmt.Errorf("%w: %d events and frame list %q", ErrBadBatch, n, spec)
	}
	events := make([]BatchEvent, 0, n)
	sc := FrameScanner{spec: spec, body: m.Data} // a list, never the single-frame shorthand
	for i := 0; sc.Scan(); i++ {
		seq, err := strconv.ParseUint(entries[2*i], 36, 64)
		if err != nil {
			return fmt.Errorf("%w: client token %q", ErrBadBatch, entries[2*i])
		}
		reply := s.GatewayReply(gw, entries[2*i], entries[2*i+1])
		ev := BatchEvent{
			ClientID: ClientID(gw, seq),
			Reply:    reply,
			Gateway:  gw,
			Ref:      reply[len(reply)-len(entries[2*i])-1-len(entries[2*i+1]):],
			Remote:   remotes[i],
			Data:     sc.Frame().Data,
			Binary:   sc.Frame().Binary,
		}
		if len(sessions) != 0 {
			ev.Session = sessions[i]
		}
		events = append(events, ev)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: %v", ErrBadBatch, err)
	}
	if len(events) != n {
		return fmt.Errorf("%w: %d events and frame list %q", ErrBadBatch, n, spec)
	}
	for _, ev := range events {
		fn(ev)
	}
	return nil
}
