package wire

import (
	"errors"
	"fmt"

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
