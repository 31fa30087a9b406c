package wire

import (
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
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

// WorkerBeat is the header part of a worker heartbeat on
// Subjects.WorkerHeartbeat: the worker's id, an operation (OpHello from
// someone asking workers to announce themselves, OpBye when a worker
// stops, else empty), its features and whether it is busy. The body is a
// JSON bus.WorkerStatus.
type WorkerBeat struct {
	Worker   string
	Op       string
	Features []string // FeatureEventBatches, FeatureWSConnect, FeatureDirect
	Busy     bool
}

// ReadWorkerBeat reads the headers of a worker heartbeat. Missing headers
// read as zero values; the caller decides what an empty Worker means.
func ReadWorkerBeat(m *nats.Msg) WorkerBeat {
	b := WorkerBeat{
		Worker: m.Header.Get(HdrWorker),
		Op:     m.Header.Get(HdrOp),
		Busy:   m.Header.Get(HdrBusy) == "1",
	}
	if f := m.Header.Get(HdrFeatures); f != "" {
		b.Features = strings.Split(f, ",")
	}
	return b
}

// Has reports whether the worker announced the feature f.
func (b WorkerBeat) Has(f string) bool { return slices.Contains(b.Features, f) }

// Msg returns the heartbeat message on subject with body.
func (b WorkerBeat) Msg(subject string, body []byte) *nats.Msg {
	m := &nats.Msg{Subject: subject, Header: nats.Header{}, Data: body}
	if b.Worker != "" {
		m.Header.Set(HdrWorker, b.Worker)
	}
	if b.Op != "" {
		m.Header.Set(HdrOp, b.Op)
	}
	if len(b.Features) > 0 {
		m.Header.Set(HdrFeatures, strings.Join(b.Features, ","))
	}
	if b.Busy {
		m.Header.Set(HdrBusy, "1")
	}
	return m
}

// GatewayBeat is the header part of a gateway heartbeat on
// Subjects.Heartbeat: the gateway's id and an operation (OpHello when it
// starts and wants the others to answer at once, OpBye when it stops,
// else empty). The body is a JSON bus.GatewayStatus.
type GatewayBeat struct {
	Gateway string
	Op      string
}

// ReadGatewayBeat reads the headers of a gateway heartbeat.
func ReadGatewayBeat(m *nats.Msg) GatewayBeat {
	return GatewayBeat{Gateway: m.Header.Get(HdrGateway), Op: m.Header.Get(HdrOp)}
}

// Msg returns the heartbeat message on subject with body.
func (b GatewayBeat) Msg(subject string, body []byte) *nats.Msg {
	m := &nats.Msg{Subject: subject, Header: nats.Header{}, Data: body}
	if b.Gateway != "" {
		m.Header.Set(HdrGateway, b.Gateway)
	}
	if b.Op != "" {
		m.Header.Set(HdrOp, b.Op)
	}
	return m
}
