//go:build linux

package loadtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/switchboard-go/switchboard/internal/loadtest"
)

// benchServer is a minimal bench-protocol server, a goroutine per
// connection: "join G" replies "ok", "bcast G P" sends P to G's members,
// anything else is echoed.
type benchServer struct {
	ln     net.Listener
	drop   func(member int, payload []byte) bool // loses a delivery when true
	mu     sync.Mutex
	conns  map[*serverConn]struct{}
	groups map[string][]*serverConn
	joins  int
	wg     sync.WaitGroup
}

type serverConn struct {
	mu     sync.Mutex
	nc     net.Conn
	member int // join order, -1 before joining
}

func (c *serverConn) send(p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return wsutil.WriteServerText(c.nc, p)
}

// startBenchServer serves on 127.0.0.1 until the test ends and returns its
// URL.
func startBenchServer(t *testing.T, drop func(member int, payload []byte) bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &benchServer{ln: ln, drop: drop, conns: map[*serverConn]struct{}{}, groups: map[string][]*serverConn{}}
	s.wg.Go(s.accept)
	t.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			_ = c.nc.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return "ws://" + ln.Addr().String() + "/ws"
}

func (s *benchServer) accept() {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		c := &serverConn{nc: nc, member: -1}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() { s.serve(c) })
	}
}

func (s *benchServer) serve(c *serverConn) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		_ = c.nc.Close()
	}()
	if _, err := ws.Upgrade(c.nc); err != nil {
		return
	}
	for {
		msg, _, err := wsutil.ReadClientData(c.nc)
		if err != nil {
			return
		}
		switch {
		case bytes.HasPrefix(msg, []byte("join ")):
			s.mu.Lock()
			g := string(msg[len("join "):])
			s.groups[g] = append(s.groups[g], c)
			c.member = s.joins
			s.joins++
			s.mu.Unlock()
			err = c.send([]byte("ok"))
		case bytes.HasPrefix(msg, []byte("bcast ")):
			g, payload, _ := bytes.Cut(msg[len("bcast "):], []byte(" "))
			s.mu.Lock()
			members := append([]*serverConn(nil), s.groups[string(g)]...)
			s.mu.Unlock()
			for _, m := range members {
				if s.drop == nil || !s.drop(m.member, payload) {
					_ = m.send(payload)
				}
			}
		default:
			err = c.send(msg)
		}
		if err != nil {
			return
		}
	}
}

func TestBenchServerIdle(t *testing.T) {
	url := startBenchServer(t, nil)
	var lines []string
	r, err := loadtest.RunIdle(context.Background(), loadtest.IdleConfig{
		URL: url, Conns: 50, Concurrency: 8, Hold: 1100 * time.Millisecond, PIDs: []int{os.Getpid()},
		Progress: func(s string) { lines = append(lines, s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Conns != 50 || r.ConnectPerSec <= 0 || r.ServerRSSBytes <= 0 || r.ServerRSSStart <= 0 || r.ClosedByServer != 0 {
		t.Fatalf("idle: %+v", r)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "holding 50") {
		t.Errorf("progress lines: %q", lines)
	}
}

func TestBenchServerEcho(t *testing.T) {
	url := startBenchServer(t, nil)
	r, err := loadtest.RunEcho(context.Background(), loadtest.EchoConfig{URL: url, Conns: 10, Size: 100, Duration: 300 * time.Millisecond, PIDs: []int{os.Getpid()}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Conns != 10 || r.Size != 100 || r.RoundTrips == 0 || r.PerSecond <= 0 || r.ClientCPUus <= 0 || r.ClosedByServer != 0 {
		t.Fatalf("echo: %+v", r)
	}
	if l := r.Latency; !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
		t.Fatalf("latency percentiles out of order: %+v", l)
	}
	var table bytes.Buffer
	if err := loadtest.Report(&table, "echo", r, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"scenario", "round_trips_per_sec", "latency.p99_ms", "server_cpu_us_per_round_trip"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %s:\n%s", want, table.String())
		}
	}
}

func TestBenchServerBroadcast(t *testing.T) {
	url := startBenchServer(t, nil)
	for _, cfg := range []loadtest.BroadcastConfig{
		{URL: url, Members: 20, Messages: 50, Inflight: 1},
		{URL: url, Members: 20, Messages: 50, Inflight: 8, Group: "window", Size: 200, Pollers: 3},
		{URL: url, Members: 7, Messages: 100, Rate: 2000, Group: "rate"},
	} {
		r := runBroadcastComplete(t, cfg)
		var out bytes.Buffer
		if err := loadtest.Report(&out, "broadcast", r, true); err != nil {
			t.Fatal(err)
		}
		var decoded struct {
			Scenario string                   `json:"scenario"`
			Result   loadtest.BroadcastResult `json:"result"`
		}
		if err := json.Unmarshal(out.Bytes(), &decoded); err != nil || decoded.Scenario != "broadcast" || decoded.Result.Deliveries != r.Deliveries {
			t.Fatalf("JSON %s: %v", out.String(), err)
		}
	}
}

// A message one member never gets stalls the closed loop: the run reports
// it lost instead of failing.
func TestBenchServerBroadcastLoss(t *testing.T) {
	url := startBenchServer(t, func(member int, payload []byte) bool {
		return member == 3 && bytes.HasPrefix(payload, []byte("000000002 "))
	})
	r, err := loadtest.RunBroadcast(context.Background(), loadtest.BroadcastConfig{URL: url, Members: 10, Messages: 20, Grace: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Stalled || r.Messages != 3 || r.Lost != 1 || r.Deliveries != 29 {
		t.Fatalf("want stalled after 3 messages with 1 lost: %+v", r)
	}
}

func TestBenchServerRefusesRemote(t *testing.T) {
	if err := loadtest.CheckTarget("ws://192.0.2.1:8282/ws", false); err == nil || !strings.Contains(err.Error(), "-allow-remote") {
		t.Fatalf("remote target: %v", err)
	}
	if err := loadtest.CheckTarget("ws://192.0.2.1:8282/ws", true); err != nil {
		t.Fatalf("remote target allowed: %v", err)
	}
	if err := loadtest.CheckTarget("wss://127.0.0.1:8282/ws", false); err == nil {
		t.Fatal("wss accepted")
	}
}

func TestFloorValues(t *testing.T) {
	r, err := loadtest.RunFloor(5000)
	if err != nil {
		t.Fatal(err)
	}
	if r.Writes != 5000 || r.WriteCPUus <= 0 || r.WriteSyscallUs <= 0 || r.ReadCPUus <= 0 || r.WriteReadCPU <= 0 {
		t.Fatalf("floor: %+v", r)
	}
}

// runBroadcastComplete runs one broadcast measured against this process and
// fails unless every member got every message, in order, with sane latencies.
func runBroadcastComplete(t *testing.T, cfg loadtest.BroadcastConfig) loadtest.BroadcastResult {
	t.Helper()
	cfg.PIDs = []int{os.Getpid()}
	r, err := loadtest.RunBroadcast(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Messages != cfg.Messages || r.Deliveries != int64(cfg.Members*cfg.Messages) || r.Lost != 0 || r.OutOfOrder != 0 || r.Stalled {
		t.Fatalf("%+v: %+v", cfg, r)
	}
	if l := r.Latency; !(l.P50 <= l.P99 && l.P99 <= l.Max && l.Max > 0) || r.PerSecond <= 0 {
		t.Fatalf("%+v: %+v", cfg, r)
	}
	return r
}
