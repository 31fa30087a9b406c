//go:build linux

package loadtest

import (
	"context"
	"fmt"
	"time"
)

// IdleConfig opens Conns connections, Concurrency handshakes at a time,
// and holds them for Hold before reading the servers' memory.
type IdleConfig struct {
	URL         string        // ws:// URL of a bench-protocol server
	Conns       int           // connections (default 1)
	Concurrency int           // handshakes at once (default 1)
	Hold        time.Duration // how long the connections are held before RSS is read
	Sources     int           // loopback source addresses (127.0.x.y) to connect from; 0: the kernel's choice
	PIDs        []int         // server processes whose RSS is read (and CPU, unless CPUPIDs)
	CPUPIDs     []int         // server processes whose CPU is measured (default PIDs)
	Pollers     int           // epoll reader goroutines (default 1)
	Progress    func(string)  // called once a second with a progress line; may be nil
}

// IdleResult is what an idle run measured. RSS is the sum over the PIDs;
// per connection it is (after - before) / Conns.
type IdleResult struct {
	Conns          int     `json:"conns"`
	ConnectPerSec  float64 `json:"connects_per_sec"`
	ServerRSSStart int64   `json:"server_rss_before_bytes"`
	ServerRSSBytes int64   `json:"server_rss_bytes"`
	RSSPerConnKB   float64 `json:"server_rss_per_conn_kb"`
	ServerCPUus    float64 `json:"server_cpu_us_per_connect"`
	ClientCPUus    float64 `json:"client_cpu_us_per_connect"`
	ClosedByServer int64   `json:"closed_by_server"`
	HoldSecs       float64 `json:"hold_s"`
}

// RunIdle runs the idle scenario against cfg.URL. When some connections
// fail it returns the error and what was measured up to then.
func RunIdle(ctx context.Context, cfg IdleConfig) (IdleResult, error) {
	cfg.Conns = max(cfg.Conns, 1)
	before, err := rssOfAll(cfg.PIDs)
	if err != nil {
		return IdleResult{}, fmt.Errorf("idle: %w", err)
	}
	f, err := newFleet(cfg.Pollers, cfg.Conns, func(*poller, *conn, []byte, int64) {})
	if err != nil {
		return IdleResult{}, fmt.Errorf("idle: %w", err)
	}
	defer f.close()
	f.sources = cfg.Sources
	if cfg.CPUPIDs == nil {
		cfg.CPUPIDs = cfg.PIDs
	}
	m, err := startMeter(cfg.CPUPIDs)
	if err != nil {
		return IdleResult{}, fmt.Errorf("idle: %w", err)
	}
	start := time.Now()
	stopProgress := startProgress(cfg.Progress, func() string {
		return fmt.Sprintf("idle: connected %d of %d", f.count(), cfg.Conns)
	})
	dialErr := f.dialMany(ctx, cfg.URL, cfg.Conns, cfg.Concurrency)
	elapsed := time.Since(start)
	stopProgress()
	r := IdleResult{Conns: f.count(), ConnectPerSec: float64(f.count()) / elapsed.Seconds(), ServerRSSStart: before}
	r.ServerCPUus, r.ClientCPUus, err = m.perOp(int64(r.Conns))
	if err != nil {
		return r, fmt.Errorf("idle: %w", err)
	}
	if dialErr != nil {
		return r, fmt.Errorf("idle: %w", dialErr)
	}
	holdStart := time.Now()
	stopProgress = startProgress(cfg.Progress, func() string {
		return fmt.Sprintf("idle: holding %d connections, %.0fs of %v, %d closed by the server",
			r.Conns, time.Since(holdStart).Seconds(), cfg.Hold, f.closedByServer())
	})
	sleep(ctx, cfg.Hold)
	stopProgress()
	r.HoldSecs = time.Since(holdStart).Seconds()
	r.ClosedByServer = f.closedByServer()
	if r.ServerRSSBytes, err = rssOfAll(cfg.PIDs); err != nil {
		return r, fmt.Errorf("idle: %w", err)
	}
	if len(cfg.PIDs) > 0 {
		r.RSSPerConnKB = float64(r.ServerRSSBytes-before) / float64(r.Conns) / 1024
	}
	return r, nil
}
