//go:build linux

package loadtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/examples/bench"
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/loadtest"
	"github.com/switchboard-go/switchboard/internal/sbtest"
)

// target starts a real gateway and bench worker in this process; the
// process itself is the "server PID" (its CPU includes the tool's).
func target(t *testing.T) (string, []int) {
	url, pids, _ := targetWithNATS(t)
	return url, pids
}

func targetWithNATS(t *testing.T) (string, []int, string) {
	ns := sbtest.NATS(t)
	g := sbtest.Gateway(t, ns.ClientURL(), gateway.SendBufferBytes(16<<20))
	sbtest.Worker(t, ns.ClientURL(), bench.Events{})
	return "ws://" + g.Addr().String() + "/", []int{os.Getpid()}, ns.ClientURL()
}

func TestEcho(t *testing.T) {
	url, pids := target(t)
	r, err := loadtest.RunEcho(context.Background(), loadtest.EchoConfig{URL: url, Conns: 10, Size: 64, Duration: 500 * time.Millisecond, PIDs: pids})
	if err != nil {
		t.Fatal(err)
	}
	if r.RoundTrips == 0 || r.PerSecond <= 0 {
		t.Fatalf("no round trips: %+v", r)
	}
	if !(r.Latency.P50 <= r.Latency.P99 && r.Latency.P99 <= r.Latency.Max) {
		t.Fatalf("percentiles out of order: %+v", r.Latency)
	}
	var buf bytes.Buffer
	if err := loadtest.Report(&buf, "echo", r, true); err != nil {
		t.Fatal(err)
	}
	var decoded map[string]any
	if err := json.Unmarshal(buf.Bytes(), &decoded); err != nil || decoded["scenario"] != "echo" {
		t.Fatalf("JSON report %q: %v", buf.String(), err)
	}
}

func TestBroadcast(t *testing.T) {
	url, pids, natsURL := targetWithNATS(t)
	for _, cfg := range []loadtest.BroadcastConfig{
		{URL: url, Members: 20, Messages: 50, Inflight: 1, PIDs: pids},
		{URL: url, Members: 20, Messages: 100, Rate: 1000, PIDs: pids, Group: "flood"},
		{URL: url, Members: 20, Messages: 200, Inflight: 50, PIDs: pids, Group: "pushed", PushNATS: natsURL},
	} {
		r, err := loadtest.RunBroadcast(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if r.Deliveries != int64(cfg.Members*cfg.Messages) || r.Lost != 0 {
			t.Fatalf("deliveries %d lost %d, want %d and 0", r.Deliveries, r.Lost, cfg.Members*cfg.Messages)
		}
	}
}

func TestIdle(t *testing.T) {
	url, pids := target(t)
	r, err := loadtest.RunIdle(context.Background(), loadtest.IdleConfig{URL: url, Conns: 50, Concurrency: 10, Hold: 100 * time.Millisecond, PIDs: pids})
	if err != nil {
		t.Fatal(err)
	}
	if r.Conns != 50 || r.ConnectPerSec <= 0 || r.ServerRSSBytes <= 0 {
		t.Fatalf("idle: %+v", r)
	}
}

func TestFloor(t *testing.T) {
	r, err := loadtest.RunFloor(2000)
	if err != nil {
		t.Fatal(err)
	}
	if r.Writes != 2000 || r.WriteCPUus < 0 || r.WriteReadCPU < 0 {
		t.Fatalf("floor: %+v", r)
	}
}

func TestOnlyLoopback(t *testing.T) {
	for _, ok := range []string{"ws://127.0.0.1:1/", "ws://localhost:1/", "ws://[::1]:1/", "ws://127.5.5.5:1/"} {
		if err := loadtest.CheckTarget(ok, false); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"ws://10.0.0.1:1/", "ws://example.com:1/", "ws://192.168.1.1/"} {
		if err := loadtest.CheckTarget(bad, false); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// With a think time every round trip of a connection starts at least Think
// after the previous echo, so a run has at most Conns*(Duration/Think + 1)
// round trips, and latency does not include the think time.
func TestEchoThink(t *testing.T) {
	url, pids := target(t)
	cfg := loadtest.EchoConfig{URL: url, Conns: 3, Size: 64, Duration: 500 * time.Millisecond, Think: 25 * time.Millisecond, PIDs: pids}
	r, err := loadtest.RunEcho(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.ThinkMS != 25 || r.ClosedByServer != 0 || r.RoundTrips == 0 {
		t.Fatalf("echo with think time: %+v", r)
	}
	// The measured phase can outlast Duration a little (the sleep's own
	// lateness): allow for a second of it.
	most := int64(cfg.Conns) * int64((cfg.Duration+time.Second)/cfg.Think+1)
	if r.RoundTrips > most {
		t.Fatalf("%d round trips in %v with %v think time on %d connections: more than %d, so the think time was not kept",
			r.RoundTrips, r.DurationSecs, cfg.Think, cfg.Conns, most)
	}
	if _, err := loadtest.RunEcho(context.Background(), loadtest.EchoConfig{URL: url, Think: -time.Millisecond}); err == nil {
		t.Fatal("negative think time accepted")
	}
}

// oneshot: every connection sends one message after sitting idle, and RSS
// is read idle, right after the last echo and later.
func TestOneshot(t *testing.T) {
	url, pids := target(t)
	var lines []string
	r, err := loadtest.RunOneshot(context.Background(), loadtest.OneshotConfig{
		URL: url, Conns: 40, Concurrency: 8, Hold: 100 * time.Millisecond, Later: 1100 * time.Millisecond, PIDs: pids,
		Progress: func(s string) { lines = append(lines, s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Conns != 40 || r.Echoes != 40 || r.ClosedByServer != 0 || r.Latency.P50 <= 0 {
		t.Fatalf("oneshot: %+v", r)
	}
	if r.ServerRSSStart <= 0 || r.RSSIdle <= 0 || r.RSSAfter <= 0 || r.RSSLater <= 0 || r.LaterSecs < 1 {
		t.Fatalf("oneshot RSS readings: %+v", r)
	}
	// The ratios are the per-connection figures over the idle one (in this
	// process, shared with the test, the idle figure can be negative).
	if r.IdlePerConnKB > 0 && (r.AfterRatio != r.AfterPerConnKB/r.IdlePerConnKB || r.LaterRatio != r.LaterPerConnKB/r.IdlePerConnKB) {
		t.Fatalf("ratios: %+v", r)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "after the last echo") {
		t.Errorf("progress lines: %q", lines)
	}
	var buf bytes.Buffer
	if err := loadtest.Report(&buf, "oneshot", r, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rss_per_conn_idle_kb", "rss_per_conn_after_kb", "rss_per_conn_later_kb", "later_over_idle", "server_cpu_us_per_message"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %s:\n%s", want, buf.String())
		}
	}
}
