package wire

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
		reply, ref := s.gatewayReplyAndRef(gw, entries[2*i], entries[2*i+1])
		ev := BatchEvent{
			ClientID: ClientID(gw, seq),
			Reply:    reply,
			Gateway:  gw,
			Ref:      ref,
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

// SetBatchHeader fills h, the header of an event batch, the writer whose
// reader is SplitEventBatch: frames is the one-element HdrFrames value,
// remotes one HdrRemote per event, deadline the one-element HdrDeadline
// value, sessions one HdrSession per event. A nil deadline or sessions
// leaves that header out. The slices are stored, not copied, so a
// publisher that reuses its buffers does not allocate; they must stay
// unchanged until the message is published.
func SetBatchHeader(h nats.Header, frames, remotes, deadline, sessions []string) {
	h[HdrFrames] = frames
	h[HdrRemote] = remotes
	if deadline != nil {
		h[HdrDeadline] = deadline
	} else {
		delete(h, HdrDeadline)
	}
	if sessions != nil {
		h[HdrSession] = sessions
	} else {
		delete(h, HdrSession)
	}
}
