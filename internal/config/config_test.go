package config

import (
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/viper"
)

// TestConfigErrorsNameTheKey: each invalid value is refused with an error
// naming its own full key. A negative max_connections used to be blamed on
// gateway.ping_interval.
func TestConfigErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		key string
		set func(*Config)
	}{
		{"gateway.max_connections", func(c *Config) { c.Gateway.MaxConnections = -1 }},
		{"gateway.max_connections_per_ip", func(c *Config) { c.Gateway.MaxConnectionsPerIP = -1 }},
		{"gateway.ping_interval", func(c *Config) { c.Gateway.PingInterval = -1 }},
		{"gateway.ping_not_response_limit", func(c *Config) { c.Gateway.PingNotResponseLimit = -1 }},
		{"gateway.rate_limit", func(c *Config) { c.Gateway.RateLimit = -1 }},
		{"gateway.rate_burst", func(c *Config) { c.Gateway.RateBurst = -1 }},
		{"gateway.max_redeliveries", func(c *Config) { c.Gateway.MaxRedeliveries = -1 }},
		{"gateway.max_event_batch", func(c *Config) { c.Gateway.MaxEventBatch = 65 }},
		{"gateway.max_pending_events", func(c *Config) { c.Gateway.MaxPendingEvents = 0 }},
		{"gateway.message_read_timeout", func(c *Config) { c.Gateway.MessageReadTimeout = 0 }},
		{"gateway.allowed_origins", func(c *Config) { c.Gateway.AllowedOrigins = []string{"*", "https://a.example"} }},
		{"worker.max_concurrency", func(c *Config) { c.Worker.MaxConcurrency = 0 }},
		{"worker.stop_timeout", func(c *Config) { c.Worker.StopTimeout = 0 }},
		{"worker.processes", func(c *Config) { c.Worker.Processes = -1 }},
		{"api.max_body_bytes", func(c *Config) { c.API.MaxBodyBytes = 0 }},
		{"nats.reconnect_buffer_bytes", func(c *Config) { c.NATS.ReconnectBufferBytes = -1 }},
		{"process.pid_file", func(c *Config) { c.Process.PIDFile = "" }},
		{"log.level", func(c *Config) { c.Log.Level = "loud" }},
	}
	for _, tc := range cases {
		cfg := DefaultConfig()
		tc.set(&cfg)
		err := cfg.Validate()
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.key+":") {
			t.Errorf("%s: %v; want a config error naming %s", tc.key, err, tc.key)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("the defaults: %v", err)
	}
}

// TestLaptopConfigMatchesDefaults: configs/switchboard.yaml (read as a map
// of keys) has every key of Config and no other, each with Config's
// default, so the file a user copies documents the defaults exactly.
func TestLaptopConfigMatchesDefaults(t *testing.T) {
	file := viper.New()
	file.SetConfigFile("../../configs/switchboard.yaml")
	if err := file.ReadInConfig(); err != nil {
		t.Fatal(err)
	}
	defaults := configKeys(reflect.ValueOf(DefaultConfig()), "")
	for _, key := range file.AllKeys() {
		if _, ok := defaults[key]; !ok {
			t.Errorf("configs/switchboard.yaml has %s, which Config lacks", key)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(defaults)) {
		want := defaults[key]
		if !file.InConfig(key) {
			t.Errorf("configs/switchboard.yaml lacks %s (default %v)", key, want.Interface())
			continue
		}
		got := reflect.New(want.Type())
		if err := file.UnmarshalKey(key, got.Interface()); err != nil {
			t.Errorf("%s: %v", key, err)
			continue
		}
		if !reflect.DeepEqual(got.Elem().Interface(), want.Interface()) {
			t.Errorf("%s: configs/switchboard.yaml says %#v, the default is %#v", key, got.Elem().Interface(), want.Interface())
		}
	}
}
