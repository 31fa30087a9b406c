package bus

import (
	"net/http"
	"time"
)

// GatewayStatus is the body of a gateway heartbeat.
type GatewayStatus struct {
	ID            string    `json:"id"`
	Listen        string    `json:"listen"`
	Host          string    `json:"host"`
	PID           int       `json:"pid"`
	Started       time.Time `json:"started"`
	Connections   int64     `json:"connections"`
	MsgsIn        uint64    `json:"msgs_in"`
	MsgsOut       uint64    `json:"msgs_out"`
	MsgsInPerSec  float64   `json:"msgs_in_per_sec"`
	MsgsOutPerSec float64   `json:"msgs_out_per_sec"`
	MemoryBytes   uint64    `json:"memory_bytes"`
}

// WorkerStatus is the body of a worker heartbeat.
type WorkerStatus struct {
	ID            string    `json:"id"`
	Host          string    `json:"host"`
	PID           int       `json:"pid"`
	Started       time.Time `json:"started"`
	Handled       uint64    `json:"handled"`
	HandledPerSec float64   `json:"handled_per_sec"`
	InFlight      int64     `json:"in_flight"`
	MemoryBytes   uint64    `json:"memory_bytes"`
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
