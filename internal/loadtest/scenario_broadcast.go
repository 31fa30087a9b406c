//go:build linux

package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/switchboard-go/switchboard/bus"
)

// Broadcast payloads start with the sequence number and the send time
// (fleet nanoseconds), in fixed-width decimal: "000000042 000001234567890".
const (
	seqDigits   = 9
	timeDigits  = 15
	stampLength = seqDigits + 1 + timeDigits
)

// BroadcastConfig is a group fan-out run: Members connections join Group
// and wait for "ok", then one more connection sends Messages "bcast"
// messages, either closed loop (at most Inflight not yet delivered to every
// member) or at a fixed Rate per second.
type BroadcastConfig struct {
	URL      string        // ws:// URL of a bench-protocol server
	Members  int           // group members (default 1)
	Group    string        // group name (default "bench")
	Size     int           // payload bytes, at least 25 (default 64)
	Messages int           // messages sent (default 100)
	Inflight int           // closed loop: messages in flight (default 1)
	Rate     float64       // open loop: messages per second; overrides Inflight
	Grace    time.Duration // wait for late deliveries, and for a stalled closed loop (default 5 s)
	PIDs     []int         // server processes whose CPU is measured
	Pollers  int           // epoll reader goroutines (default 1)
	Progress func(string)  // called once a second with a progress line; may be nil
	// PushNATS, when set, sends with the Gateway API over NATS at this URL
	// (a backend pushing, subjects under Prefix) instead of "bcast" from a
	// WebSocket client, whose messages pass one at a time through its own
	// event pipeline.
	PushNATS string
	Prefix   string
}

// BroadcastResult is what a broadcast run measured. Lost counts the
// (member, message) deliveries that had not arrived at the end of the
// grace period; Stalled tells that a closed loop stopped sending early
// because a message was not delivered to every member within Grace.
type BroadcastResult struct {
	Members      int         `json:"members"`
	Messages     int         `json:"messages"`
	Size         int         `json:"size"`
	Deliveries   int64       `json:"deliveries"`
	Lost         int64       `json:"lost"`
	OutOfOrder   int64       `json:"out_of_order"`
	Stalled      bool        `json:"stalled"`
	SendRate     float64     `json:"messages_sent_per_sec"`
	PerSecond    float64     `json:"deliveries_per_sec"`
	Latency      Percentiles `json:"delivery_latency"`
	ServerCPUus  float64     `json:"server_cpu_us_per_delivery"`
	ClientCPUus  float64     `json:"client_cpu_us_per_delivery"`
	DurationSecs float64     `json:"duration_s"`
}

// bcastState is one poller's share of a broadcast run, owned by it.
type bcastState struct {
	members    int     // members this poller reads
	got        []int32 // copies of each message received by them
	outOfOrder int64
}

// RunBroadcast runs the broadcast scenario against cfg.URL.
func RunBroadcast(ctx context.Context, cfg BroadcastConfig) (BroadcastResult, error) {
	cfg.Members = max(cfg.Members, 1)
	cfg.Pollers = max(cfg.Pollers, 1)
	if cfg.Group == "" {
		cfg.Group = "bench"
	}
	if cfg.Size == 0 {
		cfg.Size = 64
	}
	if cfg.Size < stampLength || cfg.Size > maxPayload {
		return BroadcastResult{}, fmt.Errorf("broadcast: size %d out of %d..%d", cfg.Size, stampLength, maxPayload)
	}
	if cfg.Messages == 0 {
		cfg.Messages = 100
	}
	if cfg.Messages < 0 || cfg.Messages >= 1e9 {
		return BroadcastResult{}, fmt.Errorf("broadcast: messages %d out of 1..999999999", cfg.Messages)
	}
	cfg.Inflight = max(cfg.Inflight, 1)
	if cfg.Grace <= 0 {
		cfg.Grace = 5 * time.Second
	}

	// Member i is read by poller i mod Pollers; each poller tells once
	// when all its members have a message, and the message is complete
	// when every poller with members has told.
	states := make([]bcastState, cfg.Pollers)
	for i := range cfg.Members {
		states[i%cfg.Pollers].members++
	}
	for i := range states {
		states[i].got = make([]int32, cfg.Messages)
	}
	activePollers := int32(min(cfg.Pollers, cfg.Members))
	pollersDone := make([]atomic.Int32, cfg.Messages)
	complete := make(chan struct{}, cfg.Messages)
	var joined atomic.Int64
	onFrame := func(p *poller, c *conn, msg []byte, now int64) {
		if string(msg) == "ok" {
			joined.Add(1)
			return
		}
		seq, sent, ok := parseStamp(msg)
		if !ok || seq >= int64(cfg.Messages) {
			return
		}
		st := &states[p.id]
		p.hist.add(now - sent)
		p.lastTime = now
		p.ops.Add(1)
		if seq <= c.lastSeq {
			st.outOfOrder++
		}
		c.lastSeq = seq
		st.got[seq]++
		if int(st.got[seq]) == st.members && pollersDone[seq].Add(1) == activePollers {
			complete <- struct{}{}
		}
	}

	f, err := newFleet(cfg.Pollers, cfg.Members+1, onFrame)
	if err != nil {
		return BroadcastResult{}, fmt.Errorf("broadcast: %w", err)
	}
	defer f.close()
	stopProgress := startProgress(cfg.Progress, func() string {
		return fmt.Sprintf("broadcast: connected %d, joined %d of %d", f.count(), joined.Load(), cfg.Members)
	})
	defer stopProgress()
	if err := f.dialMany(ctx, cfg.URL, cfg.Members, 50); err != nil {
		return BroadcastResult{}, fmt.Errorf("broadcast: members: %w", err)
	}
	var w frameWriter
	join := []byte("join " + cfg.Group)
	for i := range cfg.Members {
		if err := w.send(f.conn(i), join); err != nil {
			return BroadcastResult{}, fmt.Errorf("broadcast: join: %w", err)
		}
	}
	if err := waitFor(ctx, 30*time.Second, func() bool { return joined.Load() >= int64(cfg.Members) }); err != nil {
		return BroadcastResult{}, fmt.Errorf("broadcast: %d of %d members joined: %w", joined.Load(), cfg.Members, err)
	}
	send, closeSender, err := newBroadcastSender(ctx, cfg, f)
	if err != nil {
		return BroadcastResult{}, fmt.Errorf("broadcast: %w", err)
	}
	defer closeSender()
	stopProgress()

	m, err := startMeter(cfg.PIDs)
	if err != nil {
		return BroadcastResult{}, fmt.Errorf("broadcast: %w", err)
	}
	start := time.Now()
	startNs := f.now()
	var sent atomic.Int64
	stopProgress = startProgress(cfg.Progress, func() string {
		return fmt.Sprintf("broadcast: sent %d of %d, %s", sent.Load(), cfg.Messages,
			fmtRate("deliveries/s", f.ops(), time.Since(start)))
	})
	defer stopProgress()
	stalled, err := sendBroadcasts(ctx, cfg, f, send, &sent, complete)
	if err != nil {
		return BroadcastResult{}, fmt.Errorf("broadcast: %w", err)
	}
	sendSecs := time.Since(start).Seconds()
	want := sent.Load() * int64(cfg.Members)
	_ = waitFor(ctx, cfg.Grace, func() bool { return f.ops() >= want })
	stopProgress()
	n := f.ops()
	server, self, err := m.perOp(n)
	if err != nil {
		return BroadcastResult{}, fmt.Errorf("broadcast: %w", err)
	}
	f.close()
	h, last := f.results()
	r := BroadcastResult{
		Members: cfg.Members, Messages: int(sent.Load()), Size: cfg.Size, Deliveries: n, Lost: max(want-n, 0),
		Stalled: stalled, SendRate: float64(sent.Load()) / sendSecs, Latency: h.percentiles(),
		ServerCPUus: server, ClientCPUus: self, DurationSecs: time.Since(start).Seconds(),
	}
	for i := range states {
		r.OutOfOrder += states[i].outOfOrder
	}
	if last > startNs {
		r.PerSecond = float64(n) / (float64(last-startNs) / float64(time.Second))
	}
	return r, nil
}

// sendBroadcasts sends the messages of a run from the sender connection,
// counting them in sent; stalled is true when a closed loop gave up
// waiting for a delivery.
func sendBroadcasts(ctx context.Context, cfg BroadcastConfig, f *fleet, send func(payload []byte) error, sent *atomic.Int64, complete <-chan struct{}) (stalled bool, err error) {
	msg := make([]byte, 0, cfg.Size)
	pad := bytes.Repeat([]byte("x"), cfg.Size-stampLength)
	var done int64
	start := time.Now()
	for sent.Load() < int64(cfg.Messages) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if cfg.Rate > 0 {
			due := start.Add(time.Duration(float64(sent.Load()) / cfg.Rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				sleep(ctx, d)
			}
		} else {
			for sent.Load()-done >= int64(cfg.Inflight) {
				if err := waitComplete(ctx, complete, cfg.Grace); err != nil {
					if errors.Is(err, context.DeadlineExceeded) {
						return true, nil
					}
					return false, err
				}
				done++
			}
		}
		msg = append(appendStamp(msg[:0], sent.Load(), f.now()), pad...)
		if err := send(msg); err != nil {
			return false, fmt.Errorf("send message %d: %w", sent.Load(), err)
		}
		sent.Add(1)
	}
	return false, nil
}

// newBroadcastSender returns the function that sends one broadcast
// payload: "bcast" from one more WebSocket connection, or the Gateway API
// over NATS with PushNATS.
func newBroadcastSender(ctx context.Context, cfg BroadcastConfig, f *fleet) (send func(payload []byte) error, closeSender func(), err error) {
	if cfg.PushNATS != "" {
		api, err := bus.Connect(cfg.PushNATS, bus.WithPrefix(cfg.Prefix))
		if err != nil {
			return nil, nil, fmt.Errorf("push sender: %w", err)
		}
		send = func(payload []byte) error {
			return api.SendToGroup(cfg.Group, bytes.Clone(payload)) // the API may keep it
		}
		return send, func() { _ = api.Close() }, nil
	}
	sender, err := f.dial(ctx, cfg.URL)
	if err != nil {
		return nil, nil, fmt.Errorf("sender: %w", err)
	}
	var w frameWriter
	cmd := []byte("bcast " + cfg.Group + " ")
	buf := make([]byte, 0, len(cmd)+cfg.Size)
	send = func(payload []byte) error {
		buf = append(append(buf[:0], cmd...), payload...)
		return w.send(sender, buf)
	}
	return send, func() {}, nil
}

func waitComplete(ctx context.Context, complete <-chan struct{}, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-complete:
		return nil
	case <-t.C:
		return context.DeadlineExceeded
	case <-ctx.Done():
		return ctx.Err()
	}
}

// appendStamp appends seq and the send time in fixed-width decimal.
func appendStamp(b []byte, seq, sent int64) []byte {
	b = appendFixed(b, seq, seqDigits)
	b = append(b, ' ')
	return appendFixed(b, sent, timeDigits)
}

func appendFixed(b []byte, v int64, width int) []byte {
	n := len(b)
	for range width {
		b = append(b, '0')
	}
	for i := n + width - 1; i >= n && v > 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}

// parseStamp reads the sequence number and send time at the start of a
// broadcast payload.
func parseStamp(p []byte) (seq, sent int64, ok bool) {
	if len(p) < stampLength || p[seqDigits] != ' ' {
		return 0, 0, false
	}
	seq, ok1 := parseFixed(p[:seqDigits])
	sent, ok2 := parseFixed(p[seqDigits+1 : stampLength])
	return seq, sent, ok1 && ok2
}

func parseFixed(p []byte) (int64, bool) {
	var v int64
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}
