package bus

import (
	"encoding/json"
	"fmt"
	"maps"
)

// Session is a client's session: a JSON object kept by the gateway with the
// connection, sent with each event to the worker (GatewayWorker's $_SESSION).
type Session map[string]any

// EncodeSession returns the compact JSON of s; nil or empty gives nil.
func EncodeSession(s Session) ([]byte, error) {
	if len(s) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode session: %w", err)
	}
	return b, nil
}

// DecodeSession parses a session; empty input gives an empty, non-nil Session.
func DecodeSession(b []byte) (Session, error) {
	s := Session{}
	if len(b) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode session: %w", err)
	}
	return s, nil
}

// MergeSessionJSON merges the top-level keys of patch into old (a JSON
// null value deletes the key) and returns the new encoding, as
// GatewayWorker's updateSession does.
func MergeSessionJSON(old, patch []byte) ([]byte, error) {
	base, err := DecodeSession(old)
	if err != nil {
		return nil, err
	}
	var p map[string]any
	if err := json.Unmarshal(patch, &p); err != nil {
		return nil, fmt.Errorf("decode session patch: %w", err)
	}
	for k, v := range p {
		if v == nil {
			delete(base, k)
			continue
		}
		base[k] = v
	}
	return EncodeSession(base)
}

// Clone returns a deep-enough copy of s (top-level keys) for callers that
// keep it.
func (s Session) Clone() Session { return maps.Clone(s) }
