package httpapi

import "fmt"

// Config is the HTTP push API's configuration: the "api" section of the
// configuration file, one field per key. Its defaults are DefaultConfig's
// and Validate checks it; whether the api role needs a token or a listen
// address of its own depends on the process's roles and is checked there.
type Config struct {
	// Listen is a host:port of the API's own. Empty: the API is served
	// under /api/ on the gateway's ws:// ports (the process then needs the
	// gateway role).
	Listen string `mapstructure:"listen" yaml:"listen"`
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64 `mapstructure:"max_body_bytes" yaml:"max_body_bytes"`
	// Tokens are the bearer tokens, 16 characters or more, each with the
	// calls it may make ("*": all).
	Tokens []Token `mapstructure:"tokens" yaml:"tokens"`
}

// DefaultConfig returns the defaults of every key.
func DefaultConfig() Config {
	return Config{MaxBodyBytes: 1 << 20, Tokens: []Token{}}
}

// Validate checks every key and names the one at fault by its full name
// (api.max_body_bytes).
func (c Config) Validate() error {
	if c.MaxBodyBytes <= 0 {
		return fmt.Errorf("api.max_body_bytes: %d must be positive", c.MaxBodyBytes)
	}
	for _, t := range c.Tokens {
		if len(t.Token) < 16 || len(t.Calls) == 0 {
			return fmt.Errorf("api.tokens: each token needs 16 characters or more and a list of calls")
		}
	}
	return nil
}
