package loadtest

import (
	"context"
	"runtime"
	"time"
)

// IdleConfig opens Conns connections and holds them.
type IdleConfig struct {
	URL         string
	Conns       int
	Concurrency int
	Hold        time.Duration
	// Sources spreads the connections over this many loopback source
	// addresses (127.0.x.y), which keeps connects fast past ~10,000.
	Sources int
	PIDs    []int
	Pollers int
}

// IdleResult is what an idle run measured.
type IdleResult struct {
	Conns          int     `json:"conns"`
	ConnectPerSec  float64 `json:"connects_per_sec"`
	ServerRSSBytes int64   `json:"server_rss_bytes"`
	RSSPerConnKB   float64 `json:"server_rss_per_conn_kb"`
	ServerCPUus    float64 `json:"server_cpu_us_per_connect"`
}

// RunIdle runs the idle scenario.
func RunIdle(ctx context.Context, cfg IdleConfig) (IdleResult, error) {
	before, err := rssOfAll(cfg.PIDs)
	if err != nil {
		return IdleResult{}, err
	}
	f, err := newFleet(cfg.Pollers)
	if err != nil {
		return IdleResult{}, err
	}
	f.sources = cfg.Sources
	defer f.close()
	m, err := startMeter(cfg.PIDs)
	if err != nil {
		return IdleResult{}, err
	}
	start := time.Now()
	if err := f.dialMany(ctx, cfg.URL, cfg.Conns, max(cfg.Concurrency, 1), func(*Conn, []byte) {}); err != nil {
		return IdleResult{}, err
	}
	elapsed := time.Since(start)
	server, _ := m.perOp(int64(cfg.Conns))
	runtime.GC()
	select {
	case <-time.After(cfg.Hold):
	case <-ctx.Done():
	}
	after, err := rssOfAll(cfg.PIDs)
	if err != nil {
		return IdleResult{}, err
	}
	r := IdleResult{Conns: cfg.Conns, ConnectPerSec: float64(cfg.Conns) / elapsed.Seconds(), ServerRSSBytes: after, ServerCPUus: server}
	if cfg.Conns > 0 && len(cfg.PIDs) > 0 {
		r.RSSPerConnKB = float64(after-before) / float64(cfg.Conns) / 1024
	}
	return r, nil
}
