package switchboard

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/switchboard-go/switchboard/internal/sbtest"
)

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
	var logs sbtest.LogBuffer
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
	expectEcho(t, c, "hi", 5*time.Second)
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
