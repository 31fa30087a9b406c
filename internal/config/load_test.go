package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
		_, err := Load(write(strings.ReplaceAll(name, " ", "_")+".yaml", body))
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), wantKey[name]) {
			t.Errorf("%s: %v; want a config error naming %q", name, err, wantKey[name])
		}
	}
}

func TestEnvironmentOverridesFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte("gateway:\n  listen: ws://127.0.0.1:1111\n  max_connections: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SB_GATEWAY_LISTEN", "ws://127.0.0.1:2222")
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Gateway.Listen) != 1 || cfg.Gateway.Listen[0] != "ws://127.0.0.1:2222" || cfg.Gateway.MaxConnections != 5 {
		t.Fatalf("listen %q max_connections %d", cfg.Gateway.Listen, cfg.Gateway.MaxConnections)
	}
}

func TestShippedConfigsValidate(t *testing.T) {
	if _, err := Load("../../configs/switchboard.yaml"); err != nil {
		t.Errorf("switchboard.yaml: %v", err)
	}
	// production.yaml names files of the deployment; without them it must
	// say which key is missing, with them it validates.
	if _, err := Load("../../configs/production.yaml"); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "nats.") {
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
	cfg, err := Load("../../configs/production.yaml")
	if err != nil {
		t.Fatalf("production.yaml: %v", err)
	}
	if cfg.Has(RoleNATS) || cfg.NATS.Prefix != "myapp.prod" || len(cfg.Gateway.Listen) != 2 {
		t.Errorf("production.yaml read as %+v", cfg)
	}
}
