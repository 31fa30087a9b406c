package bus

import (
	"maps"
)

// Session is a client's session: a JSON object kept by the gateway with the
// connection, sent with each event to the worker (GatewayWorker's $_SESSION).
type Session map[string]any

// Clone returns a deep-enough copy of s (top-level keys) for callers that
// keep it.
func (s Session) Clone() Session { return maps.Clone(s) }
