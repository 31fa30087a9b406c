//go:build linux

package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// EchoConfig is a ping-pong run: every connection keeps one message in
// flight and sends the next as soon as the echo arrives.
type EchoConfig struct {
	URL      string        // ws:// URL of a bench-protocol server
	Conns    int           // connections (default 1)
	Size     int           // payload bytes (default 64)
	Duration time.Duration // measured phase, after a 300 ms warm-up (default 10 s)
	PIDs     []int         // server processes whose CPU is measured
	Pollers  int           // epoll reader goroutines (default 1)
	Progress func(string)  // called once a second with a progress line; may be nil
}

// EchoResult is what an echo run measured.
type EchoResult struct {
	Conns          int         `json:"conns"`
	Size           int         `json:"size"`
	RoundTrips     int64       `json:"round_trips"`
	PerSecond      float64     `json:"round_trips_per_sec"`
	Latency        Percentiles `json:"latency"`
	ServerCPUus    float64     `json:"server_cpu_us_per_round_trip"`
	ClientCPUus    float64     `json:"client_cpu_us_per_round_trip"`
	ClosedByServer int64       `json:"closed_by_server"`
	DurationSecs   float64     `json:"duration_s"`
}

// RunEcho runs the echo scenario against cfg.URL.
func RunEcho(ctx context.Context, cfg EchoConfig) (EchoResult, error) {
	cfg.Conns = max(cfg.Conns, 1)
	if cfg.Size == 0 {
		cfg.Size = 64
	}
	if cfg.Size < 1 || cfg.Size > maxPayload {
		return EchoResult{}, fmt.Errorf("echo: size %d out of 1..%d", cfg.Size, maxPayload)
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 10 * time.Second
	}
	payload := bytes.Repeat([]byte("x"), cfg.Size)
	var measuring, running atomic.Bool
	running.Store(true)
	onFrame := func(p *poller, c *conn, _ []byte, now int64) {
		if measuring.Load() {
			p.hist.add(now - c.sentAt.Load())
			p.ops.Add(1)
		}
		if running.Load() {
			c.sentAt.Store(p.f.now())
			if p.w.send(c, payload) != nil {
				p.drop(c)
			}
		}
	}
	f, err := newFleet(cfg.Pollers, cfg.Conns, onFrame)
	if err != nil {
		return EchoResult{}, fmt.Errorf("echo: %w", err)
	}
	defer f.close()
	if err := f.dialMany(ctx, cfg.URL, cfg.Conns, 50); err != nil {
		return EchoResult{}, fmt.Errorf("echo: %w", err)
	}
	// The first message of each connection goes from here; the poller
	// sends the next ones, so one goroutine writes a connection at a time.
	var w frameWriter
	for i := range cfg.Conns {
		c := f.conn(i)
		c.sentAt.Store(f.now())
		if err := w.send(c, payload); err != nil {
			return EchoResult{}, fmt.Errorf("echo: first message: %w", err)
		}
	}
	sleep(ctx, 300*time.Millisecond) // warm-up
	m, err := startMeter(cfg.PIDs)
	if err != nil {
		return EchoResult{}, fmt.Errorf("echo: %w", err)
	}
	start := time.Now()
	measuring.Store(true)
	stopProgress := startProgress(cfg.Progress, func() string {
		return "echo: " + fmtRate("round trips/s", f.ops(), time.Since(start))
	})
	sleep(ctx, cfg.Duration)
	measuring.Store(false)
	elapsed := time.Since(start)
	stopProgress()
	n := f.ops()
	server, self, err := m.perOp(n)
	if err != nil {
		return EchoResult{}, fmt.Errorf("echo: %w", err)
	}
	running.Store(false)
	f.close()
	h, _ := f.results()
	return EchoResult{
		Conns: cfg.Conns, Size: cfg.Size, RoundTrips: n, PerSecond: float64(n) / elapsed.Seconds(),
		Latency: h.percentiles(), ServerCPUus: server, ClientCPUus: self,
		ClosedByServer: f.closedByServer(), DurationSecs: elapsed.Seconds(),
	}, nil
}
