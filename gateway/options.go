package gateway

import (
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// Option configures a Gateway: each sets a field of its Config (a
// configuration key) or one of the settings that are not keys (Prefix,
// Logger, HTTPHandler, HeartbeatInterval, Netpoll). New validates the
// result with Config's checks.
type Option func(*options) error

// options is a gateway's Config (the keys) and what only a program sets,
// with the values New derives from them.
type options struct {
	Config
	prefix            string
	log               *slog.Logger
	httpHandler       http.Handler
	writeTimeout      time.Duration
	heartbeatInterval time.Duration
	netpoll           bool

	// Derived from Config by New (derive).
	pingData       []byte
	allowedOrigins map[string]bool // nil: same origin only
	anyOrigin      bool            // allowed_origins: ["*"]
	rateBurst      int
}

// errNoHeartbeat is the error of a HeartbeatInterval that is not positive.
var errNoHeartbeat = errors.New("gateway: heartbeat interval must be positive")

func defaultOptions() options {
	return options{
		Config:            DefaultConfig(),
		log:               slog.Default(),
		writeTimeout:      10 * time.Second,
		heartbeatInterval: time.Second,
		netpoll:           true,
	}
}

// derive validates the Config (all but the wss:// certificate files,
// which Start loads) and computes the values the gateway reads from it.
func (o *options) derive() error {
	if err := o.Config.validate(false); err != nil {
		return err
	}
	if o.heartbeatInterval <= 0 {
		return errNoHeartbeat
	}
	o.pingData = nil
	if o.PingData != "" {
		o.pingData = []byte(o.PingData)
	}
	o.allowedOrigins, o.anyOrigin = nil, false
	switch {
	case len(o.AllowedOrigins) == 1 && o.AllowedOrigins[0] == "*":
		o.anyOrigin = true
	case len(o.AllowedOrigins) > 0:
		o.allowedOrigins = map[string]bool{}
		for _, s := range o.AllowedOrigins {
			o.allowedOrigins[s] = true
		}
	}
	o.rateBurst = max(o.RateBurst, 1)
	return nil
}

// WithConfig sets every key at once (the configuration file's gateway
// section); options after it change single keys.
func WithConfig(c Config) Option {
	return func(o *options) error { o.Config = c; return nil }
}

// Listen sets the listeners, one URL each: ws://host:port (WebSocket),
// tcp+text://host:port (newline-delimited messages) or
// tcp+frame://host:port (4-byte big-endian length prefix). Default
// ws://0.0.0.0:8282. Port 0 picks a free port; see Gateway.Addrs.
func Listen(addrs ...string) Option {
	return func(o *options) error { o.Listen = addrs; return nil }
}

// Prefix sets the subject prefix (namespace); default "sb".
func Prefix(p string) Option { return func(o *options) error { o.prefix = p; return nil } }

// Logger sets the logger; default slog.Default().
func Logger(l *slog.Logger) Option { return func(o *options) error { o.log = l; return nil } }

// HTTPHandler serves plain HTTP requests (not WebSocket upgrades) on the
// gateway's port.
func HTTPHandler(h http.Handler) Option {
	return func(o *options) error { o.httpHandler = h; return nil }
}

// MaxMessageBytes sets Config.MaxMessageBytes (gateway.max_message_bytes).
func MaxMessageBytes(n int) Option {
	return set(n, func(o *options) *int { return &o.MaxMessageBytes })
}

// SendBufferBytes sets Config.SendBufferBytes (gateway.send_buffer_bytes).
func SendBufferBytes(n int) Option {
	return set(n, func(o *options) *int { return &o.SendBufferBytes })
}

// MaxConnections sets Config.MaxConnections (gateway.max_connections).
func MaxConnections(n int) Option { return set(n, func(o *options) *int { return &o.MaxConnections }) }

// MaxConnectionsPerIP sets Config.MaxConnectionsPerIP
// (gateway.max_connections_per_ip).
func MaxConnectionsPerIP(n int) Option {
	return set(n, func(o *options) *int { return &o.MaxConnectionsPerIP })
}

// HTTPTimeouts sets Config.HTTPReadTimeout, HTTPWriteTimeout and
// HTTPIdleTimeout (gateway.http_read_timeout, http_write_timeout,
// http_idle_timeout).
func HTTPTimeouts(read, write, idle time.Duration) Option {
	return func(o *options) error {
		o.HTTPReadTimeout, o.HTTPWriteTimeout, o.HTTPIdleTimeout = read, write, idle
		return nil
	}
}

// MaxPendingEvents sets Config.MaxPendingEvents (gateway.max_pending_events).
func MaxPendingEvents(n int) Option {
	return set(n, func(o *options) *int { return &o.MaxPendingEvents })
}

// MaxPendingBytes sets Config.MaxPendingBytes (gateway.max_pending_bytes).
func MaxPendingBytes(n int) Option {
	return set(n, func(o *options) *int { return &o.MaxPendingBytes })
}

// MaxGroupsPerClient sets Config.MaxGroupsPerClient
// (gateway.max_groups_per_client).
func MaxGroupsPerClient(n int) Option {
	return set(n, func(o *options) *int { return &o.MaxGroupsPerClient })
}

// MaxSessionBytes sets Config.MaxSessionBytes (gateway.max_session_bytes).
func MaxSessionBytes(n int) Option {
	return set(n, func(o *options) *int { return &o.MaxSessionBytes })
}

// MaxEventBatch sets Config.MaxEventBatch (gateway.max_event_batch).
func MaxEventBatch(n int) Option { return set(n, func(o *options) *int { return &o.MaxEventBatch }) }

// EventTimeout sets Config.EventTimeout (gateway.event_timeout).
func EventTimeout(d time.Duration) Option {
	return set(d, func(o *options) *time.Duration { return &o.EventTimeout })
}

// MaxRedeliveries sets Config.MaxRedeliveries (gateway.max_redeliveries).
func MaxRedeliveries(n int) Option {
	return set(n, func(o *options) *int { return &o.MaxRedeliveries })
}

// NoWorkerWait sets Config.NoWorkerWait (gateway.no_worker_wait).
func NoWorkerWait(d time.Duration) Option {
	return set(d, func(o *options) *time.Duration { return &o.NoWorkerWait })
}

// HandshakeTimeout sets Config.HandshakeTimeout (gateway.handshake_timeout).
func HandshakeTimeout(d time.Duration) Option {
	return set(d, func(o *options) *time.Duration { return &o.HandshakeTimeout })
}

// MessageReadTimeout sets Config.MessageReadTimeout
// (gateway.message_read_timeout).
func MessageReadTimeout(d time.Duration) Option {
	return set(d, func(o *options) *time.Duration { return &o.MessageReadTimeout })
}

// HeartbeatInterval sets how often the gateway announces itself to the
// cluster (not a configuration key). Default 1s.
func HeartbeatInterval(d time.Duration) Option {
	return set(d, func(o *options) *time.Duration { return &o.heartbeatInterval })
}

// Ping sets Config.PingInterval, PingNotResponseLimit and PingData
// (gateway.ping_interval, ping_not_response_limit, ping_data), heartbeats
// with GatewayWorker's semantics.
func Ping(interval time.Duration, limit int, data []byte) Option {
	return func(o *options) error {
		o.PingInterval, o.PingNotResponseLimit, o.PingData = interval, limit, string(data)
		return nil
	}
}

// TLSFiles sets Config.TLS (gateway.tls.cert_file, gateway.tls.key_file).
func TLSFiles(certFile, keyFile string) Option {
	return func(o *options) error {
		o.TLS = CertFiles{CertFile: certFile, KeyFile: keyFile}
		return nil
	}
}

// RateLimit sets Config.RateLimit and RateBurst (gateway.rate_limit,
// gateway.rate_burst).
func RateLimit(perSecond float64, burst int) Option {
	return func(o *options) error { o.RateLimit, o.RateBurst = perSecond, burst; return nil }
}

// Compression sets Config.Compression (gateway.compression).
func Compression(on bool) Option { return func(o *options) error { o.Compression = on; return nil } }

// Netpoll reads plain WebSocket connections through epoll, with no
// goroutine or buffer held by an idle connection (default on; not a
// configuration key). Off: one reader goroutine per connection, as TLS and
// TCP connections always have (and every connection off Linux, which has
// no epoll).
func Netpoll(on bool) Option { return func(o *options) error { o.netpoll = on; return nil } }

// AllowedOrigins sets Config.AllowedOrigins (gateway.allowed_origins).
func AllowedOrigins(origins ...string) Option {
	return func(o *options) error { o.AllowedOrigins = origins; return nil }
}

// set is an Option that sets the field field returns to v.
func set[T any](v T, field func(*options) *T) Option {
	return func(o *options) error { *field(o) = v; return nil }
}
