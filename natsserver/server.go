package natsserver

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// Config configures the embedded NATS server.
type Config struct {
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
	// DefaultPingInterval, DefaultMaxPingsOut.
	PingInterval time.Duration
	MaxPingsOut  int
	// WriteDeadline: a client that stops reading while the server has
	// data for it is disconnected after this long; default
	// DefaultWriteDeadline.
	WriteDeadline time.Duration

	// Authentication every client must give: at most one of a token,
	// a user with its password, or an nkey (the public key, "U...";
	// NkeyPublicFromSeedFile derives it from a seed file). With none,
	// the server accepts anyone who can reach it, so Start refuses
	// a Host that is not a loopback address.
	Token    string
	User     string
	Password string
	Nkey     string
}

// ErrNoAuth: an embedded server would listen beyond loopback without
// authentication.
var ErrNoAuth = errors.New("embedded nats without authentication on a non-loopback address")

// IsLoopback reports whether host (a name or an IP, "" meaning the
// default 127.0.0.1) only listens on the loopback interface. Any name but
// "localhost", and any unspecified address (0.0.0.0, ::), is not.
func IsLoopback(host string) bool {
	if host == "" || strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// NkeyPublicFromSeedFile returns the public key of the nkey seed in path
// (a user seed, "SU...", as nats.NkeyOptionFromSeed reads it).
func NkeyPublicFromSeedFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("nkey seed: %w", err)
	}
	kp, err := nkeys.ParseDecoratedNKey(b)
	if err != nil {
		return "", fmt.Errorf("nkey seed %s: %w", path, err)
	}
	defer kp.Wipe()
	pub, err := kp.PublicKey()
	if err != nil {
		return "", fmt.Errorf("nkey seed %s: %w", path, err)
	}
	if !nkeys.IsValidPublicUserKey(pub) {
		return "", fmt.Errorf("nkey seed %s: not a user seed (SU...)", path)
	}
	return pub, nil
}

// authOptions puts the configured authentication into opts.
func (cfg Config) authOptions(opts *server.Options) error {
	n := 0
	for _, set := range []bool{cfg.Token != "", cfg.User != "" || cfg.Password != "", cfg.Nkey != ""} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return errors.New("embedded nats: set only one of token, user/password, nkey")
	case cfg.User != "" && cfg.Password == "", cfg.User == "" && cfg.Password != "":
		return errors.New("embedded nats: user and password go together")
	case cfg.Token != "":
		opts.Authorization = cfg.Token
	case cfg.User != "":
		opts.Username, opts.Password = cfg.User, cfg.Password
	case cfg.Nkey != "":
		if !nkeys.IsValidPublicUserKey(cfg.Nkey) {
			return fmt.Errorf("embedded nats: nkey %q is not a user public key (U...)", cfg.Nkey)
		}
		opts.Nkeys = []*server.NkeyUser{{Nkey: cfg.Nkey}}
	case !IsLoopback(cfg.Host):
		return fmt.Errorf("embedded nats on %s: set nats.token, nats.user and nats.password, or nats.nkey_seed_file (or listen on 127.0.0.1): %w", cfg.Host, ErrNoAuth)
	}
	return nil
}

// Defaults of the embedded server's liveness checks. nats-server's own are
// 2 minutes × 2 pings and 10 s: a frozen worker would keep receiving its
// share of events, all timing out, for up to 6 minutes.
const (
	DefaultPingInterval  = 2 * time.Second
	DefaultMaxPingsOut   = 2
	DefaultWriteDeadline = 5 * time.Second
)

// Start starts an embedded nats-server (the GatewayWorker "register"
// role) and waits until it accepts connections. Stop it with Shutdown.
// Clients in the same process connect to it with nats.InProcessServer.
func Start(cfg Config) (*server.Server, error) {
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
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.MaxPingsOut <= 0 {
		cfg.MaxPingsOut = DefaultMaxPingsOut
	}
	if cfg.WriteDeadline <= 0 {
		cfg.WriteDeadline = DefaultWriteDeadline
	}
	opts := &server.Options{
		// Authentication is set below (authOptions).
		Host:       cfg.Host,
		Port:       cfg.Port,
		MaxPayload: cfg.MaxPayload,
		NoSigs:     true,
		NoLog:      !cfg.Debug,
		// A frozen client is cut within a few seconds (see Config);
		// MaxPending is large so that a busy gateway, which holds many
		// client subjects, is not cut as a slow consumer merely for a
		// burst.
		PingInterval:  cfg.PingInterval,
		MaxPingsOut:   cfg.MaxPingsOut,
		WriteDeadline: cfg.WriteDeadline,
		MaxPending:    256 << 20,
	}
	if err := cfg.authOptions(opts); err != nil {
		return nil, err
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
