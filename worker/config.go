package worker

import (
	"fmt"
	"time"
)

// Config is the worker's configuration: the "worker" section of the
// configuration file, one field per key (the process adds
// worker.processes, its own). Its defaults are DefaultConfig's, Validate
// checks it, and MaxConcurrency sets its field for programmatic use.
type Config struct {
	// MaxConcurrency bounds the events (of different clients) handled at
	// once by this process.
	MaxConcurrency int `mapstructure:"max_concurrency" yaml:"max_concurrency"`
	// StopTimeout is how long a stopping worker may take to finish the
	// events it holds (the context the process gives Stop).
	StopTimeout time.Duration `mapstructure:"stop_timeout" yaml:"stop_timeout"`
}

// DefaultConfig returns the defaults of every key.
func DefaultConfig() Config {
	return Config{MaxConcurrency: 1024, StopTimeout: 30 * time.Second}
}

// Validate checks every key and names the one at fault by its full name
// (worker.max_concurrency).
func (c Config) Validate() error {
	if c.MaxConcurrency <= 0 {
		return fmt.Errorf("worker.max_concurrency: %d must be positive", c.MaxConcurrency)
	}
	if c.StopTimeout <= 0 {
		return fmt.Errorf("worker.stop_timeout: %v must be positive", c.StopTimeout)
	}
	return nil
}
