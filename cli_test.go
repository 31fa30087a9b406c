package switchboard

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/switchboard-go/switchboard/internal/sbtest"
	"github.com/switchboard-go/switchboard/worker"
)

type echoEvents struct{}

func (echoEvents) OnMessage(c *worker.Context, m worker.Message) error {
	return c.SendToCurrentClient(m.Data)
}

// TestStartRunsEverything drives "start" as a user would: embedded NATS, a
// gateway and a worker in one process, then a client echo, then stop.
func TestStartRunsEverything(t *testing.T) {
	natsPort, wsPort := sbtest.FreePort(t), sbtest.FreePort(t)
	t.Setenv("SB_WORKER_PROCESSES", "0") // the test binary cannot be a worker child
	// Flags beat the environment: this listener must not be used.
	t.Setenv("SB_GATEWAY_LISTEN", "ws://127.0.0.1:1")
	t.Setenv("SB_PROCESS_PID_FILE", filepath.Join(t.TempDir(), "sb.pid"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- RunArgs(ctx, []string{"start", "--nats-port", fmt.Sprint(natsPort),
			"--listen", fmt.Sprintf("ws://127.0.0.1:%d", wsPort)}, echoEvents{})
	}()
	var conn net.Conn
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		conn, _, _, err = ws.Dial(context.Background(), fmt.Sprintf("ws://127.0.0.1:%d/", wsPort))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway never came up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer conn.Close()
	expectEcho(t, conn, "hi", 5*time.Second)

	out := captureStdout(t, func() {
		if code := RunArgs(context.Background(), []string{"connections", "--nats-url", fmt.Sprintf("nats://127.0.0.1:%d", natsPort)}, nil); code != 0 {
			t.Errorf("connections exit code %d", code)
		}
	})
	if !strings.Contains(out, "1 connections") {
		t.Errorf("connections printed:\n%s", out)
	}
	out = captureStdout(t, func() {
		if code := RunArgs(context.Background(), []string{"status", "--nats-url", fmt.Sprintf("nats://127.0.0.1:%d", natsPort)}, nil); code != 0 {
			t.Errorf("status exit code %d", code)
		}
	})
	if !strings.Contains(out, "1 gateways, 1 workers, 1 connections") {
		t.Errorf("status printed:\n%s", out)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("start exited with %d", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("start did not stop")
	}
}

func captureStdout(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	fn()
	os.Stdout = old
	w.Close()
	b := make([]byte, 1<<16)
	n, _ := r.Read(b)
	return string(b[:n])
}

// TestStartWithABadConfigExits2: a configuration error ends "start" with
// exit code 2 (the configuration's own errors are tested in
// internal/config).
func TestStartWithABadConfigExits2(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(p, []byte("roles: [x]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := RunArgs(context.Background(), []string{"start", "-c", p}, nil); code != 2 {
		t.Errorf("start with a bad config: exit %d, want 2", code)
	}
}

// expectEcho sends msg to the gateway as a text frame on c and fails the
// test unless the same text comes back within d.
func expectEcho(t testing.TB, c net.Conn, msg string, d time.Duration) {
	t.Helper()
	if err := wsutil.WriteClientText(c, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(d))
	if b, err := wsutil.ReadServerText(c); err != nil || string(b) != msg {
		t.Fatalf("echo %q: got %q, %v", msg, b, err)
	}
}
