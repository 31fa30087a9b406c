package gateway

import (
	"fmt"
	"os"
	"slices"
	"time"
)

// Config is the gateway's configuration: the "gateway" section of the
// configuration file, one field per key. Its defaults are DefaultConfig's,
// Validate checks it, and the functional options (Listen, MaxPendingEvents,
// ...) set its fields for programmatic use. Each field's doc comment is the
// key's documentation.
type Config struct {
	// Listen is the listeners, one URL each: ws://host:port (WebSocket;
	// plain HTTP requests on the same port serve the HTTP handler),
	// wss://host:port (WebSocket over TLS, needs TLS), tcp+text://host:port
	// (newline-delimited messages), tcp+frame://host:port (4-byte
	// big-endian length prefix). Port 0 picks a free port.
	Listen []string `mapstructure:"listen" yaml:"listen"`
	// PingInterval: every interval the gateway sends PingData (if not
	// empty) to each client; 0 turns heartbeats off.
	PingInterval time.Duration `mapstructure:"ping_interval" yaml:"ping_interval"`
	// PingNotResponseLimit closes a client silent for that many ping
	// intervals (0: never).
	PingNotResponseLimit int `mapstructure:"ping_not_response_limit" yaml:"ping_not_response_limit"`
	// PingData is what each ping sends ("": nothing, only the silence check).
	PingData string `mapstructure:"ping_data" yaml:"ping_data"`
	// MaxMessageBytes bounds one client message after reassembly; a larger
	// one closes the connection (WebSocket 1009).
	MaxMessageBytes int `mapstructure:"max_message_bytes" yaml:"max_message_bytes"`
	// SendBufferBytes bounds the bytes queued for one client; a client
	// whose queue would grow past it is disconnected as too slow.
	SendBufferBytes int `mapstructure:"send_buffer_bytes" yaml:"send_buffer_bytes"`
	// MaxConnections bounds the sockets open on this gateway's listeners
	// (0: no limit): WebSocket and TCP clients, handshakes in progress and
	// plain HTTP connections alike. Past it a WebSocket listener answers
	// HTTP 503 and a TCP listener closes the socket.
	MaxConnections int `mapstructure:"max_connections" yaml:"max_connections"`
	// MaxConnectionsPerIP is the same bound per remote IP address (0: no
	// limit); refusals count as max_connections_per_ip.
	MaxConnectionsPerIP int `mapstructure:"max_connections_per_ip" yaml:"max_connections_per_ip"`
	// HTTPReadTimeout bounds a plain HTTP request (body included) on the
	// gateway's port, api.listen and metrics.listen. A WebSocket upgrade is
	// bounded by HandshakeTimeout.
	HTTPReadTimeout time.Duration `mapstructure:"http_read_timeout" yaml:"http_read_timeout"`
	// HTTPWriteTimeout bounds the answer to a plain HTTP request.
	HTTPWriteTimeout time.Duration `mapstructure:"http_write_timeout" yaml:"http_write_timeout"`
	// HTTPIdleTimeout bounds a kept-alive HTTP connection between requests.
	HTTPIdleTimeout time.Duration `mapstructure:"http_idle_timeout" yaml:"http_idle_timeout"`
	// MaxPendingEvents bounds the events of one client waiting for a
	// worker; past it the gateway stops reading that client's socket
	// (backpressure).
	MaxPendingEvents int `mapstructure:"max_pending_events" yaml:"max_pending_events"`
	// MaxPendingBytes bounds the message bytes of one client's events
	// waiting for a worker (in flight and queued), as MaxPendingEvents
	// does; one event always goes, whatever its size.
	MaxPendingBytes int `mapstructure:"max_pending_bytes" yaml:"max_pending_bytes"`
	// MaxGroupsPerClient bounds the groups one client may be in; a
	// JoinGroup past it fails (bus error "limit", counted as refused
	// max_groups_per_client).
	MaxGroupsPerClient int `mapstructure:"max_groups_per_client" yaml:"max_groups_per_client"`
	// MaxSessionBytes bounds one client's session (its JSON, sent with each
	// of its events); a change that would make it larger is refused and
	// counted as refused max_session_bytes.
	MaxSessionBytes int `mapstructure:"max_session_bytes" yaml:"max_session_bytes"`
	// MaxEventBatch is the most message events a busy gateway puts into
	// one NATS message, from 1 to 64 (1: every event on its own); see
	// docs/protocol.md, "Event batches".
	MaxEventBatch int `mapstructure:"max_event_batch" yaml:"max_event_batch"`
	// EventTimeout is how long the gateway waits for a worker's reply to
	// an event before sending it again to the workers, marked redelivered.
	EventTimeout time.Duration `mapstructure:"event_timeout" yaml:"event_timeout"`
	// MaxRedeliveries is how many times a timed-out event is sent again
	// before it is dropped and logged.
	MaxRedeliveries int `mapstructure:"max_redeliveries" yaml:"max_redeliveries"`
	// NoWorkerWait is how long an event waits for a worker when none is
	// running before it is dropped.
	NoWorkerWait time.Duration `mapstructure:"no_worker_wait" yaml:"no_worker_wait"`
	// HandshakeTimeout bounds the HTTP upgrade, including
	// OnWebSocketConnect, which gets three quarters of it.
	HandshakeTimeout time.Duration `mapstructure:"handshake_timeout" yaml:"handshake_timeout"`
	// MessageReadTimeout bounds the time from the first byte of a client
	// message (or WebSocket frame) to its last; a message still incomplete
	// after it closes the connection (WebSocket 1008).
	MessageReadTimeout time.Duration `mapstructure:"message_read_timeout" yaml:"message_read_timeout"`
	// AllowedOrigins restricts the Origin of WebSocket handshakes; others
	// get HTTP 403. Empty: same origin only (the Origin's host and port
	// equal the request's Host; a handshake without Origin, from a
	// non-browser client, is allowed). ["*"]: any origin. Otherwise exactly
	// the listed origins, such as "https://chat.example.com".
	AllowedOrigins []string `mapstructure:"allowed_origins" yaml:"allowed_origins"`
	// Compression offers permessage-deflate (RFC 7692, no context
	// takeover) to WebSocket clients that ask for it; messages under 128
	// bytes go uncompressed.
	Compression bool `mapstructure:"compression" yaml:"compression"`
	// RateLimit bounds each client to that many messages per second, with
	// bursts of RateBurst; a client over it is closed (WebSocket 1008). 0:
	// no limit.
	RateLimit float64 `mapstructure:"rate_limit" yaml:"rate_limit"`
	// RateBurst is the burst of RateLimit (at least 1 when a limit is set).
	RateBurst int `mapstructure:"rate_burst" yaml:"rate_burst"`
	// TLS is the certificate and key of wss:// listeners; ReloadTLS (SIGHUP)
	// reads them again without dropping clients.
	TLS CertFiles `mapstructure:"tls" yaml:"tls"`
}

// CertFiles are PEM files of a certificate and its key.
type CertFiles struct {
	// CertFile is the certificate (PEM).
	CertFile string `mapstructure:"cert_file" yaml:"cert_file"`
	// KeyFile is its private key (PEM).
	KeyFile string `mapstructure:"key_file" yaml:"key_file"`
}

// DefaultConfig returns the defaults of every key.
func DefaultConfig() Config {
	return Config{
		Listen:             []string{"ws://0.0.0.0:8282"},
		MaxMessageBytes:    1 << 20,
		SendBufferBytes:    4 << 20,
		HTTPReadTimeout:    10 * time.Second,
		HTTPWriteTimeout:   30 * time.Second,
		HTTPIdleTimeout:    30 * time.Second,
		MaxPendingEvents:   64,
		MaxPendingBytes:    1 << 20,
		MaxGroupsPerClient: 1000,
		MaxSessionBytes:    64 << 10,
		MaxEventBatch:      32,
		EventTimeout:       10 * time.Second,
		MaxRedeliveries:    1,
		NoWorkerWait:       30 * time.Second,
		HandshakeTimeout:   5 * time.Second,
		MessageReadTimeout: 30 * time.Second,
		AllowedOrigins:     []string{},
	}
}

// Validate checks every key and names the one at fault by its full name
// (gateway.max_connections), including that the certificate files of
// wss:// listeners exist. New makes the same checks except that last one,
// which Start makes when it loads them.
func (c Config) Validate() error { return c.validate(true) }

func (c Config) validate(files bool) error {
	bad := func(key, format string, a ...any) error {
		return fmt.Errorf("gateway.%s: %s", key, fmt.Sprintf(format, a...))
	}
	if len(c.Listen) == 0 {
		return bad("listen", "at least one listener is needed")
	}
	wss := false
	for _, l := range c.Listen {
		_, useTLS, _, err := parseListen(l)
		if err != nil {
			return bad("listen", "%v", err)
		}
		wss = wss || useTLS
	}
	if files && wss {
		for _, f := range [...]struct{ key, path string }{{"tls.cert_file", c.TLS.CertFile}, {"tls.key_file", c.TLS.KeyFile}} {
			if f.path == "" {
				return bad(f.key, "needed by a wss:// listener")
			}
			if _, err := os.Stat(f.path); err != nil {
				return bad(f.key, "%v", err)
			}
		}
	}
	for _, k := range []struct {
		key string
		n   int
	}{
		{"max_message_bytes", c.MaxMessageBytes},
		{"send_buffer_bytes", c.SendBufferBytes},
		{"max_pending_events", c.MaxPendingEvents},
		{"max_pending_bytes", c.MaxPendingBytes},
		{"max_groups_per_client", c.MaxGroupsPerClient},
		{"max_session_bytes", c.MaxSessionBytes},
	} {
		if k.n <= 0 {
			return bad(k.key, "%d must be positive", k.n)
		}
	}
	for _, k := range []struct {
		key string
		n   int
	}{
		{"max_connections", c.MaxConnections},
		{"max_connections_per_ip", c.MaxConnectionsPerIP},
		{"ping_not_response_limit", c.PingNotResponseLimit},
		{"max_redeliveries", c.MaxRedeliveries},
		{"rate_burst", c.RateBurst},
	} {
		if k.n < 0 {
			return bad(k.key, "%d must not be negative", k.n)
		}
	}
	if c.PingInterval < 0 {
		return bad("ping_interval", "%v must not be negative", c.PingInterval)
	}
	if c.RateLimit < 0 {
		return bad("rate_limit", "%v must not be negative", c.RateLimit)
	}
	if b := c.MaxEventBatch; b < 1 || b > 64 {
		return bad("max_event_batch", "%d must be from 1 to 64", b)
	}
	for _, k := range []struct {
		key string
		d   time.Duration
	}{
		{"http_read_timeout", c.HTTPReadTimeout},
		{"http_write_timeout", c.HTTPWriteTimeout},
		{"http_idle_timeout", c.HTTPIdleTimeout},
		{"event_timeout", c.EventTimeout},
		{"no_worker_wait", c.NoWorkerWait},
		{"handshake_timeout", c.HandshakeTimeout},
		{"message_read_timeout", c.MessageReadTimeout},
	} {
		if k.d <= 0 {
			return bad(k.key, "%v must be positive", k.d)
		}
	}
	if slices.Contains(c.AllowedOrigins, "*") && len(c.AllowedOrigins) > 1 {
		return bad("allowed_origins", "%q: \"*\" must stand alone", c.AllowedOrigins)
	}
	if slices.Contains(c.AllowedOrigins, "") {
		return bad("allowed_origins", "%q: an empty origin", c.AllowedOrigins)
	}
	return nil
}
