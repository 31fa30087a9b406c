package bus

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

// Subjects builds every subject of one namespace. It is the only place
// subjects are put together.
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

// WorkerDirectAll is the wildcard a worker subscribes to for the events
// sent to it alone: <prefix>.wd.<workerID>.*.
func (s Subjects) WorkerDirectAll(workerID string) string { return s.prefix + ".wd." + workerID + ".*" }

// ValidWorkerID reports whether id can name a worker in a subject: one
// plain token of at most 64 bytes of [A-Za-z0-9_-]. A gateway sends
// nothing to the direct subject of a worker whose announced id is not one
// (a wildcard or a dot there would reach other subscribers).
func ValidWorkerID(id string) bool { return len(id) <= 64 && isPlain(id) }
