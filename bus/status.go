package bus

import (
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
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

// ProcessMemory returns the resident memory of this process, from
// /proc/self/statm on Linux, else what the Go runtime holds.
func ProcessMemory() uint64 {
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			if pages, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				return pages * uint64(os.Getpagesize())
			}
		}
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.Sys
}

// Rate turns successive counter readings into a per-second rate.
type Rate struct {
	last uint64
	at   time.Time
}

// Per returns the rate since the previous call (0 on the first).
func (r *Rate) Per(now time.Time, v uint64) float64 {
	var rate float64
	if !r.at.IsZero() && now.After(r.at) && v >= r.last {
		rate = float64(v-r.last) / now.Sub(r.at).Seconds()
	}
	r.last, r.at = v, now
	return rate
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
