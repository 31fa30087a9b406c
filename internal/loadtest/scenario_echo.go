//go:build linux

package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// EchoConfig is a ping-pong run: every connection keeps one message in
// flight and sends the next as soon as the echo arrives, or Think after it
// arrives.
type EchoConfig struct {
	URL      string        // ws:// URL of a bench-protocol server
	Conns    int           // connections (default 1)
	Size     int           // payload bytes (default 64)
	Duration time.Duration // measured phase, after a 300 ms warm-up (default 10 s)
	Think    time.Duration // wait between an echo and the next message of its connection (0: none)
	PIDs     []int         // server processes whose CPU is measured
	Pollers  int           // epoll reader goroutines (default 1)
	Progress func(string)  // called once a second with a progress line; may be nil
}

// EchoResult is what an echo run measured.
type EchoResult struct {
	Conns          int         `json:"conns"`
	Size           int         `json:"size"`
	ThinkMS        float64     `json:"think_ms"`
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
	if cfg.Think < 0 {
		return EchoResult{}, fmt.Errorf("echo: think time %v is negative", cfg.Think)
	}
	payload := bytes.Repeat([]byte("x"), cfg.Size)
	var measuring, running atomic.Bool
	running.Store(true)
	// With a think time the poller queues the connection for the thinker
	// instead of sending: the think time is the same for all, so the queue
	// is in the order the messages are due. A connection has at most one
	// message in flight or queued, so the queue never blocks the poller.
	var thinking chan thought
	onFrame := func(p *poller, c *conn, _ []byte, now int64) {
		if measuring.Load() {
			p.hist.add(now - c.sentAt.Load())
			p.ops.Add(1)
		}
		if !running.Load() {
			return
		}
		if thinking != nil {
			select {
			case thinking <- thought{c: c, due: now + int64(cfg.Think)}:
			default: // more echoes than messages sent: not the bench protocol
				p.drop(c)
			}
			return
		}
		c.sentAt.Store(p.f.now())
		if p.w.send(c, payload) != nil {
			p.drop(c)
		}
	}
	if cfg.Think > 0 {
		thinking = make(chan thought, cfg.Conns)
	}
	f, err := newFleet(cfg.Pollers, cfg.Conns, onFrame)
	if err != nil {
		return EchoResult{}, fmt.Errorf("echo: %w", err)
	}
	defer f.close()
	stopThinker := func() {}
	if thinking != nil {
		stopThinker = startThinker(f, thinking, payload)
		defer stopThinker() // the thinker stops before the fleet closes its sockets
	}
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
	stopThinker()
	f.close()
	h, _ := f.results()
	return EchoResult{
		Conns: cfg.Conns, Size: cfg.Size, ThinkMS: float64(cfg.Think) / float64(time.Millisecond), RoundTrips: n, PerSecond: float64(n) / elapsed.Seconds(),
		Latency: h.percentiles(), ServerCPUus: server, ClientCPUus: self,
		ClosedByServer: f.closedByServer(), DurationSecs: elapsed.Seconds(),
	}, nil
}

// thought is a connection waiting for its think time to end before it
// sends its next message.
type thought struct {
	c   *conn
	due int64 // fleet time
}

// startThinker sends, on a goroutine of its own, each queued connection's
// next message once it is due; the returned function stops it. A
// connection is written by one goroutine at a time: the thinker sends only
// after the poller has read the echo and queued the connection. (The
// poller still answers a server's ping itself; a pong and a message are
// each one write(2) of a few bytes, which the socket does not interleave.)
func startThinker(f *fleet, queue <-chan thought, payload []byte) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var w frameWriter
		timer := time.NewTimer(time.Hour)
		defer timer.Stop()
		for {
			var t thought
			select {
			case <-done:
				return
			case t = <-queue:
			}
			if wait := time.Duration(t.due - f.now()); wait > 0 {
				timer.Reset(wait)
				select {
				case <-done:
					return
				case <-timer.C:
				}
			}
			t.c.sentAt.Store(f.now())
			_ = w.send(t.c, payload) // a broken socket is read, and dropped, by its poller

		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}
