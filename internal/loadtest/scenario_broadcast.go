package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/switchboard-go/switchboard/bus"
)

// BroadcastConfig is a group fan-out run: Members join Group, one more
// connection sends Messages with "bcast", closed loop (Inflight messages
// at a time) or at a fixed Rate per second.
type BroadcastConfig struct {
	URL      string
	Members  int
	Group    string
	Size     int
	Messages int
	Inflight int
	Rate     float64
	Grace    time.Duration
	// PushNATS, when set, sends with the Gateway API over NATS at this URL
	// (a backend pushing) instead of "bcast" from a WebSocket client, whose
	// messages pass one at a time through its own event pipeline.
	PushNATS string
	Prefix   string
	PIDs     []int
	Pollers  int
	Progress func(string)
}

// BroadcastResult is what a broadcast run measured.
type BroadcastResult struct {
	Members      int         `json:"members"`
	Messages     int         `json:"messages"`
	Deliveries   int64       `json:"deliveries"`
	Lost         int64       `json:"lost"`
	PerSecond    float64     `json:"deliveries_per_sec"`
	Latency      Percentiles `json:"delivery_latency"`
	ServerCPUus  float64     `json:"server_cpu_us_per_delivery"`
	ClientCPUus  float64     `json:"client_cpu_us_per_delivery"`
	DurationSecs float64     `json:"duration_s"`
}

// RunBroadcast runs the broadcast scenario.
func RunBroadcast(ctx context.Context, cfg BroadcastConfig) (BroadcastResult, error) {
	if cfg.Group == "" {
		cfg.Group = "bench"
	}
	if cfg.Inflight <= 0 && cfg.Rate <= 0 {
		cfg.Inflight = 1
	}
	if cfg.Grace == 0 {
		cfg.Grace = 5 * time.Second
	}
	sentAt := make([]atomic.Int64, cfg.Messages)
	got := make([]atomic.Int32, cfg.Messages)
	var joined, deliveries atomic.Int64
	complete := make(chan int, cfg.Messages)
	lat := &latencies{}
	onFrame := func(_ *Conn, p []byte) {
		if bytes.Equal(p, []byte("ok")) {
			joined.Add(1)
			return
		}
		if len(p) < 8 {
			return
		}
		seq, err := strconv.Atoi(string(p[:8]))
		if err != nil || seq < 0 || seq >= cfg.Messages {
			return
		}
		d := deliveries.Add(1)
		if d%16 == 0 { // a sample keeps the tool's own cost low
			lat.add(time.Duration(time.Now().UnixNano() - sentAt[seq].Load()))
		}
		if int(got[seq].Add(1)) == cfg.Members {
			complete <- seq
		}
	}
	f, err := newFleet(cfg.Pollers)
	if err != nil {
		return BroadcastResult{}, err
	}
	defer f.close()
	if err := f.dialMany(ctx, cfg.URL, cfg.Members, 50, onFrame); err != nil {
		return BroadcastResult{}, err
	}
	for _, c := range f.conns {
		if err := c.Send([]byte("join " + cfg.Group)); err != nil {
			return BroadcastResult{}, err
		}
	}
	if err := waitFor(ctx, 30*time.Second, func() bool { return joined.Load() == int64(cfg.Members) }); err != nil {
		return BroadcastResult{}, fmt.Errorf("members joined: %d of %d: %w", joined.Load(), cfg.Members, err)
	}
	pad := bytes.Repeat([]byte("x"), max(cfg.Size-8, 0))
	var sendOne func(seq int) error
	if cfg.PushNATS != "" {
		api, err := bus.Connect(cfg.PushNATS, bus.WithPrefix(cfg.Prefix))
		if err != nil {
			return BroadcastResult{}, err
		}
		defer api.Close()
		sendOne = func(seq int) error {
			return api.SendToGroup(cfg.Group, append(fmt.Appendf(nil, "%08d", seq), pad...))
		}
	} else {
		sender, err := f.dial(ctx, cfg.URL, func(*Conn, []byte) {})
		if err != nil {
			return BroadcastResult{}, err
		}
		sendOne = func(seq int) error {
			return sender.Send(append(fmt.Appendf(nil, "bcast %s %08d", cfg.Group, seq), pad...))
		}
	}
	m, err := startMeter(cfg.PIDs)
	if err != nil {
		return BroadcastResult{}, err
	}
	start := time.Now()
	send := func(seq int) error {
		sentAt[seq].Store(time.Now().UnixNano())
		return sendOne(seq)
	}
	done := 0
	var tick <-chan time.Time
	if cfg.Rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / cfg.Rate))
		defer t.Stop()
		tick = t.C
	}
	last := time.Now()
	for seq := 0; seq < cfg.Messages; seq++ {
		if tick != nil {
			<-tick
		} else {
			for seq-done >= cfg.Inflight {
				select {
				case <-complete:
					done++
				case <-time.After(cfg.Grace):
					return BroadcastResult{}, fmt.Errorf("message %d not delivered to every member in %v", done, cfg.Grace)
				case <-ctx.Done():
					return BroadcastResult{}, ctx.Err()
				}
			}
		}
		if err := send(seq); err != nil {
			return BroadcastResult{}, err
		}
		if cfg.Progress != nil && time.Since(last) > time.Second {
			last = time.Now()
			cfg.Progress(fmtRate("deliveries/s", deliveries.Load(), time.Since(start)))
		}
	}
	_ = waitFor(ctx, cfg.Grace, func() bool { return deliveries.Load() == int64(cfg.Messages*cfg.Members) })
	elapsed := time.Since(start)
	n := deliveries.Load()
	server, self := m.perOp(n)
	return BroadcastResult{
		Members: cfg.Members, Messages: cfg.Messages, Deliveries: n, Lost: int64(cfg.Messages*cfg.Members) - n,
		PerSecond: float64(n) / elapsed.Seconds(), Latency: lat.percentiles(),
		ServerCPUus: server, ClientCPUus: self, DurationSecs: elapsed.Seconds(),
	}, nil
}

func waitFor(ctx context.Context, d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return context.DeadlineExceeded
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}
