package switchboard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/spf13/viper"

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

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := map[string]string{
		"unknown key":    "gateway:\n  listn: ws://x:1\n",
		"bad address":    "gateway:\n  listen: http://0.0.0.0:1\n",
		"bad duration":   "gateway:\n  event_timeout: soon\n",
		"bad role":       "roles: [nats, cashier]\n",
		"negative bytes": "gateway:\n  max_message_bytes: -1\n",
		"no nats":        "roles: [gateway]\n",
		"two auths":      "nats:\n  token: t\n  user: u\n  password: p\n",
		"missing creds":  "nats:\n  creds_file: /nonexistent.creds\n",
		"missing cert":   "gateway:\n  listen: [wss://0.0.0.0:1]\n  tls:\n    cert_file: /nope.pem\n    key_file: /nope.key\n",
		"no pings":       "nats:\n  ping_interval: 0s\n",
		"no outstanding": "nats:\n  max_pings_outstanding: 0\n",
	}
	wantKey := map[string]string{
		"unknown key": "listn", "bad address": "gateway.listen", "bad duration": "event_timeout",
		"bad role": "roles", "negative bytes": "gateway.max_message_bytes", "no nats": "nats.url",
		"two auths": "only one of", "missing creds": "nats.creds_file", "missing cert": "gateway.tls.cert_file",
		"no pings": "nats.ping_interval", "no outstanding": "nats.max_pings_outstanding",
	}
	for name, body := range cases {
		_, err := LoadConfig(write(strings.ReplaceAll(name, " ", "_")+".yaml", body))
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), wantKey[name]) {
			t.Errorf("%s: %v; want a config error naming %q", name, err, wantKey[name])
		}
	}
	if code := RunArgs(context.Background(), []string{"start", "-c", write("bad.yaml", "roles: [x]\n")}, nil); code != 2 {
		t.Errorf("start with a bad config: exit %d, want 2", code)
	}
}

func TestEnvironmentOverridesFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte("gateway:\n  listen: ws://127.0.0.1:1111\n  max_connections: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SB_GATEWAY_LISTEN", "ws://127.0.0.1:2222")
	cfg, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Gateway.Listen) != 1 || cfg.Gateway.Listen[0] != "ws://127.0.0.1:2222" || cfg.Gateway.MaxConnections != 5 {
		t.Fatalf("listen %q max_connections %d", cfg.Gateway.Listen, cfg.Gateway.MaxConnections)
	}
}

func TestShippedConfigsValidate(t *testing.T) {
	if _, err := LoadConfig("configs/switchboard.yaml"); err != nil {
		t.Errorf("switchboard.yaml: %v", err)
	}
	// production.yaml names files of the deployment; without them it must
	// say which key is missing, with them it validates.
	if _, err := LoadConfig("configs/production.yaml"); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "nats.") {
		t.Errorf("production.yaml without its files: %v, want an error naming a nats key", err)
	}
	dir := t.TempDir()
	for key, name := range map[string]string{"SB_NATS_CREDS_FILE": "nats.creds", "SB_NATS_TLS_CA_FILE": "ca.pem"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv(key, p)
	}
	cfg, err := LoadConfig("configs/production.yaml")
	if err != nil {
		t.Fatalf("production.yaml: %v", err)
	}
	if cfg.Has(RoleNATS) || cfg.NATS.Prefix != "myapp.prod" || len(cfg.Gateway.Listen) != 2 {
		t.Errorf("production.yaml read as %+v", cfg)
	}
}

// The README promises every key in configs/switchboard.yaml, with a
// comment: a key with a default must appear there.
func TestLaptopConfigListsEveryKey(t *testing.T) {
	file := viper.New()
	file.SetConfigFile("configs/switchboard.yaml")
	if err := file.ReadInConfig(); err != nil {
		t.Fatal(err)
	}
	defaults := viper.New()
	setDefaults(defaults)
	for _, key := range defaults.AllKeys() {
		if !file.InConfig(key) {
			t.Errorf("configs/switchboard.yaml lacks %s", key)
		}
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
