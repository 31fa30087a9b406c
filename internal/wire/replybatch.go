package wire

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
)

// Reply batches (docs/protocol.md, "Reply batches"). A worker that took
// events from a gateway's event batches may answer several of them in one
// NATS message to that gateway:
//
//   - subject <prefix>.gw.<gateway>.rb, no reply subject;
//   - HdrReplies lists the replies in order, each "<client seq>.<event
//     seq>.<frames>": the two tokens of the event's reply subject and how
//     many entries of the frame list belong to it (0 for none);
//   - HdrFrames is the frame list of all replies in order (absent when no
//     reply has a frame), the body all their frames;
//   - HdrSessionSet and HdrSessionUpd, when present, have one value per
//     reply, in order, empty for a reply without that change.
//
// A reply that closes its client does not go into a batch.

// ErrBadReplyBatch reports a reply batch whose reply list, frame list and
// body do not agree.
var ErrBadReplyBatch = errors.New("malformed reply batch")

// BatchedReply is one reply of a reply batch.
type BatchedReply struct {
	ClientSeq     uint64 // the client's sequence number
	EventSeq      uint64 // the event's number
	Frames        string // the reply's frame list: HdrFrames entries, "" for none
	Body          []byte // the reply's frames, aliasing the batch's body
	SessionSet    string // the new session, "" for none (HdrSessionSet)
	SessionUpdate string // the session patch, "" for none (HdrSessionUpd)
}

// ReplyBatchScanner walks the replies of a reply batch one at a time,
// like FrameScanner walks frames: no callback and no allocation. A copy of
// a scanner scans independently, so a caller can check a whole batch
// first and then apply it.
type ReplyBatchScanner struct {
	refs    string // HdrReplies entries not yet scanned
	spec    string // HdrFrames entries not yet scanned
	body    []byte
	off     int      // where the next reply's frames start in body
	sets    []string // HdrSessionSet values, one per reply, or none
	updates []string // HdrSessionUpd values, one per reply, or none
	i       int      // the index of the next reply
	reply   BatchedReply
	err     error
}

// NewReplyBatchScanner returns a scanner over the replies of reply batch m.
func NewReplyBatchScanner(m *nats.Msg) ReplyBatchScanner {
	s := ReplyBatchScanner{
		refs:    m.Header.Get(HdrReplies),
		spec:    m.Header.Get(HdrFrames),
		body:    m.Data,
		sets:    m.Header.Values(HdrSessionSet),
		updates: m.Header.Values(HdrSessionUpd),
	}
	n := 0
	if s.refs != "" {
		n = strings.Count(s.refs, ",") + 1
	}
	if len(s.sets) != 0 && len(s.sets) != n || len(s.updates) != 0 && len(s.updates) != n {
		s.fail(fmt.Sprintf("%d replies, %d session sets and %d session updates", n, len(s.sets), len(s.updates)))
	}
	return s
}

// Scan advances to the next reply. It returns false at the end of the
// list or at the first entry that is malformed or does not fit the frame
// list and body; Err tells which.
func (s *ReplyBatchScanner) Scan() bool {
	if s.err != nil {
		return false
	}
	if s.refs == "" {
		if s.spec != "" || s.off != len(s.body) {
			s.fail("frames left after the last reply")
		}
		return false
	}
	entry, rest, _ := strings.Cut(s.refs, ",")
	s.refs = rest
	seq, evSeq, count, ok := ParseReplyRef(entry)
	if !ok {
		s.fail(fmt.Sprintf("reply entry %q", entry))
		return false
	}
	// The reply's frames are the next count entries of the frame list.
	sc := FrameScanner{spec: s.spec, body: s.body, off: s.off, done: s.spec == ""}
	for range count {
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				s.fail(err.Error())
			} else {
				s.fail(fmt.Sprintf("reply %q has more frames than the frame list", entry))
			}
			return false
		}
	}
	frames := s.spec[:len(s.spec)-len(sc.spec)]
	s.spec = sc.spec
	if frames != "" && s.spec != "" {
		frames = frames[:len(frames)-1] // the comma before the next reply's frames
	}
	s.reply = BatchedReply{ClientSeq: seq, EventSeq: evSeq, Frames: frames, Body: s.body[s.off:sc.off:sc.off]}
	if len(s.sets) != 0 {
		s.reply.SessionSet = s.sets[s.i]
	}
	if len(s.updates) != 0 {
		s.reply.SessionUpdate = s.updates[s.i]
	}
	s.off = sc.off
	s.i++
	return true
}

func (s *ReplyBatchScanner) fail(what string) {
	s.err = fmt.Errorf("%w: %s", ErrBadReplyBatch, what)
}

// Reply returns the reply the last successful Scan found.
func (s *ReplyBatchScanner) Reply() BatchedReply { return s.reply }

// Err returns the first malformed entry or mismatch, or nil.
func (s *ReplyBatchScanner) Err() error { return s.err }

// SetReplyHeader fills h, cleared by the caller, for a reply batch or a
// reply sent alone (docs/protocol.md §5.2): HdrReplies when refs is not
// empty (a batch), HdrFrames when frames is not empty, and one
// HdrSessionSet / HdrSessionUpd value per reply when sets / updates is
// not nil. Its readers are ReadReply and NewReplyBatchScanner.
func SetReplyHeader(h nats.Header, refs, frames []byte, sets, updates []string) {
	if len(refs) > 0 {
		h[HdrReplies] = []string{string(refs)}
	}
	if len(frames) > 0 {
		h[HdrFrames] = []string{string(frames)}
	}
	if sets != nil {
		h[HdrSessionSet] = sets
	}
	if updates != nil {
		h[HdrSessionUpd] = updates
	}
}

// SessionHeaderBytes is about what a reply's two session header lines
// (Sb-Session-Set, Sb-Session-Update) cost beyond their values: a sender
// sizing a reply batch adds it per reply that changes a session.
const SessionHeaderBytes = 2 * len(HdrSessionUpd+": \r\n")
