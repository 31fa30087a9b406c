package wire

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Heartbeats: gateways publish a bus.GatewayStatus on Subjects.Heartbeat,
// workers a bus.WorkerStatus on Subjects.WorkerHeartbeat with HdrWorker,
// HdrFeatures and HdrBusy. ProcessMemory and Rate fill in their figures.

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
