package bus

import (
	"errors"
	"fmt"
	"strconv"
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

// HdrReplies lists the replies of a reply batch.
const HdrReplies = "Sb-Replies"

// ErrBadReplyBatch reports a reply batch whose reply list, frame list and
// body do not agree.
var ErrBadReplyBatch = errors.New("malformed reply batch")

// ParseEventRef parses the two base-36 tokens that name an event in a
// reply subject, a batch reply subject or a reply batch entry: the
// client's sequence number and the event's.
func ParseEventRef(seqTok, evTok string) (seq, evSeq uint64, ok bool) {
	seq, err1 := strconv.ParseUint(seqTok, 36, 64)
	evSeq, err2 := strconv.ParseUint(evTok, 36, 64)
	return seq, evSeq, err1 == nil && err2 == nil
}

// GatewayReplyBatch is the subject a gateway takes reply batches on:
// <prefix>.gw.<id>.rb.
func (s Subjects) GatewayReplyBatch(gatewayID string) string {
	return s.prefix + ".gw." + gatewayID + ".rb"
}

// AppendReplyRef appends one entry of an HdrReplies list to b: ref is the
// event's "<client seq>.<event seq>" (BatchEvent.Ref), frames how many
// frames of the batch's frame list are its reply.
func AppendReplyRef(b []byte, ref string, frames int) []byte {
	if len(b) > 0 {
		b = append(b, ',')
	}
	b = append(b, ref...)
	b = append(b, '.')
	return strconv.AppendInt(b, int64(frames), 10)
}

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
	seqTok, rest, ok1 := strings.Cut(entry, ".")
	evTok, countTok, ok2 := strings.Cut(rest, ".")
	seq, evSeq, ok3 := ParseEventRef(seqTok, evTok)
	count, err := strconv.Atoi(countTok)
	if !ok1 || !ok2 || !ok3 || err != nil || count < 0 {
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
