package switchboard

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/viper"

	"github.com/switchboard-go/switchboard/httpapi"
	"github.com/switchboard-go/switchboard/natsserver"
)

// Config is the whole configuration of a Switchboard process. It comes from
// defaults, a YAML file, SB_* environment variables and flags, in rising
// order of precedence (viper).
type Config struct {
	// Roles this process runs: any of "nats", "gateway", "worker".
	Roles   []string      `mapstructure:"roles"`
	NATS    NATSConfig    `mapstructure:"nats"`
	Gateway GatewayConfig `mapstructure:"gateway"`
	Worker  WorkerConfig  `mapstructure:"worker"`
	Log     LogConfig     `mapstructure:"log"`
	Metrics MetricsConfig `mapstructure:"metrics"`
	Process ProcessConfig `mapstructure:"process"`
	API     APIConfig     `mapstructure:"api"`
}

// APIConfig configures the HTTP push API (role "api").
type APIConfig struct {
	// Listen is a host:port of its own; empty: the API is served under
	// /api/ on the gateway's ws:// ports (needs the gateway role).
	Listen string `mapstructure:"listen"`
	// Tokens are the bearer tokens and the calls each may make ("*": all).
	Tokens       []httpapi.Token `mapstructure:"tokens"`
	MaxBodyBytes int64           `mapstructure:"max_body_bytes"`
}

// ProcessConfig says where a started process keeps its pid and, with
// "start -d", its log.
type ProcessConfig struct {
	PIDFile string `mapstructure:"pid_file"`
	LogFile string `mapstructure:"log_file"`
}

// resolve makes relative pid and log paths relative to the directory of
// the configuration file, so that "stop" or "reload" run from another
// directory with the same file find the running process.
func (p *ProcessConfig) resolve(configFile string) error {
	dir, err := filepath.Abs(filepath.Dir(configFile))
	if err != nil {
		return fmt.Errorf("%w: directory of %s: %v", ErrConfig, configFile, err)
	}
	for _, path := range []*string{&p.PIDFile, &p.LogFile} {
		if *path != "" && !filepath.IsAbs(*path) {
			*path = filepath.Join(dir, *path)
		}
	}
	return nil
}

// MetricsConfig configures the Prometheus endpoint.
type MetricsConfig struct {
	// Listen is a host:port for /metrics, /healthz and /readyz (needed
	// by worker-only processes). Empty: none; the gateway's ws:// ports
	// serve /healthz and /readyz, and /metrics only with OnGatewayPort.
	Listen string `mapstructure:"listen"`
	// OnGatewayPort serves /metrics on the gateway's ws:// ports too (off
	// by default: they face the clients, and the metrics tell an attacker
	// the Go version, descriptor counts and traffic).
	OnGatewayPort bool `mapstructure:"on_gateway_port"`
}

// NATSConfig says where the bus is.
type NATSConfig struct {
	// URL of an external NATS server or cluster (comma-separated). Empty:
	// the process starts an embedded server (role "nats").
	URL string `mapstructure:"url"`
	// Host and Port of the embedded server.
	Host string `mapstructure:"host"`
	Port int    `mapstructure:"port"`
	// Prefix starts every subject (namespace).
	Prefix string `mapstructure:"prefix"`
	// Authentication to an external cluster: at most one of a credentials
	// file (.creds, NGS/Synadia Cloud style), an nkey seed file,
	// user/password, or a token.
	CredsFile    string `mapstructure:"creds_file"`
	NkeySeedFile string `mapstructure:"nkey_seed_file"`
	User         string `mapstructure:"user"`
	Password     string `mapstructure:"password"`
	Token        string `mapstructure:"token"`
	// TLS to the cluster: CA to trust, and a client certificate for mTLS.
	TLS NATSTLS `mapstructure:"tls"`
	// Reconnection: wait between attempts, bytes buffered while away, and
	// attempts (-1: forever).
	ReconnectWait        time.Duration `mapstructure:"reconnect_wait"`
	ReconnectBufferBytes int           `mapstructure:"reconnect_buffer_bytes"`
	MaxReconnects        int           `mapstructure:"max_reconnects"`
	// Dead-link detection: a PING every ping_interval; a connection with
	// more than max_pings_outstanding unanswered is dropped and
	// reconnected, so a silently dead link is noticed within
	// ping_interval × (max_pings_outstanding + 1).
	PingInterval        time.Duration `mapstructure:"ping_interval"`
	MaxPingsOutstanding int           `mapstructure:"max_pings_outstanding"`
	// The embedded server's liveness check of its clients: a client that
	// leaves ServerMaxPingsOut pings sent every ServerPingInterval
	// unanswered (a frozen worker) is disconnected.
	ServerPingInterval time.Duration `mapstructure:"server_ping_interval"`
	ServerMaxPingsOut  int           `mapstructure:"server_max_pings_out"`
}

// NATSTLS configures TLS to the NATS servers.
type NATSTLS struct {
	CAFile   string `mapstructure:"ca_file"`
	CertFile string `mapstructure:"cert_file"`
	KeyFile  string `mapstructure:"key_file"`
}

// GatewayConfig configures the gateway role.
type GatewayConfig struct {
	// Listen is one or more listener URLs: ws://, tcp+text://, tcp+frame://.
	Listen               []string      `mapstructure:"listen"`
	PingInterval         time.Duration `mapstructure:"ping_interval"`
	PingNotResponseLimit int           `mapstructure:"ping_not_response_limit"`
	PingData             string        `mapstructure:"ping_data"`
	MaxMessageBytes      int           `mapstructure:"max_message_bytes"`
	SendBufferBytes      int           `mapstructure:"send_buffer_bytes"`
	MaxConnections       int           `mapstructure:"max_connections"`
	MaxConnectionsPerIP  int           `mapstructure:"max_connections_per_ip"`
	// HTTPReadTimeout, HTTPWriteTimeout and HTTPIdleTimeout bound plain
	// HTTP requests on the gateway's port, api.listen and metrics.listen.
	HTTPReadTimeout    time.Duration `mapstructure:"http_read_timeout"`
	HTTPWriteTimeout   time.Duration `mapstructure:"http_write_timeout"`
	HTTPIdleTimeout    time.Duration `mapstructure:"http_idle_timeout"`
	MaxPendingEvents   int           `mapstructure:"max_pending_events"`
	MaxEventBatch      int           `mapstructure:"max_event_batch"`
	EventTimeout       time.Duration `mapstructure:"event_timeout"`
	MaxRedeliveries    int           `mapstructure:"max_redeliveries"`
	NoWorkerWait       time.Duration `mapstructure:"no_worker_wait"`
	HandshakeTimeout   time.Duration `mapstructure:"handshake_timeout"`
	AllowedOrigins     []string      `mapstructure:"allowed_origins"`
	Compression        bool          `mapstructure:"compression"`
	RateLimit          float64       `mapstructure:"rate_limit"`
	RateBurst          int           `mapstructure:"rate_burst"`
	TLS                TLSFiles      `mapstructure:"tls"`
	MessageReadTimeout time.Duration `mapstructure:"message_read_timeout"`
	MaxPendingBytes    int           `mapstructure:"max_pending_bytes"`
	MaxGroupsPerClient int           `mapstructure:"max_groups_per_client"`
	MaxSessionBytes    int           `mapstructure:"max_session_bytes"`
}

// TLSFiles are PEM files of a certificate and its key.
type TLSFiles struct {
	CertFile string `mapstructure:"cert_file"`
	KeyFile  string `mapstructure:"key_file"`
}

// WorkerConfig configures the worker role.
type WorkerConfig struct {
	// Processes is the number of worker child processes "start" runs (0:
	// the worker runs inside the main process, the fastest; reload then
	// cannot replace it without a restart).
	Processes      int           `mapstructure:"processes"`
	MaxConcurrency int           `mapstructure:"max_concurrency"`
	StopTimeout    time.Duration `mapstructure:"stop_timeout"`
}

// LogConfig configures logging.
type LogConfig struct {
	Level  string `mapstructure:"level"`  // debug, info, warn, error
	Format string `mapstructure:"format"` // text or json
}

// Roles a process can run.
const (
	RoleNATS    = "nats"
	RoleGateway = "gateway"
	RoleWorker  = "worker"
	RoleAPI     = "api"
)

func setDefaults(v *viper.Viper) {
	defaults := map[string]any{
		"roles":                           []string{RoleNATS, RoleGateway, RoleWorker},
		"nats.url":                        "",
		"nats.host":                       "127.0.0.1",
		"nats.port":                       4222,
		"nats.prefix":                     "sb",
		"nats.creds_file":                 "",
		"nats.nkey_seed_file":             "",
		"nats.user":                       "",
		"nats.password":                   "",
		"nats.token":                      "",
		"nats.tls.ca_file":                "",
		"nats.tls.cert_file":              "",
		"nats.tls.key_file":               "",
		"nats.reconnect_wait":             "250ms",
		"nats.reconnect_buffer_bytes":     8 << 20,
		"nats.max_reconnects":             -1,
		"nats.ping_interval":              "3s",
		"nats.max_pings_outstanding":      2,
		"nats.server_ping_interval":       "2s",
		"nats.server_max_pings_out":       2,
		"gateway.listen":                  []string{"ws://0.0.0.0:8282"},
		"gateway.ping_interval":           "0s",
		"gateway.ping_not_response_limit": 0,
		"gateway.ping_data":               "",
		"gateway.max_message_bytes":       1 << 20,
		"gateway.send_buffer_bytes":       4 << 20,
		"gateway.max_connections":         0,
		"gateway.max_connections_per_ip":  0,
		"gateway.http_read_timeout":       "10s",
		"gateway.http_write_timeout":      "30s",
		"gateway.http_idle_timeout":       "30s",
		"gateway.max_pending_events":      64,
		"gateway.max_pending_bytes":       1 << 20,
		"gateway.max_groups_per_client":   1000,
		"gateway.max_session_bytes":       64 << 10,
		"gateway.max_event_batch":         32,
		"gateway.event_timeout":           "10s",
		"gateway.max_redeliveries":        1,
		"gateway.no_worker_wait":          "30s",
		"gateway.handshake_timeout":       "5s",
		"gateway.message_read_timeout":    "30s",
		"gateway.allowed_origins":         []string{},
		"gateway.compression":             false,
		"gateway.rate_limit":              0,
		"gateway.rate_burst":              0,
		"gateway.tls.cert_file":           "",
		"gateway.tls.key_file":            "",
		"worker.max_concurrency":          1024,
		"worker.processes":                1,
		"process.pid_file":                "switchboard.pid",
		"process.log_file":                "switchboard.log",
		"worker.stop_timeout":             "30s",
		"metrics.listen":                  "",
		"metrics.on_gateway_port":         false,
		"api.listen":                      "",
		"api.tokens":                      []map[string]any{},
		"api.max_body_bytes":              1 << 20,
		"log.level":                       "info",
		"log.format":                      "text",
	}
	for k, val := range defaults {
		v.SetDefault(k, val)
	}
}

// newViper returns a viper with the defaults and the SB_ environment
// mapping (gateway.listen ← SB_GATEWAY_LISTEN).
func newViper() *viper.Viper {
	v := viper.New()
	setDefaults(v)
	v.SetEnvPrefix("SB")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	return v
}

// ErrConfig marks a configuration error (exit code 2).
var ErrConfig = errors.New("configuration error")

// LoadConfig reads the configuration from file (if not empty) over the
// defaults, with SB_* environment variables on top.
func LoadConfig(file string) (Config, error) {
	v := newViper()
	return loadConfig(v, file)
}

func loadConfig(v *viper.Viper, file string) (Config, error) {
	if file != "" {
		v.SetConfigFile(file)
		if err := v.ReadInConfig(); err != nil {
			return Config{}, fmt.Errorf("%w: read %s: %v", ErrConfig, file, err)
		}
	}
	var cfg Config
	if err := v.UnmarshalExact(&cfg); err != nil {
		return Config{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if file != "" {
		if err := cfg.Process.resolve(file); err != nil {
			return Config{}, err
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate checks the configuration and names the key at fault.
func (c Config) Validate() error {
	bad := func(key string, format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrConfig, key, fmt.Sprintf(format, a...))
	}
	if len(c.Roles) == 0 {
		return bad("roles", "at least one role is needed")
	}
	for _, r := range c.Roles {
		if !slices.Contains([]string{RoleNATS, RoleGateway, RoleWorker, RoleAPI}, r) {
			return bad("roles", "unknown role %q (want nats, gateway, worker or api)", r)
		}
	}
	if c.Has(RoleAPI) {
		if c.API.Listen == "" && !c.Has(RoleGateway) {
			return bad("api.listen", "needed when the api role runs without the gateway role")
		}
		if len(c.API.Tokens) == 0 {
			return bad("api.tokens", "the api role needs at least one token")
		}
		for _, t := range c.API.Tokens {
			if len(t.Token) < 16 || len(t.Calls) == 0 {
				return bad("api.tokens", "each token needs 16 characters or more and a list of calls")
			}
		}
	}
	if c.NATS.URL == "" && !c.Has(RoleNATS) && (c.Has(RoleGateway) || c.Has(RoleWorker) || c.Has(RoleAPI)) {
		return bad("nats.url", "needed when this process does not run the nats role")
	}
	if c.NATS.Port < -1 || c.NATS.Port > 65535 {
		return bad("nats.port", "%d is not a port", c.NATS.Port)
	}
	if err := c.NATS.validate(); err != nil {
		return err
	}
	if c.Has(RoleNATS) && c.NATS.URL == "" {
		// The embedded server takes the same keys as a connection to an
		// external one, and never listens beyond loopback without them.
		if c.NATS.CredsFile != "" {
			return bad("nats.creds_file", "cannot secure the embedded server (it needs an operator and an account resolver); use nats.token, nats.user and nats.password, or nats.nkey_seed_file, or run an external NATS (nats.url)")
		}
		if c.NATS.Token == "" && c.NATS.User == "" && c.NATS.NkeySeedFile == "" && !natsserver.IsLoopback(c.NATS.Host) {
			return bad("nats.host", "the embedded server on %q would accept anyone who can reach it: set nats.token, nats.user and nats.password, or nats.nkey_seed_file, or use 127.0.0.1", c.NATS.Host)
		}
	}
	if len(c.Gateway.Listen) == 0 {
		return bad("gateway.listen", "at least one listener is needed")
	}
	for _, l := range c.Gateway.Listen {
		u, err := url.Parse(l)
		if err != nil || u.Host == "" || !slices.Contains([]string{"ws", "wss", "tcp+text", "tcp+frame"}, u.Scheme) {
			return bad("gateway.listen", "%q is not a ws://, wss://, tcp+text:// or tcp+frame:// host:port address", l)
		}
		if u.Scheme == "wss" {
			if err := checkFile("gateway.tls.cert_file", c.Gateway.TLS.CertFile); err != nil {
				return err
			}
			if err := checkFile("gateway.tls.key_file", c.Gateway.TLS.KeyFile); err != nil {
				return err
			}
		}
	}
	if c.Gateway.RateLimit < 0 || c.Gateway.RateBurst < 0 {
		return bad("gateway.rate_limit", "must not be negative")
	}
	for key, n := range map[string]int{
		"gateway.max_message_bytes":     c.Gateway.MaxMessageBytes,
		"gateway.send_buffer_bytes":     c.Gateway.SendBufferBytes,
		"gateway.max_pending_events":    c.Gateway.MaxPendingEvents,
		"gateway.max_pending_bytes":     c.Gateway.MaxPendingBytes,
		"gateway.max_groups_per_client": c.Gateway.MaxGroupsPerClient,
		"gateway.max_session_bytes":     c.Gateway.MaxSessionBytes,
		"worker.max_concurrency":        c.Worker.MaxConcurrency,
	} {
		if n <= 0 {
			return bad(key, "%d must be positive", n)
		}
	}
	if b := c.Gateway.MaxEventBatch; b < 1 || b > 64 {
		return bad("gateway.max_event_batch", "%d must be from 1 to 64", b)
	}
	for key, d := range map[string]time.Duration{
		"gateway.event_timeout":      c.Gateway.EventTimeout,
		"gateway.no_worker_wait":     c.Gateway.NoWorkerWait,
		"gateway.handshake_timeout":  c.Gateway.HandshakeTimeout,
		"gateway.http_read_timeout":  c.Gateway.HTTPReadTimeout,
		"gateway.http_write_timeout": c.Gateway.HTTPWriteTimeout,
		"gateway.http_idle_timeout":  c.Gateway.HTTPIdleTimeout,
		"worker.stop_timeout":        c.Worker.StopTimeout,
	} {
		if d <= 0 {
			return bad(key, "%v must be positive", d)
		}
	}
	if d := c.Gateway.MessageReadTimeout; d <= 0 {
		return bad("gateway.message_read_timeout", "%v must be positive", d)
	}
	if c.Worker.Processes < 0 {
		return bad("worker.processes", "%d must not be negative", c.Worker.Processes)
	}
	if c.Process.PIDFile == "" {
		return bad("process.pid_file", "must not be empty")
	}
	if c.Gateway.MaxConnectionsPerIP < 0 {
		return bad("gateway.max_connections_per_ip", "%d must not be negative", c.Gateway.MaxConnectionsPerIP)
	}
	if c.Gateway.PingInterval < 0 || c.Gateway.PingNotResponseLimit < 0 || c.Gateway.MaxConnections < 0 {
		return bad("gateway.ping_interval", "ping and connection limits must not be negative")
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		return bad("log.level", "%q (want debug, info, warn or error)", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		return bad("log.format", "%q (want text or json)", c.Log.Format)
	}
	return nil
}

func (n NATSConfig) validate() error {
	auth := 0
	for _, set := range []bool{n.CredsFile != "", n.NkeySeedFile != "", n.User != "", n.Token != ""} {
		if set {
			auth++
		}
	}
	if auth > 1 {
		return fmt.Errorf("%w: nats: set only one of creds_file, nkey_seed_file, user, token", ErrConfig)
	}
	if (n.User == "") != (n.Password == "") {
		return fmt.Errorf("%w: nats.password: user and password go together", ErrConfig)
	}
	for key, path := range map[string]string{
		"nats.creds_file": n.CredsFile, "nats.nkey_seed_file": n.NkeySeedFile,
		"nats.tls.ca_file": n.TLS.CAFile, "nats.tls.cert_file": n.TLS.CertFile, "nats.tls.key_file": n.TLS.KeyFile,
	} {
		if path == "" {
			continue
		}
		if err := checkFile(key, path); err != nil {
			return err
		}
	}
	if (n.TLS.CertFile == "") != (n.TLS.KeyFile == "") {
		return fmt.Errorf("%w: nats.tls.key_file: cert_file and key_file go together", ErrConfig)
	}
	if n.ReconnectWait <= 0 || n.ReconnectBufferBytes < 0 {
		return fmt.Errorf("%w: nats.reconnect_wait: must be positive", ErrConfig)
	}
	if n.PingInterval <= 0 {
		return fmt.Errorf("%w: nats.ping_interval: %v must be positive", ErrConfig, n.PingInterval)
	}
	if n.MaxPingsOutstanding < 1 {
		return fmt.Errorf("%w: nats.max_pings_outstanding: %d must be at least 1", ErrConfig, n.MaxPingsOutstanding)
	}
	if n.ServerPingInterval < 100*time.Millisecond {
		return fmt.Errorf("%w: nats.server_ping_interval: %v, want at least 100ms", ErrConfig, n.ServerPingInterval)
	}
	if n.ServerMaxPingsOut < 1 {
		return fmt.Errorf("%w: nats.server_max_pings_out: %d, want at least 1", ErrConfig, n.ServerMaxPingsOut)
	}
	return nil
}

func checkFile(key, path string) error {
	if path == "" {
		return fmt.Errorf("%w: %s: needed by a wss:// listener", ErrConfig, key)
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrConfig, key, err)
	}
	return nil
}

// Has reports whether the process runs role.
func (c Config) Has(role string) bool { return slices.Contains(c.Roles, role) }
