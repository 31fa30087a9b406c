//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/internal/loadtest"
	"github.com/switchboard-go/switchboard/internal/sbtest"
)

func TestRefusesRemoteTarget(t *testing.T) {
	err := run("echo", []string{"-url", "ws://192.0.2.1:8282/ws", "-d", "1s"})
	if err == nil || !strings.Contains(err.Error(), "not loopback") {
		t.Fatalf("remote target: %v", err)
	}
}

func TestParsePIDs(t *testing.T) {
	pids, err := parsePIDs(" 12, 34,,")
	if err != nil || len(pids) != 2 || pids[0] != 12 || pids[1] != 34 {
		t.Fatalf("pids %v: %v", pids, err)
	}
	if _, err := parsePIDs("12,x"); err == nil {
		t.Fatal("bad pid accepted")
	}
}

func TestRawServerRefusesRemoteListen(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0"} {
		err := runRawServer(context.Background(), []string{"-listen", addr}, nil)
		if err == nil || !strings.Contains(err.Error(), "not loopback") {
			t.Fatalf("listen %s: %v", addr, err)
		}
	}
}

// rawserver serves the bench protocol, tells its PID in -pid-file while it
// serves, and stops with its context.
func TestRawServer(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "raw.pid")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- runRawServer(ctx, []string{"-listen", "127.0.0.1:0", "-pid-file", pidFile}, func(a net.Addr) { addrs <- a })
	}()
	var addr net.Addr
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatal(err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("pid file %q: %v", b, err)
	}
	r, err := loadtest.RunBroadcast(ctx, loadtest.BroadcastConfig{URL: "ws://" + addr.String() + "/", Members: 10, Messages: 5})
	if err != nil || r.Deliveries != 50 || r.Lost != 0 {
		t.Fatalf("broadcast: %+v: %v", r, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Fatalf("pid file left behind: %v", err)
	}
}

// -cpuprofile writes the load tool's own profile, readable by pprof.
func TestCPUProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "client.prof")
	if err := run("floor", []string{"-writes", "2000", "-cpuprofile", path}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b { // a gzipped profile
		t.Fatalf("profile: %d bytes, %v", len(b), err)
	}
}

// freePort returns a loopback port free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startBenchServer builds the bench server and starts it as a user does
// ("benchserver start", the default configuration but for the ports and
// the env settings), and returns its URL and the gateway's pid once its
// pid file says it is ready.
func startBenchServer(t *testing.T, env ...string) (string, int) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and starts the bench server")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "benchserver")
	if out, err := exec.Command("go", "build", "-o", bin, "../../examples/bench/cmd/benchserver").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	url := "ws://127.0.0.1:" + strconv.Itoa(freePort(t))
	cmd := exec.Command(bin, "start", "--listen", url, "--nats-port", strconv.Itoa(freePort(t)))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SB_PROCESS_PID_FILE="+filepath.Join(dir, "pid"), "SB_LOG_LEVEL=warn")
	cmd.Env = append(cmd.Env, env...)
	exited, log := sbtest.Start(t, cmd)
	deadline := time.After(60 * time.Second)
	for {
		// The pid file appears once the gateway and its worker processes
		// are ready.
		if b, err := os.ReadFile(filepath.Join(dir, "pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				if pid != cmd.Process.Pid {
					t.Fatalf("pid file says %d, started %d", pid, cmd.Process.Pid)
				}
				return url + "/", pid
			}
		}
		select {
		case <-exited:
			t.Fatalf("benchserver exited before it was ready:\n%s", log.String())
		case <-deadline:
			t.Fatalf("benchserver not ready after 60s:\n%s", log.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// With worker.processes: 1 (the default was 1 until it became 0) the
// worker runs in a child process of the gateway's, which does work for
// every round trip: -pids with the gateway's pid measures the CPU of
// both. echo -think and oneshot run against the real server.
func TestWorkerChildProcessIsCounted(t *testing.T) {
	url, gw := startBenchServer(t, "SB_WORKER_PROCESSES=1")
	pids, err := loadtest.WithDescendants([]int{gw})
	if err != nil {
		t.Fatal(err)
	}
	workers := 0
	for _, pid := range pids[1:] {
		env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if err == nil && bytes.Contains(env, []byte("SB_WORKER_CHILD=1\x00")) {
			workers++
		}
	}
	if workers != 1 {
		t.Fatalf("gateway %d: descendants %v hold %d worker processes, want 1", gw, pids[1:], workers)
	}

	echo := func(args ...string) map[string]any {
		t.Helper()
		var out bytes.Buffer
		if err := runTo(&out, args[0], append(args[1:], "-url", url, "-pids", strconv.Itoa(gw), "-json")); err != nil {
			t.Fatal(err)
		}
		var report struct {
			Scenario string
			Result   map[string]any
		}
		if err := json.Unmarshal(out.Bytes(), &report); err != nil || report.Scenario != args[0] {
			t.Fatalf("report %q: %v", out.String(), err)
		}
		return report.Result
	}
	r := echo("echo", "-c", "1", "-d", "400ms", "-think", "2ms")
	if r["round_trips"].(float64) == 0 || r["think_ms"].(float64) != 2 || r["server_cpu_us_per_round_trip"].(float64) <= 0 {
		t.Fatalf("echo -think: %v", r)
	}
	worker := pids[len(pids)-1]
	before := ranNS(t, worker)
	echo("echo", "-c", "4", "-d", "300ms")
	if after := ranNS(t, worker); after <= before {
		t.Fatalf("worker process %d ran nothing during an echo run (%d ns, then %d): its CPU is no part of the load", worker, before, after)
	}
	r = echo("oneshot", "-n", "30", "-c", "10", "-hold", "100ms", "-later", "100ms")
	if r["echoes"].(float64) != 30 || r["server_rss_idle_bytes"].(float64) <= 0 {
		t.Fatalf("oneshot: %v", r)
	}
}

// ranNS sums the time the threads of pid have run (/proc/PID/task/*/schedstat).
func ranNS(t *testing.T, pid int) int64 {
	t.Helper()
	files, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/schedstat")
	if err != nil || len(files) == 0 {
		t.Fatalf("threads of pid %d: %v", pid, err)
	}
	var total int64
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread ended
		}
		fields := strings.Fields(string(b))
		if len(fields) == 0 {
			t.Fatalf("%s: %q", f, b)
		}
		ns, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		total += ns
	}
	return total
}
