package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/internal/sbtest"
)

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// waitFile waits until path exists and is not empty, or the process ends.
func waitFile(t *testing.T, path string, exited <-chan struct{}, log *sbtest.LogBuffer) []byte {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return b
		}
		select {
		case <-exited:
			t.Fatalf("benchserver exited before %s appeared:\n%s", path, log.String())
		case <-deadline:
			t.Fatalf("no %s after 60s:\n%s", path, log.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// With BENCH_HEAP_DIR, SIGUSR1 to the running bench server (the default
// configuration: its worker in the gateway's process) writes mem-1.json
// and heap-1.pb.gz, and the server keeps running.
func TestHeapSnapshotOnSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the bench server")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "benchserver")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	snap := filepath.Join(dir, "snap")
	if err := os.Mkdir(snap, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "start", "--listen", "ws://127.0.0.1:"+freePort(t), "--nats-port", freePort(t))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BENCH_HEAP_DIR="+snap, "SB_PROCESS_PID_FILE="+filepath.Join(dir, "pid"), "SB_LOG_LEVEL=warn")
	exited, log := sbtest.Start(t, cmd)
	pid := waitFile(t, filepath.Join(dir, "pid"), exited, log) // ready
	if strings.TrimSpace(string(pid)) != strconv.Itoa(cmd.Process.Pid) {
		t.Fatalf("pid file %q, started %d", pid, cmd.Process.Pid)
	}
	if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	// mem-1.json is complete before heap-1.pb.gz is created.
	_ = waitFile(t, filepath.Join(snap, "heap-1.pb.gz"), exited, log)
	var mem map[string]memStats
	if err := json.Unmarshal(waitFile(t, filepath.Join(snap, "mem-1.json"), exited, log), &mem); err != nil {
		t.Fatal(err)
	}
	if a := mem["after_gc"]; a.HeapAlloc == 0 || a.Sys == 0 || a.Goroutines == 0 || a.NumGC == 0 {
		t.Fatalf("mem-1.json: %+v", mem)
	}
	// Its gzip header tells it is a profile.
	b, err := os.ReadFile(filepath.Join(snap, "heap-1.pb.gz"))
	if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("heap-1.pb.gz: %d bytes, %v", len(b), err)
	}
	select {
	case <-exited:
		t.Fatalf("benchserver exited after SIGUSR1:\n%s", log.String())
	default:
	}
}
