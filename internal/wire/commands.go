package wire

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/nats-io/nats.go"
)

// Errors a command's reply decodes to (package bus exports the same values).
var (
	// ErrClientNotFound: no live client has this id.
	ErrClientNotFound = errors.New("client not found")
	// ErrInvalidClientID: the string is not a Switchboard client id.
	ErrInvalidClientID = errors.New("invalid client id")
	// ErrRemote: a gateway answered a command with an error.
	ErrRemote = errors.New("gateway error")
)

// A command is a request to one gateway's Gateway(id) subject with HdrOp
// and HdrClient; the gateway answers with HdrStatus (and HdrError,
// HdrReason on an error). ReplyError reads that answer.

// ReplyError turns an error reply (HdrStatus "error") into an error value.
func ReplyError(m *nats.Msg) error {
	if m.Header.Get(HdrStatus) != StatusError {
		return nil
	}
	switch m.Header.Get(HdrError) {
	case CodeNotFound:
		return ErrClientNotFound
	case CodeBadName:
		return fmt.Errorf("%w: %s", ErrInvalidName, m.Header.Get(HdrReason))
	}
	return fmt.Errorf("%w: %s", ErrRemote, m.Header.Get(HdrReason))
}

// Reply is the header part of a worker's reply to one event (docs/protocol.md
// §5), read straight into fields (no maps: this is on the reply → socket
// path). A reply batch carries the same frames and session changes in its
// own headers (replybatch.go).
type Reply struct {
	Status        string // StatusOK (or absent), StatusError, StatusReject
	Frames        string // the frame spec of a multi-frame body (EachFrame)
	Close         string // "1": close the client after the frames
	SessionSet    string // JSON object replacing the session
	SessionUpdate string // JSON object merged into the session
	Reason        string // a reject's or an error's reason
	HTTPStatus    string // a rejected handshake's status code
}

// ReadReply reads the headers of a reply.
func ReadReply(m *nats.Msg) Reply {
	h := m.Header
	return Reply{
		Status:        h.Get(HdrStatus),
		Frames:        h.Get(HdrFrames),
		Close:         h.Get(HdrClose),
		SessionSet:    h.Get(HdrSessionSet),
		SessionUpdate: h.Get(HdrSessionUpd),
		Reason:        h.Get(HdrReason),
		HTTPStatus:    h.Get(HdrHTTPStatus),
	}
}

// ReplySlots holds the value slices of a reply's headers, so that a
// pooled reply writes its headers without allocating (Reply.Put).
type ReplySlots [4][1]string

// Put writes the reply's non-empty Frames, Close, SessionSet and
// SessionUpdate into h (cleared first), their value slices taken from
// slots: a worker's reply is written with Put and read with ReadReply.
func (r Reply) Put(h nats.Header, slots *ReplySlots) {
	clear(h)
	for i, kv := range [...]struct{ k, v string }{
		{HdrFrames, r.Frames}, {HdrClose, r.Close}, {HdrSessionSet, r.SessionSet}, {HdrSessionUpd, r.SessionUpdate},
	} {
		if kv.v != "" {
			slots[i][0] = kv.v
			h[kv.k] = slots[i][:]
		}
	}
}

// Closes reports whether the reply closes its client.
func (r Reply) Closes() bool { return r.Close == "1" }

// Rejected reports whether the reply refuses a WebSocket handshake, and
// with which HTTP status: a code outside 400..599 (or none) is 403.
func (r Reply) Rejected() (status int, ok bool) {
	if r.Status != StatusReject {
		return 0, false
	}
	code, _ := strconv.Atoi(r.HTTPStatus)
	if code < 400 || code > 599 {
		code = http.StatusForbidden
	}
	return code, true
}

// RejectHeader returns the headers of a reply refusing a WebSocket
// handshake with the HTTP status and reason.
func RejectHeader(status int, reason string) nats.Header {
	return nats.Header{
		HdrStatus:     []string{StatusReject},
		HdrHTTPStatus: []string{strconv.Itoa(status)},
		HdrReason:     []string{reason},
	}
}

// Command is the header part of a command to a gateway (Subjects.Gateway,
// or Subjects.Uid for an OpPing), read straight into fields (no maps: a
// send is on the fan-out path). Which fields an operation uses:
// OpSend: Clients, Binary; OpClose: Frames; OpJoin/OpLeave: GroupToken;
// OpBind/OpUnbind: UidToken; every client operation: Client. A frame
// sent to a group, uid or all subject is read the same way: Binary,
// Exclude, ExcludeGroups (Op empty, or an operation on the group).
type Command struct {
	Op         string
	Client     string // the client a client operation is for
	Clients    string // OpSend: the client ids, JoinIDs form
	GroupToken string // NameToken form
	UidToken   string // NameToken form
	Frames     string // OpClose: the frame spec of the last frames
	Binary     bool   // OpSend: the frame is binary
	// Exclude lists client ids (JoinIDs form) that must not receive a
	// frame sent to a group, uid or all.
	Exclude string
	// ExcludeGroups lists group tokens, comma-separated: members of those
	// groups must not receive this group send (SendToGroups).
	ExcludeGroups string
}

// ReadCommand reads the headers of a command.
func ReadCommand(m *nats.Msg) Command {
	h := m.Header
	return Command{
		Op:         h.Get(HdrOp),
		Client:     h.Get(HdrClient),
		Clients:    h.Get(HdrClients),
		GroupToken: h.Get(HdrGroup),
		UidToken:   h.Get(HdrUid),
		Frames:     h.Get(HdrFrames),
		Binary:     h.Get(HdrBinary) == "1",

		Exclude:       h.Get(HdrExclude),
		ExcludeGroups: h.Get(HdrExcludeGroups),
	}
}

// Header returns the command's headers; empty fields are left out.
func (c Command) Header() nats.Header {
	h := nats.Header{}
	for _, kv := range [...]struct{ k, v string }{
		{HdrOp, c.Op}, {HdrClient, c.Client}, {HdrClients, c.Clients}, {HdrGroup, c.GroupToken},
		{HdrUid, c.UidToken}, {HdrFrames, c.Frames}, {HdrExclude, c.Exclude}, {HdrExcludeGroups, c.ExcludeGroups},
	} {
		if kv.v != "" {
			h[kv.k] = []string{kv.v}
		}
	}
	if c.Binary {
		h[HdrBinary] = []string{"1"}
	}
	return h
}

// OKHeader returns the headers of a successful answer to a command; its
// reader is ReplyError (nil).
func OKHeader() nats.Header { return nats.Header{HdrStatus: []string{StatusOK}} }

// ErrorHeader returns the headers of an error answer to a command with
// the code (CodeNotFound, ...) and reason; its reader is ReplyError.
func ErrorHeader(code, reason string) nats.Header {
	return nats.Header{HdrStatus: []string{StatusError}, HdrError: []string{code}, HdrReason: []string{reason}}
}
