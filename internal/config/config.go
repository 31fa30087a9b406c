// Package config is a Switchboard process's configuration: the Config
// the root package re-exports (switchboard.Config), made of the
// components' own sections (gateway.Config, worker.Config,
// httpapi.Config) and the process's (nats, log, metrics, process), and its
// loading by viper from defaults, a YAML file, SB_* variables and flags.
package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/spf13/viper"

	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/httpapi"
	"github.com/switchboard-go/switchboard/natsserver"
	"github.com/switchboard-go/switchboard/worker"
)

// Config is the whole configuration of a Switchboard process. It comes from
// defaults (DefaultConfig), a YAML file, SB_* environment variables and
// flags, in rising order of precedence (viper). Each section is the Config
// of the component that uses it, which owns its keys' defaults, doc
// comments and validation; configs/switchboard.yaml lists every key with
// its default (TestLaptopConfigMatchesDefaults).
type Config struct {
	// Roles this process runs: any of "nats", "gateway", "worker", "api".
	Roles []string `mapstructure:"roles" yaml:"roles"`
	// NATS is where the bus is and how every connection of the process
	// reaches it.
	NATS NATSConfig `mapstructure:"nats" yaml:"nats"`
	// Gateway configures the gateway role.
	Gateway gateway.Config `mapstructure:"gateway" yaml:"gateway"`
	// Worker configures the worker role.
	Worker WorkerConfig `mapstructure:"worker" yaml:"worker"`
	// Log configures the process's logger.
	Log LogConfig `mapstructure:"log" yaml:"log"`
	// Metrics configures the Prometheus endpoint.
	Metrics MetricsConfig `mapstructure:"metrics" yaml:"metrics"`
	// Process says where a started process keeps its pid and log.
	Process ProcessConfig `mapstructure:"process" yaml:"process"`
	// API configures the HTTP push API (role "api").
	API httpapi.Config `mapstructure:"api" yaml:"api"`
}

// DefaultConfig returns the defaults of every key: the components' own
// (gateway.DefaultConfig, worker.DefaultConfig, httpapi.DefaultConfig)
// and the process's.
func DefaultConfig() Config {
	return Config{
		Roles:   []string{RoleNATS, RoleGateway, RoleWorker},
		NATS:    DefaultNATSConfig(),
		Gateway: gateway.DefaultConfig(),
		Worker:  WorkerConfig{Config: worker.DefaultConfig(), Processes: 0},
		Log:     LogConfig{Level: "info", Format: "text"},
		Metrics: MetricsConfig{},
		Process: ProcessConfig{PIDFile: "switchboard.pid", LogFile: "switchboard.log"},
		API:     httpapi.DefaultConfig(),
	}
}

// WorkerConfig is the worker section: the worker's own keys and the
// number of worker processes.
type WorkerConfig struct {
	worker.Config `mapstructure:",squash" yaml:",inline"`
	// Processes is the number of worker child processes "start" runs and
	// restarts; "reload" replaces them with the binary on disk. 0 (the
	// default): the worker runs inside the main process, the fastest;
	// the first "reload" replaces it with one child process of the binary
	// on disk, which runs the worker until the process is restarted. A
	// crash of the handlers' code (an unrecovered panic in a goroutine
	// they started) then takes the gateway's connections with it; 1
	// isolates them at a cost per message.
	Processes int `mapstructure:"processes" yaml:"processes"`
}

// Validate checks the worker section.
func (w WorkerConfig) Validate() error {
	if err := w.Config.Validate(); err != nil {
		return err
	}
	if w.Processes < 0 {
		return fmt.Errorf("worker.processes: %d must not be negative", w.Processes)
	}
	return nil
}

// ProcessConfig says where a started process keeps its pid and, with
// "start -d", its log.
type ProcessConfig struct {
	// PIDFile is written once the process is ready; stop, restart and
	// reload read it. A relative path is relative to the configuration
	// file's directory.
	PIDFile string `mapstructure:"pid_file" yaml:"pid_file"`
	// LogFile is where "start -d" writes its output (relative: as PIDFile).
	LogFile string `mapstructure:"log_file" yaml:"log_file"`
}

// Validate checks the process section.
func (p ProcessConfig) Validate() error {
	if p.PIDFile == "" {
		return errors.New("process.pid_file: must not be empty")
	}
	return nil
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
	Listen string `mapstructure:"listen" yaml:"listen"`
	// OnGatewayPort serves /metrics on the gateway's ws:// ports too (off
	// by default: they face the clients, and the metrics tell an attacker
	// the Go version, descriptor counts and traffic).
	OnGatewayPort bool `mapstructure:"on_gateway_port" yaml:"on_gateway_port"`
}

// NATSConfig says where the bus is.
type NATSConfig struct {
	// URL of an external NATS server or cluster (comma-separated). Empty:
	// the process starts an embedded server (role "nats").
	URL string `mapstructure:"url" yaml:"url"`
	// Host of the embedded server; any address other than loopback needs
	// Token, User and Password, or NkeySeedFile.
	Host string `mapstructure:"host" yaml:"host"`
	// Port of the embedded server.
	Port int `mapstructure:"port" yaml:"port"`
	// Prefix starts every subject (namespace).
	Prefix string `mapstructure:"prefix" yaml:"prefix"`
	// CredsFile is a .creds file (NGS/Synadia Cloud style) to authenticate
	// with; at most one of CredsFile, NkeySeedFile, User, Token.
	CredsFile string `mapstructure:"creds_file" yaml:"creds_file"`
	// NkeySeedFile is an nkey seed file; the embedded server then requires
	// its public key of every client.
	NkeySeedFile string `mapstructure:"nkey_seed_file" yaml:"nkey_seed_file"`
	// User and Password authenticate together (also what the embedded
	// server requires).
	User string `mapstructure:"user" yaml:"user"`
	// Password goes with User.
	Password string `mapstructure:"password" yaml:"password"`
	// Token authenticates with a token (also what the embedded server
	// requires).
	Token string `mapstructure:"token" yaml:"token"`
	// TLS to the cluster: CA to trust, and a client certificate for mTLS.
	TLS NATSTLS `mapstructure:"tls" yaml:"tls"`
	// ReconnectWait is the wait between reconnection attempts.
	ReconnectWait time.Duration `mapstructure:"reconnect_wait" yaml:"reconnect_wait"`
	// ReconnectBufferBytes bounds the publishes kept, while the bus is
	// away, to send after reconnecting.
	ReconnectBufferBytes int `mapstructure:"reconnect_buffer_bytes" yaml:"reconnect_buffer_bytes"`
	// MaxReconnects is the number of reconnection attempts (-1: forever).
	MaxReconnects int `mapstructure:"max_reconnects" yaml:"max_reconnects"`
	// PingInterval: every connection sends a PING that often; with
	// MaxPingsOutstanding a silently dead link is noticed within
	// PingInterval × (MaxPingsOutstanding + 1).
	PingInterval time.Duration `mapstructure:"ping_interval" yaml:"ping_interval"`
	// MaxPingsOutstanding unanswered PINGs drop the connection, which
	// reconnects.
	MaxPingsOutstanding int `mapstructure:"max_pings_outstanding" yaml:"max_pings_outstanding"`
	// ServerPingInterval: the embedded server pings a client that sent
	// nothing for that long.
	ServerPingInterval time.Duration `mapstructure:"server_ping_interval" yaml:"server_ping_interval"`
	// ServerMaxPingsOut unanswered pings of the embedded server disconnect
	// the client (a frozen worker).
	ServerMaxPingsOut int `mapstructure:"server_max_pings_out" yaml:"server_max_pings_out"`
}

// DefaultNATSConfig returns the defaults of the nats keys.
func DefaultNATSConfig() NATSConfig {
	return NATSConfig{
		Host:                 "127.0.0.1",
		Port:                 4222,
		Prefix:               "sb",
		ReconnectWait:        250 * time.Millisecond,
		ReconnectBufferBytes: 8 << 20,
		MaxReconnects:        -1,
		PingInterval:         3 * time.Second,
		MaxPingsOutstanding:  2,
		ServerPingInterval:   2 * time.Second,
		ServerMaxPingsOut:    2,
	}
}

// NATSTLS configures TLS to the NATS servers.
type NATSTLS struct {
	// CAFile is a CA (PEM) to trust.
	CAFile string `mapstructure:"ca_file" yaml:"ca_file"`
	// CertFile is a client certificate (PEM) for mTLS.
	CertFile string `mapstructure:"cert_file" yaml:"cert_file"`
	// KeyFile is its key (PEM).
	KeyFile string `mapstructure:"key_file" yaml:"key_file"`
}

// LogConfig configures logging.
type LogConfig struct {
	// Level is debug, info, warn or error.
	Level string `mapstructure:"level" yaml:"level"`
	// Format is text or json.
	Format string `mapstructure:"format" yaml:"format"`
}

// Validate checks the log section.
func (c LogConfig) Validate() error {
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Level) {
		return fmt.Errorf("log.level: %q (want debug, info, warn or error)", c.Level)
	}
	if c.Format != "text" && c.Format != "json" {
		return fmt.Errorf("log.format: %q (want text or json)", c.Format)
	}
	return nil
}

// Roles a process can run.
const (
	RoleNATS    = "nats"
	RoleGateway = "gateway"
	RoleWorker  = "worker"
	RoleAPI     = "api"
)

// setDefaults gives viper every key of DefaultConfig with its default,
// which also makes each key known to the SB_* environment mapping.
func setDefaults(v *viper.Viper) {
	for key, val := range configKeys(reflect.ValueOf(DefaultConfig()), "") {
		v.SetDefault(key, val.Interface())
	}
}

// configKeys walks a configuration struct by its mapstructure tags and
// returns each key ("gateway.tls.cert_file") with its value. Squashed
// (embedded) structs add their keys to their parent's; time.Duration and
// slices are values.
func configKeys(v reflect.Value, prefix string) map[string]reflect.Value {
	keys := map[string]reflect.Value{}
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("mapstructure")
		name, opts, _ := strings.Cut(tag, ",")
		switch {
		case opts == "squash":
			maps.Copy(keys, configKeys(v.Field(i), prefix))
		case f.Type.Kind() == reflect.Struct:
			maps.Copy(keys, configKeys(v.Field(i), prefix+name+"."))
		default:
			keys[prefix+name] = v.Field(i)
		}
	}
	return keys
}

// NewViper returns a viper with the defaults and the SB_ environment
// mapping (gateway.listen ← SB_GATEWAY_LISTEN); the commands bind their
// flags to it.
func NewViper() *viper.Viper {
	v := viper.New()
	setDefaults(v)
	v.SetEnvPrefix("SB")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	return v
}

// ErrConfig marks a configuration error (exit code 2).
var ErrConfig = errors.New("configuration error")

// Load reads the configuration from file (if not empty) over the
// defaults, with SB_* environment variables on top, and validates it.
func Load(file string) (Config, error) {
	return LoadWith(NewViper(), file)
}

// LoadWith is Load with a viper of NewViper's that may have flags bound.
func LoadWith(v *viper.Viper, file string) (Config, error) {
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

// Validate checks the configuration and names the key at fault: each
// section's own Validate, then what depends on the roles.
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
	for _, section := range []interface{ Validate() error }{c.NATS, c.Gateway, c.Worker, c.API, c.Process, c.Log} {
		if err := section.Validate(); err != nil {
			if errors.Is(err, ErrConfig) {
				return err
			}
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	if c.Has(RoleAPI) {
		if c.API.Listen == "" && !c.Has(RoleGateway) {
			return bad("api.listen", "needed when the api role runs without the gateway role")
		}
		if len(c.API.Tokens) == 0 {
			return bad("api.tokens", "the api role needs at least one token")
		}
	}
	if c.NATS.URL == "" && !c.Has(RoleNATS) && (c.Has(RoleGateway) || c.Has(RoleWorker) || c.Has(RoleAPI)) {
		return bad("nats.url", "needed when this process does not run the nats role")
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
	return nil
}

// Validate checks the nats section.
func (n NATSConfig) Validate() error {
	if n.Port < -1 || n.Port > 65535 {
		return fmt.Errorf("%w: nats.port: %d is not a port", ErrConfig, n.Port)
	}
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
	for _, f := range [...]struct{ key, path string }{ // in this order, so the first bad key is always the one named
		{"nats.creds_file", n.CredsFile}, {"nats.nkey_seed_file", n.NkeySeedFile},
		{"nats.tls.ca_file", n.TLS.CAFile}, {"nats.tls.cert_file", n.TLS.CertFile}, {"nats.tls.key_file", n.TLS.KeyFile},
	} {
		if f.path == "" {
			continue
		}
		if err := checkFile(f.key, f.path); err != nil {
			return err
		}
	}
	if (n.TLS.CertFile == "") != (n.TLS.KeyFile == "") {
		return fmt.Errorf("%w: nats.tls.key_file: cert_file and key_file go together", ErrConfig)
	}
	if n.ReconnectWait <= 0 {
		return fmt.Errorf("%w: nats.reconnect_wait: %v must be positive", ErrConfig, n.ReconnectWait)
	}
	if n.ReconnectBufferBytes < 0 {
		return fmt.Errorf("%w: nats.reconnect_buffer_bytes: %d must not be negative", ErrConfig, n.ReconnectBufferBytes)
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
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrConfig, key, err)
	}
	return nil
}

// Has reports whether the process runs role.
func (c Config) Has(role string) bool { return slices.Contains(c.Roles, role) }
