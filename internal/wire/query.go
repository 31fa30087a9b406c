package wire

import (
	"encoding/json"
	"time"
)

// A cluster query (docs/protocol.md §8) is a request on Subjects.Query
// with HdrQuery (QueryList, QueryCount, QueryStatus, QueryUngroup), an
// optional HdrGroup or HdrUid filter and, for a list, HdrFields. Each
// gateway answers on QueryAnswers(inbox) with HdrGateway and HdrGateways;
// an answer larger than max_payload comes in parts (SplitAnswer, HdrPart,
// Assembly). These are the answers' bodies.

// Fields a list query asks gateways to fill in besides the id (HdrFields,
// comma-separated).
const (
	FieldUid     = "uid"
	FieldGroups  = "groups"
	FieldSession = "session"
)

// ClientRecord describes one connected client in a list answer. Package
// bus hands it to users as bus.ClientInfo (the same fields).
type ClientRecord struct {
	ID          string          `json:"id"`
	Gateway     string          `json:"gateway"`
	Remote      string          `json:"remote,omitempty"`
	Uid         string          `json:"uid,omitempty"`
	Groups      []string        `json:"groups,omitempty"`
	Session     json.RawMessage `json:"session,omitempty"`
	ConnectedAt time.Time       `json:"connected_at"`
}

// ListReply is the body of a gateway's answer to a QueryList.
type ListReply struct {
	Clients []ClientRecord `json:"clients"`
}

// CountReply is the body of a gateway's answer to a QueryCount.
type CountReply struct {
	Clients int      `json:"clients"`
	Uids    []string `json:"uids"`
}
