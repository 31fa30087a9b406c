package switchboard

import (
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/httpapi"
	"github.com/switchboard-go/switchboard/internal/config"
)

// Config is the whole configuration of a Switchboard process: defaults
// (DefaultConfig), a YAML file, SB_* environment variables and flags, in
// rising order of precedence. Each section is the Config of the component
// that uses it (gateway.Config, worker.Config, httpapi.Config), which owns
// its keys' names, defaults, doc comments and validation; see
// docs/configuration.md.
type Config = config.Config

// The sections of Config that belong to the process rather than to a
// component.
type (
	NATSConfig    = config.NATSConfig
	NATSTLS       = config.NATSTLS
	WorkerConfig  = config.WorkerConfig
	LogConfig     = config.LogConfig
	MetricsConfig = config.MetricsConfig
	ProcessConfig = config.ProcessConfig
)

// GatewayConfig, APIConfig and TLSFiles are the former names of the
// sections the gateway and httpapi packages own.
type (
	GatewayConfig = gateway.Config
	APIConfig     = httpapi.Config
	TLSFiles      = gateway.CertFiles
)

// Roles a process can run.
const (
	RoleNATS    = config.RoleNATS
	RoleGateway = config.RoleGateway
	RoleWorker  = config.RoleWorker
	RoleAPI     = config.RoleAPI
)

// ErrConfig marks a configuration error (exit code 2).
var ErrConfig = config.ErrConfig

// DefaultConfig returns the defaults of every key.
func DefaultConfig() Config { return config.DefaultConfig() }

// DefaultNATSConfig returns the defaults of the nats keys.
func DefaultNATSConfig() NATSConfig { return config.DefaultNATSConfig() }

// LoadConfig reads the configuration from file (if not empty) over the
// defaults, with SB_* environment variables on top, and validates it.
func LoadConfig(file string) (Config, error) { return config.Load(file) }
