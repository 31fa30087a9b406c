package bus

import (
	"net/http"
	"time"
)

// GatewayStatus is the body of a gateway heartbeat.
type GatewayStatus struct {
	ID          string    `json:"id"`
	Listen      string    `json:"listen"`
	Host        string    `json:"host"`
	Started     time.Time `json:"started"`
	Connections int64     `json:"connections"`
	MsgsIn      uint64    `json:"msgs_in"`
	MsgsOut     uint64    `json:"msgs_out"`
}

// Handshake is the body of a wsconnect event: what the client sent in its
// HTTP upgrade request (GatewayWorker's onWebSocketConnect $data).
type Handshake struct {
	Path   string      `json:"path"`
	Query  string      `json:"query"`
	Header http.Header `json:"header"`
	Remote string      `json:"remote"`
}

// Cookies parses the Cookie headers of the handshake.
func (h Handshake) Cookies() []*http.Cookie {
	return (&http.Request{Header: h.Header}).Cookies()
}
