package bus

import (
	"errors"

	"github.com/switchboard-go/switchboard/internal/wire"
)

// Sentinel errors callers may need to tell apart.
var (
	// ErrClientNotFound: no live client has this id.
	ErrClientNotFound = wire.ErrClientNotFound
	// ErrInvalidClientID: the string is not a Switchboard client id.
	ErrInvalidClientID = wire.ErrInvalidClientID
	// ErrQueryTimeout: a gateway did not answer a cluster query in time.
	ErrQueryTimeout = errors.New("gateway did not answer in time")
	// ErrMessageTooLarge: a payload is larger than the connection allows.
	ErrMessageTooLarge = errors.New("message too large")
	// ErrInvalidUTF8: a text frame's data is not valid UTF-8 (send it with
	// Binary, or fix the text); a browser would drop the connection.
	ErrInvalidUTF8 = errors.New("text frame is not valid UTF-8")
	// ErrRemote: a gateway answered a command with an error.
	ErrRemote = wire.ErrRemote
	// ErrInvalidName: an empty or invalid group or uid name.
	ErrInvalidName = wire.ErrInvalidName
)
