package loadtest

import (
	"bytes"
	"context"
	"sync/atomic"
	"time"
)

// EchoConfig is a ping-pong run: every connection keeps one message in
// flight.
type EchoConfig struct {
	URL      string
	Conns    int
	Size     int
	Duration time.Duration
	PIDs     []int
	Pollers  int
	Progress func(string)
}

// EchoResult is what an echo run measured.
type EchoResult struct {
	Conns        int         `json:"conns"`
	Size         int         `json:"size"`
	RoundTrips   int64       `json:"round_trips"`
	PerSecond    float64     `json:"round_trips_per_sec"`
	Latency      Percentiles `json:"latency"`
	ServerCPUus  float64     `json:"server_cpu_us_per_round_trip"`
	ClientCPUus  float64     `json:"client_cpu_us_per_round_trip"`
	DurationSecs float64     `json:"duration_s"`
}

// RunEcho runs the echo scenario.
func RunEcho(ctx context.Context, cfg EchoConfig) (EchoResult, error) {
	payload := bytes.Repeat([]byte("x"), max(cfg.Size, 1))
	var measuring, running atomic.Bool
	var count atomic.Int64
	lat := &latencies{}
	running.Store(true)
	onFrame := func(c *Conn, _ []byte) {
		now := time.Now().UnixNano()
		if measuring.Load() {
			lat.add(time.Duration(now - atomic.LoadInt64(&c.sentAt)))
			count.Add(1)
		}
		if running.Load() {
			atomic.StoreInt64(&c.sentAt, time.Now().UnixNano())
			_ = c.Send(payload)
		}
	}
	f, err := newFleet(cfg.Pollers)
	if err != nil {
		return EchoResult{}, err
	}
	defer f.close()
	if err := f.dialMany(ctx, cfg.URL, cfg.Conns, 50, onFrame); err != nil {
		return EchoResult{}, err
	}
	for _, c := range f.conns {
		atomic.StoreInt64(&c.sentAt, time.Now().UnixNano())
		if err := c.Send(payload); err != nil {
			return EchoResult{}, err
		}
	}
	time.Sleep(300 * time.Millisecond) // warm up
	m, err := startMeter(cfg.PIDs)
	if err != nil {
		return EchoResult{}, err
	}
	measuring.Store(true)
	start := time.Now()
	progress(ctx, cfg.Progress, cfg.Duration, func() string {
		return fmtRate("round trips/s", count.Load(), time.Since(start))
	})
	measuring.Store(false)
	elapsed := time.Since(start)
	n := count.Load()
	server, self := m.perOp(n)
	running.Store(false)
	return EchoResult{
		Conns: cfg.Conns, Size: len(payload), RoundTrips: n, PerSecond: float64(n) / elapsed.Seconds(),
		Latency: lat.percentiles(), ServerCPUus: server, ClientCPUus: self, DurationSecs: elapsed.Seconds(),
	}, nil
}
