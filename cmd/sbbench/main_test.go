//go:build linux

package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/switchboard-go/switchboard/internal/loadtest"
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
