package bus

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ServerConfig configures the embedded NATS server.
type ServerConfig struct {
	// Host to listen on; default 127.0.0.1.
	Host string
	// Port to listen on; 0 means 4222, -1 a random free port.
	Port int
	// MaxPayload is the largest message the server accepts; default 8 MiB.
	MaxPayload int32
	// Debug turns on the server's own logging.
	Debug bool
	// PingInterval and MaxPingsOut: the server pings each client every
	// PingInterval and drops one with more than MaxPingsOut unanswered,
	// so a client behind a dead link (and its queue subscriptions, which
	// would keep taking events) is gone within PingInterval ×
	// (MaxPingsOut + 1). Defaults 3s and 2.
	PingInterval time.Duration
	MaxPingsOut  int
}

// StartServer starts an embedded nats-server (the GatewayWorker "register"
// role) and waits until it accepts connections. Stop it with Shutdown.
// Clients in the same process connect to it with nats.InProcessServer.
func StartServer(cfg ServerConfig) (*server.Server, error) {
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Port == 0 {
		cfg.Port = 4222
	}
	if cfg.MaxPayload == 0 {
		cfg.MaxPayload = 8 << 20
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 3 * time.Second
	}
	if cfg.MaxPingsOut <= 0 {
		cfg.MaxPingsOut = 2
	}
	opts := &server.Options{
		Host:         cfg.Host,
		Port:         cfg.Port,
		MaxPayload:   cfg.MaxPayload,
		PingInterval: cfg.PingInterval,
		MaxPingsOut:  cfg.MaxPingsOut,
		NoSigs:       true,
		NoLog:        !cfg.Debug,
		// Gateways hold many client subjects; keep the server from
		// disconnecting a busy in-process gateway as a slow consumer early.
		WriteDeadline: 10 * time.Second,
		MaxPending:    256 << 20,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	if cfg.Debug {
		s.ConfigureLogger()
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded nats on %s:%d: not ready after 10s", cfg.Host, cfg.Port)
	}
	return s, nil
}
