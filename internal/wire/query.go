package wire

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
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

// QueryRequest is the header part of a cluster query on Subjects.Query.
// GroupToken and UidToken are NameToken forms ("" for no filter).
type QueryRequest struct {
	Kind       string // QueryList, QueryCount, QueryStatus, QueryUngroup
	GroupToken string
	UidToken   string
	Fields     []string // FieldUid, FieldGroups, FieldSession (a list query)
}

// ReadQueryRequest reads the headers of a cluster query.
func ReadQueryRequest(m *nats.Msg) QueryRequest {
	q := QueryRequest{
		Kind:       m.Header.Get(HdrQuery),
		GroupToken: m.Header.Get(HdrGroup),
		UidToken:   m.Header.Get(HdrUid),
	}
	if f := m.Header.Get(HdrFields); f != "" {
		q.Fields = strings.Split(f, ",")
	}
	return q
}

// Wants reports whether a list query asks for field f.
func (q QueryRequest) Wants(f string) bool { return slices.Contains(q.Fields, f) }

// Header returns the query's headers.
func (q QueryRequest) Header() nats.Header {
	h := nats.Header{HdrQuery: []string{q.Kind}}
	if q.GroupToken != "" {
		h.Set(HdrGroup, q.GroupToken)
	}
	if q.UidToken != "" {
		h.Set(HdrUid, q.UidToken)
	}
	if len(q.Fields) > 0 {
		h.Set(HdrFields, strings.Join(q.Fields, ","))
	}
	return h
}

// QueryAnswer is the header part of a gateway's successful answer to a
// query: who answers, the gateways it knows to be alive, and the raw
// HdrPart of a part of a split answer ("" for a whole answer). An error
// answer is read with ReplyError.
type QueryAnswer struct {
	Gateway  string
	Gateways []string
	Part     string
}

// ReadQueryAnswer reads the headers of a query answer.
func ReadQueryAnswer(m *nats.Msg) QueryAnswer {
	return QueryAnswer{
		Gateway:  m.Header.Get(HdrGateway),
		Gateways: SplitIDs(m.Header.Get(HdrGateways)),
		Part:     m.Header.Get(HdrPart),
	}
}

// Parts parses Part: this is part i of n (1 of 1 for a whole answer).
func (a QueryAnswer) Parts() (i, n int, err error) { return ParsePart(a.Part) }

// Header returns the headers of a successful answer (status ok). Part is
// not written: WithPart adds it to each part of a split answer.
func (a QueryAnswer) Header() nats.Header {
	return nats.Header{
		HdrStatus:   []string{StatusOK},
		HdrGateway:  []string{a.Gateway},
		HdrGateways: []string{JoinIDs(a.Gateways)},
	}
}

// WithPart returns a copy of hdr that marks part i of n.
func WithPart(hdr nats.Header, i, n int) nats.Header {
	h := maps.Clone(hdr)
	h.Set(HdrPart, PartValue(i, n))
	return h
}

// QueryErrorHeader returns the headers of an error answer from gateway:
// status error, the code and the reason.
func QueryErrorHeader(gateway, code, reason string) nats.Header {
	return nats.Header{
		HdrStatus:  []string{StatusError},
		HdrError:   []string{code},
		HdrReason:  []string{reason},
		HdrGateway: []string{gateway},
	}
}
