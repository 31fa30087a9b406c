package gateway_test

import (
	"strings"
	"testing"

	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/internal/sbtest"
)

// TestConfigOptionsShareValidation: a functional option sets a field of
// gateway.Config, and New refuses a bad value with Config's error, which
// names the full key.
func TestConfigOptionsShareValidation(t *testing.T) {
	ns := sbtest.NATS(t)
	nc := sbtest.Conn(t, ns.ClientURL())
	cases := map[string]gateway.Option{
		"gateway.max_connections":        gateway.MaxConnections(-1),
		"gateway.max_connections_per_ip": gateway.MaxConnectionsPerIP(-1),
		"gateway.max_event_batch":        gateway.MaxEventBatch(0),
		"gateway.max_pending_bytes":      gateway.MaxPendingBytes(0),
		"gateway.listen":                 gateway.Listen("http://127.0.0.1:0"),
		"gateway.allowed_origins":        gateway.AllowedOrigins(""),
		"gateway.rate_limit":             gateway.RateLimit(-1, 1),
		"gateway.http_idle_timeout":      gateway.HTTPTimeouts(1, 1, 0),
	}
	for key, opt := range cases {
		if _, err := gateway.New(nc, opt); err == nil || !strings.Contains(err.Error(), key+":") {
			t.Errorf("%s: New gave %v, want an error naming the key", key, err)
		}
		cfg := gateway.DefaultConfig()
		if _, err := gateway.New(nc, gateway.WithConfig(cfg), opt); err == nil || !strings.Contains(err.Error(), key+":") {
			t.Errorf("%s after WithConfig: New gave %v, want an error naming the key", key, err)
		}
	}
	cfg := gateway.DefaultConfig()
	cfg.MaxConnections = -1
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "gateway.max_connections:") {
		t.Errorf("Validate: %v, want an error naming gateway.max_connections", err)
	}
	cfg = gateway.DefaultConfig()
	cfg.Listen = []string{"wss://127.0.0.1:0"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "gateway.tls.") {
		t.Errorf("Validate of wss:// without certificate files: %v, want an error naming gateway.tls", err)
	}
	if err := gateway.DefaultConfig().Validate(); err != nil {
		t.Errorf("the defaults: %v", err)
	}
}
