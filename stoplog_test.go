package switchboard

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// syncBuffer is a bytes.Buffer safe for the logger's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestCleanStopLogsNoWarning: starting a node, serving a client and
// stopping it logs nothing at warn level or above (the NATS connections
// closed by the stop used to log "nats disconnected err=<nil>" at warn).
func TestCleanStopLogsNoWarning(t *testing.T) {
	cfg, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.NATS.Port = -1
	cfg.Gateway.Listen = []string{"ws://127.0.0.1:0"}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n, err := Start(context.Background(), echoEvents{}, cfg, WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	c, _, _, err := ws.Dial(context.Background(), "ws://"+n.GatewayAddr().String()+"/")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := wsutil.WriteClientText(c, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := wsutil.ReadServerText(c); err != nil || string(b) != "hi" {
		t.Fatalf("echo: %q %v", b, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	out := logs.String()
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			t.Errorf("a clean stop logged: %s", line)
		}
	}
	if !strings.Contains(out, "nats connection closed") {
		t.Errorf("no \"nats connection closed\" line in:\n%s", out)
	}
}
