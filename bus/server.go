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
	// PingInterval and MaxPingsOut: the server pings a client that sent
	// nothing for PingInterval and disconnects it when MaxPingsOut pings
	// are unanswered, so a frozen process (SIGSTOP, a debugger, a hung
	// host) loses its subscriptions, and its share of the queue group's
	// events, within about (MaxPingsOut+2) × PingInterval. Defaults:
	// DefaultServerPingInterval, DefaultServerMaxPingsOut.
	PingInterval time.Duration
	MaxPingsOut  int
	// WriteDeadline: a client that stops reading while the server has
	// data for it is disconnected after this long; default
	// DefaultServerWriteDeadline.
	WriteDeadline time.Duration
}

// Defaults of the embedded server's liveness checks. nats-server's own are
// 2 minutes × 2 pings and 10 s: a frozen worker would keep receiving its
// share of events, all timing out, for up to 6 minutes.
const (
	DefaultServerPingInterval  = 2 * time.Second
	DefaultServerMaxPingsOut   = 2
	DefaultServerWriteDeadline = 5 * time.Second
)

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
		cfg.PingInterval = DefaultServerPingInterval
	}
	if cfg.MaxPingsOut <= 0 {
		cfg.MaxPingsOut = DefaultServerMaxPingsOut
	}
	if cfg.WriteDeadline <= 0 {
		cfg.WriteDeadline = DefaultServerWriteDeadline
	}
	opts := &server.Options{
		Host:       cfg.Host,
		Port:       cfg.Port,
		MaxPayload: cfg.MaxPayload,
		NoSigs:     true,
		NoLog:      !cfg.Debug,
		// A frozen client is cut within a few seconds (see ServerConfig);
		// MaxPending is large so that a busy gateway, which holds many
		// client subjects, is not cut as a slow consumer merely for a
		// burst.
		PingInterval:  cfg.PingInterval,
		MaxPingsOut:   cfg.MaxPingsOut,
		WriteDeadline: cfg.WriteDeadline,
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
