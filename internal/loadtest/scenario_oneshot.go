//go:build linux

package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"time"
)

// OneshotConfig opens Conns connections and lets them sit idle for Hold,
// then every connection sends one message and waits for its echo: the
// servers' memory is read idle, right after the last echo, and Later
// after that.
type OneshotConfig struct {
	URL         string        // ws:// URL of a bench-protocol server
	Conns       int           // connections (default 1)
	Concurrency int           // handshakes at once (default 1)
	Sources     int           // loopback source addresses (127.0.x.y) to connect from; 0: the kernel's choice
	Size        int           // payload bytes (default 64)
	Hold        time.Duration // idle time before the idle RSS is read (default 3 s)
	Later       time.Duration // time after the last echo when RSS is read again (default 10 s)
	Grace       time.Duration // how long to wait for all echoes (default 30 s)
	PIDs        []int         // server processes whose RSS is read (and CPU, unless CPUPIDs)
	CPUPIDs     []int         // server processes whose CPU is measured (default PIDs)
	Pollers     int           // epoll reader goroutines (default 1)
	Progress    func(string)  // called once a second with a progress line; may be nil
}

// OneshotResult is what a oneshot run measured. RSS is the sum over the
// PIDs; per connection it is (RSS - RSS before connecting) / Conns, and
// each ratio is a per-connection figure over the idle one.
type OneshotResult struct {
	Conns          int         `json:"conns"`
	Size           int         `json:"size"`
	Echoes         int64       `json:"echoes"`
	EchoSecs       float64     `json:"echo_s"` // first message sent to last echo read
	Latency        Percentiles `json:"latency"`
	ServerRSSStart int64       `json:"server_rss_before_bytes"`
	RSSIdle        int64       `json:"server_rss_idle_bytes"`
	RSSAfter       int64       `json:"server_rss_after_bytes"`
	RSSLater       int64       `json:"server_rss_later_bytes"`
	IdlePerConnKB  float64     `json:"rss_per_conn_idle_kb"`
	AfterPerConnKB float64     `json:"rss_per_conn_after_kb"`
	LaterPerConnKB float64     `json:"rss_per_conn_later_kb"`
	AfterRatio     float64     `json:"after_over_idle"`
	LaterRatio     float64     `json:"later_over_idle"`
	ServerCPUus    float64     `json:"server_cpu_us_per_message"`
	ClosedByServer int64       `json:"closed_by_server"`
	HoldSecs       float64     `json:"hold_s"`
	LaterSecs      float64     `json:"later_s"`
}

// RunOneshot runs the oneshot scenario against cfg.URL. When not every
// echo arrives within Grace it returns an error and what was measured.
func RunOneshot(ctx context.Context, cfg OneshotConfig) (OneshotResult, error) {
	cfg.Conns = max(cfg.Conns, 1)
	if cfg.Size == 0 {
		cfg.Size = 64
	}
	if cfg.Size < 1 || cfg.Size > maxPayload {
		return OneshotResult{}, fmt.Errorf("oneshot: size %d out of 1..%d", cfg.Size, maxPayload)
	}
	if cfg.Hold <= 0 {
		cfg.Hold = 3 * time.Second
	}
	if cfg.Later <= 0 {
		cfg.Later = 10 * time.Second
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 30 * time.Second
	}
	if cfg.CPUPIDs == nil {
		cfg.CPUPIDs = cfg.PIDs
	}
	r := OneshotResult{Conns: cfg.Conns, Size: cfg.Size}
	var err error
	if r.ServerRSSStart, err = rssOfAll(cfg.PIDs); err != nil {
		return r, fmt.Errorf("oneshot: %w", err)
	}
	f, err := newFleet(cfg.Pollers, cfg.Conns, func(p *poller, c *conn, _ []byte, now int64) {
		if c.echoed { // a later frame is not an echo
			return
		}
		c.echoed = true
		p.hist.add(now - c.sentAt.Load())
		p.lastTime = max(p.lastTime, now)
		p.ops.Add(1)
	})
	if err != nil {
		return r, fmt.Errorf("oneshot: %w", err)
	}
	defer f.close()
	f.sources = cfg.Sources
	stopProgress := startProgress(cfg.Progress, func() string {
		return fmt.Sprintf("oneshot: connected %d of %d", f.count(), cfg.Conns)
	})
	err = f.dialMany(ctx, cfg.URL, cfg.Conns, cfg.Concurrency)
	stopProgress()
	if err != nil {
		return r, fmt.Errorf("oneshot: %w", err)
	}

	holdStart := time.Now()
	sleep(ctx, cfg.Hold)
	r.HoldSecs = time.Since(holdStart).Seconds()
	if r.RSSIdle, err = rssOfAll(cfg.PIDs); err != nil {
		return r, fmt.Errorf("oneshot: %w", err)
	}
	perConn := func(rss int64) float64 {
		if len(cfg.PIDs) == 0 {
			return 0
		}
		return float64(rss-r.ServerRSSStart) / float64(cfg.Conns) / 1024
	}
	r.IdlePerConnKB = perConn(r.RSSIdle)

	m, err := startMeter(cfg.CPUPIDs)
	if err != nil {
		return r, fmt.Errorf("oneshot: %w", err)
	}
	payload := bytes.Repeat([]byte("x"), cfg.Size)
	var w frameWriter
	sendStart := f.now()
	for i := range cfg.Conns {
		c := f.conn(i)
		c.sentAt.Store(f.now())
		if err := w.send(c, payload); err != nil {
			return r, fmt.Errorf("oneshot: message %d: %w", i, err)
		}
	}
	stopProgress = startProgress(cfg.Progress, func() string {
		return fmt.Sprintf("oneshot: %d of %d echoes", f.ops(), cfg.Conns)
	})
	waitErr := waitFor(ctx, cfg.Grace, func() bool { return f.ops() >= int64(cfg.Conns) })
	stopProgress()
	if r.RSSAfter, err = rssOfAll(cfg.PIDs); err != nil {
		return r, fmt.Errorf("oneshot: %w", err)
	}
	r.Echoes = f.ops()
	if r.ServerCPUus, _, err = m.perOp(r.Echoes); err != nil {
		return r, fmt.Errorf("oneshot: %w", err)
	}
	r.AfterPerConnKB = perConn(r.RSSAfter)
	if waitErr != nil {
		r.ClosedByServer = f.closedByServer()
		return r, fmt.Errorf("oneshot: %d of %d echoes after %v: %w", r.Echoes, cfg.Conns, cfg.Grace, waitErr)
	}

	laterStart := time.Now()
	stopProgress = startProgress(cfg.Progress, func() string {
		return fmt.Sprintf("oneshot: %.0fs of %v after the last echo", time.Since(laterStart).Seconds(), cfg.Later)
	})
	sleep(ctx, cfg.Later)
	stopProgress()
	r.LaterSecs = time.Since(laterStart).Seconds()
	if r.RSSLater, err = rssOfAll(cfg.PIDs); err != nil {
		return r, fmt.Errorf("oneshot: %w", err)
	}
	r.LaterPerConnKB = perConn(r.RSSLater)
	if r.IdlePerConnKB > 0 {
		r.AfterRatio = r.AfterPerConnKB / r.IdlePerConnKB
		r.LaterRatio = r.LaterPerConnKB / r.IdlePerConnKB
	}
	r.ClosedByServer = f.closedByServer()
	f.close()
	h, last := f.results()
	r.Latency = h.percentiles()
	r.EchoSecs = float64(last-sendStart) / float64(time.Second)
	return r, ctx.Err()
}
