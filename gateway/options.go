package gateway

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"
)

// Option configures a Gateway.
type Option func(*options) error

type options struct {
	listen              []string
	prefix              string
	log                 *slog.Logger
	httpHandler         http.Handler
	maxMessageBytes     int
	sendBufferBytes     int
	maxConnections      int
	maxConnectionsPerIP int
	httpReadTimeout     time.Duration
	httpWriteTimeout    time.Duration
	httpIdleTimeout     time.Duration
	maxPendingEvents    int
	eventBatch          int
	eventTimeout        time.Duration
	maxRedeliveries     int
	noWorkerWait        time.Duration
	handshakeTimeout    time.Duration
	writeTimeout        time.Duration
	heartbeatInterval   time.Duration
	pingInterval        time.Duration
	pingLimit           int
	pingData            []byte
	allowedOrigins      map[string]bool // nil: same origin only
	anyOrigin           bool            // allowed_origins: ["*"]
	certFile, keyFile   string
	rateLimit           float64
	rateBurst           int
	compression         bool
	netpoll             bool
	msgReadTimeout      time.Duration
	maxPendingBytes     int
	maxGroups           int
	maxSessionBytes     int
}

func defaultOptions() options {
	return options{
		listen:            []string{"ws://0.0.0.0:8282"},
		log:               slog.Default(),
		maxMessageBytes:   1 << 20,
		sendBufferBytes:   4 << 20,
		maxPendingEvents:  64,
		maxPendingBytes:   1 << 20,
		maxGroups:         1000,
		maxSessionBytes:   64 << 10,
		eventBatch:        32,
		eventTimeout:      10 * time.Second,
		maxRedeliveries:   1,
		noWorkerWait:      30 * time.Second,
		handshakeTimeout:  5 * time.Second,
		msgReadTimeout:    30 * time.Second,
		writeTimeout:      10 * time.Second,
		httpReadTimeout:   10 * time.Second,
		httpWriteTimeout:  30 * time.Second,
		httpIdleTimeout:   30 * time.Second,
		heartbeatInterval: time.Second,
		netpoll:           true,
	}
}

// Listen sets the listeners, one URL each: ws://host:port (WebSocket),
// tcp+text://host:port (newline-delimited messages) or
// tcp+frame://host:port (4-byte big-endian length prefix). Default
// ws://0.0.0.0:8282. Port 0 picks a free port; see Gateway.Addrs.
func Listen(addrs ...string) Option {
	return func(o *options) error {
		if len(addrs) == 0 {
			return fmt.Errorf("listen: at least one address is needed")
		}
		for _, a := range addrs {
			if _, _, _, err := parseListen(a); err != nil {
				return err
			}
		}
		o.listen = addrs
		return nil
	}
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

// MaxMessageBytes bounds one client message (after reassembly); a larger
// one closes the connection with 1009. Default 1 MiB.
func MaxMessageBytes(n int) Option {
	return positive("max_message_bytes", n, func(o *options) *int { return &o.maxMessageBytes })
}

// SendBufferBytes bounds the bytes queued for one client; a client whose
// queue would grow past it is disconnected. Default 4 MiB.
func SendBufferBytes(n int) Option {
	return positive("send_buffer_bytes", n, func(o *options) *int { return &o.sendBufferBytes })
}

// MaxConnections bounds the sockets open on this gateway's listeners (0:
// no limit): WebSocket clients, handshakes in progress, plain HTTP
// connections and TCP clients alike. Past it a WebSocket listener answers
// HTTP 503 and a TCP listener closes the socket.
func MaxConnections(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("max_connections %d: must not be negative", n)
		}
		o.maxConnections = n
		return nil
	}
}

// MaxConnectionsPerIP bounds the sockets one remote IP address may hold
// open on this gateway (0: no limit, the default). Past it a WebSocket
// listener answers HTTP 503 and a TCP listener closes the socket; counted
// as max_connections_per_ip.
func MaxConnectionsPerIP(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("max_connections_per_ip %d: must not be negative", n)
		}
		o.maxConnectionsPerIP = n
		return nil
	}
}

// HTTPTimeouts bound the plain HTTP requests on the gateway's port: read
// (the whole request, body included; default 10s), write (the answer;
// default 30s) and idle (a kept-alive connection between requests;
// default 30s). A WebSocket upgrade is bounded by handshake_timeout.
func HTTPTimeouts(read, write, idle time.Duration) Option {
	return func(o *options) error {
		if read <= 0 || write <= 0 || idle <= 0 {
			return fmt.Errorf("http timeouts read %v, write %v, idle %v: must be positive", read, write, idle)
		}
		o.httpReadTimeout, o.httpWriteTimeout, o.httpIdleTimeout = read, write, idle
		return nil
	}
}

// MaxPendingEvents bounds the events of one client waiting for a worker;
// past it the gateway stops reading that client's socket. Default 64.
func MaxPendingEvents(n int) Option {
	return positive("max_pending_events", n, func(o *options) *int { return &o.maxPendingEvents })
}

// MaxPendingBytes bounds the message bytes of one client's events waiting
// for a worker (in flight and queued): past it the gateway stops reading
// that client's socket until workers catch up, as with MaxPendingEvents.
// One event is always let through, however big (up to MaxMessageBytes).
// Default 1 MiB.
func MaxPendingBytes(n int) Option {
	return positive("max_pending_bytes", n, func(o *options) *int { return &o.maxPendingBytes })
}

// MaxGroupsPerClient bounds the groups one client may be in; a JoinGroup
// past it fails (bus error "limit") and is counted as refused
// max_groups_per_client. Default 1000.
func MaxGroupsPerClient(n int) Option {
	return positive("max_groups_per_client", n, func(o *options) *int { return &o.maxGroups })
}

// MaxSessionBytes bounds one client's session (its JSON, which rides on
// every event of the client); a change that would make it larger is
// refused (an error to an API caller, a warning for a worker's reply) and
// counted as refused max_session_bytes. Default 64 KiB.
func MaxSessionBytes(n int) Option {
	return positive("max_session_bytes", n, func(o *options) *int { return &o.maxSessionBytes })
}

// MaxEventBatch is the most message events a busy gateway puts into one
// NATS message (docs/protocol.md, "Event batches"), from 1 to 64; 1 sends
// every event on its own. Default 32.
func MaxEventBatch(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 64 {
			return fmt.Errorf("max_event_batch %d: must be from 1 to 64", n)
		}
		o.eventBatch = n
		return nil
	}
}

// EventTimeout is how long the gateway waits for a worker's reply to an
// event before sending it again to another worker (marked redelivered).
// Default 10s.
func EventTimeout(d time.Duration) Option {
	return duration("event_timeout", d, func(o *options) *time.Duration { return &o.eventTimeout })
}

// MaxRedeliveries is how many times a timed-out event is sent again before
// it is dropped. Default 1.
func MaxRedeliveries(n int) Option {
	return func(o *options) error { o.maxRedeliveries = n; return nil }
}

// NoWorkerWait is how long an event waits for a worker to appear when none
// is running before it is dropped. Default 30s.
func NoWorkerWait(d time.Duration) Option {
	return duration("no_worker_wait", d, func(o *options) *time.Duration { return &o.noWorkerWait })
}

// HandshakeTimeout bounds the HTTP upgrade, including OnWebSocketConnect.
func HandshakeTimeout(d time.Duration) Option {
	return duration("handshake_timeout", d, func(o *options) *time.Duration { return &o.handshakeTimeout })
}

// MessageReadTimeout bounds the time from the first byte of a client
// message (or of a WebSocket frame) to its last: a message still
// incomplete after it closes the connection (WebSocket 1008; TCP: closed),
// so a client announcing a large message and sending it slowly or never
// does not hold its buffer forever. Default 30s.
func MessageReadTimeout(d time.Duration) Option {
	return duration("message_read_timeout", d, func(o *options) *time.Duration { return &o.msgReadTimeout })
}

// HeartbeatInterval sets how often the gateway announces itself to the
// cluster. Default 1s.
func HeartbeatInterval(d time.Duration) Option {
	return duration("heartbeat_interval", d, func(o *options) *time.Duration { return &o.heartbeatInterval })
}

// Ping configures heartbeats with GatewayWorker's semantics: every interval
// the gateway sends data (if not nil) to each client, and closes a client
// that sent nothing for limit intervals (0: never).
func Ping(interval time.Duration, limit int, data []byte) Option {
	return func(o *options) error {
		if interval < 0 || limit < 0 {
			return fmt.Errorf("ping_interval %v / ping_not_response_limit %d: must not be negative", interval, limit)
		}
		o.pingInterval, o.pingLimit, o.pingData = interval, limit, data
		return nil
	}
}

// TLSFiles sets the certificate and key (PEM files) of wss:// listeners.
// ReloadTLS reads them again without dropping clients.
func TLSFiles(certFile, keyFile string) Option {
	return func(o *options) error {
		o.certFile, o.keyFile = certFile, keyFile
		return nil
	}
}

// RateLimit bounds each client to perSecond messages per second with bursts
// of burst; a client over it is closed (WebSocket 1008). 0 turns it off.
func RateLimit(perSecond float64, burst int) Option {
	return func(o *options) error {
		if perSecond < 0 || burst < 0 {
			return fmt.Errorf("rate limit %v/s burst %d: must not be negative", perSecond, burst)
		}
		o.rateLimit, o.rateBurst = perSecond, max(burst, 1)
		return nil
	}
}

// Compression offers permessage-deflate (RFC 7692, no context takeover)
// to WebSocket clients that ask for it. Off by default: it costs CPU on
// every message.
func Compression(on bool) Option { return func(o *options) error { o.compression = on; return nil } }

// Netpoll reads plain WebSocket connections through epoll, with no
// goroutine or buffer held by an idle connection (default on). Off: one
// reader goroutine per connection, as TLS and TCP connections always have
// (and every connection off Linux, which has no epoll).
func Netpoll(on bool) Option { return func(o *options) error { o.netpoll = on; return nil } }

// AllowedOrigins restricts the Origin of WebSocket handshakes; others get
// HTTP 403. None (the default): same origin only, the Origin's host and
// port equal to the request's Host (a handshake without Origin, from a
// non-browser client, is allowed). "*": any origin. Otherwise exactly the
// listed origins, such as "https://chat.example.com".
func AllowedOrigins(origins ...string) Option {
	return func(o *options) error {
		o.allowedOrigins, o.anyOrigin = nil, false
		if len(origins) == 0 {
			return nil
		}
		if slices.Contains(origins, "*") {
			if len(origins) > 1 {
				return fmt.Errorf("allowed_origins %q: \"*\" must stand alone", origins)
			}
			o.anyOrigin = true
			return nil
		}
		o.allowedOrigins = map[string]bool{}
		for _, s := range origins {
			if s == "" {
				return fmt.Errorf("allowed_origins %q: an empty origin", origins)
			}
			o.allowedOrigins[s] = true
		}
		return nil
	}
}

func positive(key string, n int, field func(*options) *int) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("%s %d: must be positive", key, n)
		}
		*field(o) = n
		return nil
	}
}

func duration(key string, d time.Duration, field func(*options) *time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%s %v: must be positive", key, d)
		}
		*field(o) = d
		return nil
	}
}
