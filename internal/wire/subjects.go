package wire

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DefaultPrefix is the subject prefix used when none is configured.
const DefaultPrefix = "sb"

// Event kinds: the last token of an event subject.
const (
	EventWebSocketConnect = "wsconnect"
	EventConnect          = "connect"
	EventMessage          = "message"
	EventClose            = "close"
)

// WorkerQueue is the queue group every worker joins on the event subjects.
const WorkerQueue = "workers"

// ErrInvalidName is returned for an empty or invalid group or uid name.
var ErrInvalidName = errors.New("invalid name")

// Subjects builds every subject of one namespace. This file is the only
// place subjects are put together or taken apart (a test checks it): the
// builders are next to their parsers, and every other file calls them.
type Subjects struct {
	prefix string
}

// NewSubjects returns the subjects of the namespace prefix. An empty prefix
// means DefaultPrefix. The prefix must be one or more plain subject tokens.
func NewSubjects(prefix string) (Subjects, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	for _, tok := range strings.Split(prefix, ".") {
		if tok == "" || strings.ContainsAny(tok, " \t\r\n*>") {
			return Subjects{}, fmt.Errorf("subject prefix %q: %w", prefix, ErrInvalidName)
		}
	}
	return Subjects{prefix: prefix}, nil
}

// Prefix returns the namespace prefix.
func (s Subjects) Prefix() string { return s.prefix }

// Event is the subject of one kind of client event: <prefix>.ev.<kind>.
func (s Subjects) Event(kind string) string { return s.prefix + ".ev." + kind }

// AppendEvent appends Event(kind) to b: a gateway builds the subject of
// every event it publishes into a reused buffer.
func (s Subjects) AppendEvent(b []byte, kind string) []byte {
	b = append(b, s.prefix...)
	b = append(b, ".ev."...)
	return append(b, kind...)
}

// Gateway is the command subject of one gateway: <prefix>.gw.<id>.c.
func (s Subjects) Gateway(gatewayID string) string { return s.prefix + ".gw." + gatewayID + ".c" }

// GatewayReplies is the wildcard a gateway subscribes to for event replies.
func (s Subjects) GatewayReplies(gatewayID string) string {
	return s.prefix + ".gw." + gatewayID + ".r.>"
}

// GatewayReply is the reply subject of one event of one client.
func (s Subjects) GatewayReply(gatewayID, clientSeq, eventSeq string) string {
	return s.prefix + ".gw." + gatewayID + ".r." + clientSeq + "." + eventSeq
}

// AppendGatewayReply appends GatewayReply(gatewayID, clientSeq, e) to b,
// where e is eventSeq in base 36 (the gateway parses it back that way).
func (s Subjects) AppendGatewayReply(b []byte, gatewayID, clientSeq string, eventSeq uint64) []byte {
	b = append(b, s.prefix...)
	b = append(b, ".gw."...)
	b = append(b, gatewayID...)
	b = append(b, ".r."...)
	b = append(b, clientSeq...)
	b = append(b, '.')
	return strconv.AppendUint(b, eventSeq, 36)
}

// Group is the subject of a group: <prefix>.grp.<token>.
func (s Subjects) Group(group string) string { return s.prefix + ".grp." + NameToken(group) }

// Uid is the subject of a uid: <prefix>.uid.<token>.
func (s Subjects) Uid(uid string) string { return s.prefix + ".uid." + NameToken(uid) }

// All is the subject every gateway subscribes to for SendToAll and Ungroup-like
// broadcasts.
func (s Subjects) All() string { return s.prefix + ".all" }

// Query is the scatter subject every gateway answers for cluster-wide queries.
func (s Subjects) Query() string { return s.prefix + ".q" }

// Heartbeat is the subject gateways announce themselves on.
func (s Subjects) Heartbeat() string { return s.prefix + ".hb" }

// WorkerHeartbeat is the subject workers announce themselves on.
func (s Subjects) WorkerHeartbeat() string { return s.prefix + ".whb" }

// EventKind returns the kind of an event subject, <prefix>.ev.<kind>, or
// "" for a subject that is not one.
func (s Subjects) EventKind(subject string) string {
	rest, ok := strings.CutPrefix(subject, s.prefix)
	if !ok {
		return ""
	}
	kind, ok := strings.CutPrefix(rest, ".ev.")
	if !ok {
		return ""
	}
	return kind
}

// ParseGatewayReply returns the client's and the event's numbers from the
// last two tokens of a reply subject (GatewayReply). It reads only those:
// the gateway's subscription already chose the rest.
func ParseGatewayReply(subject string) (seq, evSeq uint64, ok bool) {
	last := strings.LastIndexByte(subject, '.')
	if last < 0 {
		return 0, 0, false
	}
	prev := strings.LastIndexByte(subject[:last], '.')
	if prev < 0 {
		return 0, 0, false
	}
	return ParseEventRef(subject[prev+1:last], subject[last+1:])
}

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

// ParseReplyRef parses one entry of an HdrReplies list, as AppendReplyRef
// writes it: "<client seq>.<event seq>.<frames>", base 36, 36 and 10.
func ParseReplyRef(entry string) (seq, evSeq uint64, frames int, ok bool) {
	seqTok, rest, ok1 := strings.Cut(entry, ".")
	evTok, countTok, ok2 := strings.Cut(rest, ".")
	seq, evSeq, ok3 := ParseEventRef(seqTok, evTok)
	frames, err := strconv.Atoi(countTok)
	if !ok1 || !ok2 || !ok3 || err != nil || frames < 0 {
		return 0, 0, 0, false
	}
	return seq, evSeq, frames, true
}

// gatewayReplyAndRef returns GatewayReply(gatewayID, seqTok, evTok) and
// its last two tokens, "<client seq>.<event seq>": the event's Ref in a
// reply batch, sharing the reply's memory.
func (s Subjects) gatewayReplyAndRef(gatewayID, seqTok, evTok string) (reply, ref string) {
	reply = s.GatewayReply(gatewayID, seqTok, evTok)
	return reply, reply[len(reply)-len(seqTok)-1-len(evTok):]
}

// InboundKind is a kind of subject a gateway takes on its own
// subscriptions, as GatewayInbound.Kind reports it.
type InboundKind int

// The kinds of InboundKind.
const (
	InboundFanout      InboundKind = iota // anything else: a group, uid or broadcast message
	InboundCommand                        // Gateway(id): a command
	InboundReply                          // GatewayReply(id, ...): a reply to one event
	InboundReplyBatch                     // GatewayReplyBatch(id): a reply batch
	InboundBatchBounce                    // a batch's reply subject: the server's "no responders"
)

// GatewayInbound tells apart the subjects one gateway receives on its
// dispatcher's subscriptions, without allocating.
type GatewayInbound struct {
	command, replyBatch, replies, bounces string
}

// GatewayInbound returns the classifier of gateway gatewayID's subjects.
func (s Subjects) GatewayInbound(gatewayID string) GatewayInbound {
	replies := s.GatewayReplies(gatewayID)
	bounces := s.GatewayBatchReplies(gatewayID)
	return GatewayInbound{
		command:    s.Gateway(gatewayID),
		replyBatch: s.GatewayReplyBatch(gatewayID),
		replies:    replies[:len(replies)-1], // "<p>.gw.<id>.r."
		bounces:    bounces[:len(bounces)-1], // "<p>.gw.<id>.b."
	}
}

// Kind returns which of the Inbound kinds subject is.
func (in GatewayInbound) Kind(subject string) InboundKind {
	switch {
	case subject == in.command:
		return InboundCommand
	case strings.HasPrefix(subject, in.replies):
		return InboundReply
	case subject == in.replyBatch:
		return InboundReplyBatch
	case strings.HasPrefix(subject, in.bounces):
		return InboundBatchBounce
	}
	return InboundFanout
}

// Query inboxes: a Client's query takes the gateways' answers on
// <inbox>.q and the answers to its probes of gateways that may be dead on
// <inbox>.p.<gateway id>; one subscription, QueryInboxAll, takes both.

// QueryInboxAll is the wildcard of every subject of one query's inbox.
func QueryInboxAll(inbox string) string { return inbox + ".>" }

// QueryAnswers is the reply subject of a query: <inbox>.q.
func QueryAnswers(inbox string) string { return inbox + ".q" }

// QueryProbe is the reply subject of a probe of one gateway:
// <inbox>.p.<gateway id>.
func QueryProbe(inbox, gatewayID string) string { return inbox + ".p." + gatewayID }

// ParseQueryProbe returns the gateway id of a QueryProbe subject of inbox;
// ok is false for any other subject.
func ParseQueryProbe(inbox, subject string) (gatewayID string, ok bool) {
	rest, ok := strings.CutPrefix(subject, inbox)
	if !ok {
		return "", false
	}
	return strings.CutPrefix(rest, ".p.")
}

// ValidName reports whether name can be used as a group or uid: non-empty,
// valid UTF-8, at most 1024 bytes. Anything else (spaces, dots, '*', '>')
// is allowed because names are encoded before they enter a subject.
func ValidName(name string) error {
	if name == "" || len(name) > 1024 || !utf8.ValidString(name) {
		return fmt.Errorf("name %q: %w", name, ErrInvalidName)
	}
	return nil
}

// NameToken encodes a group or uid name as one subject token (also used in
// headers). Names made only of [A-Za-z0-9_-] are used as they are; any other
// name becomes "~" followed by its unpadded base64url encoding. The encoding
// is injective because "~" never starts a plain name.
func NameToken(name string) string {
	if isPlain(name) {
		return name
	}
	return "~" + base64.RawURLEncoding.EncodeToString([]byte(name))
}

// TokenName decodes a token made by NameToken.
func TokenName(token string) (string, error) {
	if rest, ok := strings.CutPrefix(token, "~"); ok {
		b, err := base64.RawURLEncoding.DecodeString(rest)
		if err != nil {
			return "", fmt.Errorf("name token %q: %w", token, ErrInvalidName)
		}
		return string(b), nil
	}
	if !isPlain(token) {
		return "", fmt.Errorf("name token %q: %w", token, ErrInvalidName)
	}
	return token, nil
}

func isPlain(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Kinds of fan-out subjects, as Classify reports them.
const (
	KindGroup = "grp"
	KindUid   = "uid"
	KindAll   = "all"
)

// Classify tells which fan-out subject s is (KindGroup, KindUid or KindAll)
// and returns the name token of a group or uid subject. ok is false for any
// other subject.
func (s Subjects) Classify(subject string) (kind, token string, ok bool) {
	rest, found := strings.CutPrefix(subject, s.prefix+".")
	if !found {
		return "", "", false
	}
	if rest == KindAll {
		return KindAll, "", true
	}
	kind, token, found = strings.Cut(rest, ".")
	if !found || token == "" || strings.Contains(token, ".") || (kind != KindGroup && kind != KindUid) {
		return "", "", false
	}
	return kind, token, true
}

// WorkerDirect is the subject of events sent to one worker only, not to
// the queue group: <prefix>.wd.<workerID>.<kind>. A gateway sends a
// redelivery there, to a worker that announced FeatureDirect and was heard
// from recently, so that it cannot land on the worker that timed out
// (docs/protocol.md §5.9).
func (s Subjects) WorkerDirect(workerID, kind string) string {
	return s.prefix + ".wd." + workerID + "." + kind
}

// AppendWorkerDirect appends WorkerDirect(workerID, kind) to b.
func (s Subjects) AppendWorkerDirect(b []byte, workerID, kind string) []byte {
	b = append(b, s.prefix...)
	b = append(b, ".wd."...)
	b = append(b, workerID...)
	b = append(b, '.')
	return append(b, kind...)
}

// WorkerDirectKind returns the event kind of a subject built by
// WorkerDirect for workerID, or "" for any other subject.
func (s Subjects) WorkerDirectKind(subject, workerID string) string {
	rest, ok := strings.CutPrefix(subject, s.prefix)
	if !ok {
		return ""
	}
	rest, ok = strings.CutPrefix(rest, ".wd.")
	if !ok {
		return ""
	}
	kind, ok := strings.CutPrefix(rest, workerID)
	if !ok || len(kind) < 2 || kind[0] != '.' || strings.IndexByte(kind[1:], '.') >= 0 {
		return ""
	}
	return kind[1:]
}

// WorkerDirectAll is the wildcard a worker subscribes to for the events
// sent to it alone: <prefix>.wd.<workerID>.*.
func (s Subjects) WorkerDirectAll(workerID string) string { return s.prefix + ".wd." + workerID + ".*" }

// ValidWorkerID reports whether id can name a worker in a subject: one
// plain token of at most 64 bytes of [A-Za-z0-9_-]. A gateway sends
// nothing to the direct subject of a worker whose announced id is not one
// (a wildcard or a dot there would reach other subscribers).
func ValidWorkerID(id string) bool { return len(id) <= 64 && isPlain(id) }
