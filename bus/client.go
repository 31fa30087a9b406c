package bus

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/internal/wire"
)

// DefaultTimeout bounds a blocking call whose context has no deadline.
const DefaultTimeout = 5 * time.Second

// Client is the Gateway API: it sends to clients, manages groups, uids and
// sessions, and queries the whole cluster. It is safe for concurrent use.
type Client struct {
	nc      *nats.Conn
	subj    wire.Subjects
	timeout time.Duration
	log     *slog.Logger
	ownConn bool
}

// Option configures a Client.
type Option func(*clientOptions)

type clientOptions struct {
	prefix  string
	timeout time.Duration
	log     *slog.Logger
	natsOpt []nats.Option
}

// WithPrefix sets the subject prefix (namespace); default "sb".
func WithPrefix(prefix string) Option { return func(o *clientOptions) { o.prefix = prefix } }

// WithTimeout sets the deadline of blocking calls whose context has none.
func WithTimeout(d time.Duration) Option { return func(o *clientOptions) { o.timeout = d } }

// WithLogger sets the logger; default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *clientOptions) { o.log = l } }

// WithNATSOptions passes options to nats.Connect (credentials, TLS, ...);
// only Connect uses them.
func WithNATSOptions(opts ...nats.Option) Option {
	return func(o *clientOptions) { o.natsOpt = append(o.natsOpt, opts...) }
}

func buildOptions(opts []Option) clientOptions {
	o := clientOptions{timeout: DefaultTimeout, log: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// New returns a Client on an existing NATS connection, which the caller
// keeps and closes.
func New(nc *nats.Conn, opts ...Option) (*Client, error) {
	o := buildOptions(opts)
	subj, err := wire.NewSubjects(o.prefix)
	if err != nil {
		return nil, err
	}
	return &Client{nc: nc, subj: subj, timeout: o.timeout, log: o.log}, nil
}

// Connect dials NATS at url (a comma-separated list for a cluster) and
// returns a Client that owns the connection; Close closes it. This is the
// GatewayClient use case: pushing from any program.
func Connect(url string, opts ...Option) (*Client, error) {
	o := buildOptions(opts)
	// Pings every 3 s, 2 outstanding: a silently dead link is noticed
	// within 9 s (nats.go's default is 2 minutes). WithNATSOptions may
	// override them.
	natsOpts := append([]nats.Option{nats.Name("switchboard-client"), nats.MaxReconnects(-1),
		nats.PingInterval(3 * time.Second), nats.MaxPingsOutstanding(2)}, o.natsOpt...)
	nc, err := nats.Connect(url, natsOpts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %s: %w", url, err)
	}
	c, err := New(nc, opts...)
	if err != nil {
		nc.Close()
		return nil, err
	}
	c.ownConn = true
	return c, nil
}

// Close returns once everything published before it has reached the NATS
// server, then closes the connection if the Client opened it: a program
// may exit right after Close without losing a push. It waits at most the
// Client's timeout (WithTimeout, default DefaultTimeout) and returns the
// error when the server could not confirm in time; the connection is
// closed in every case. A Client made by New does not own its connection
// and only flushes.
func (c *Client) Close() error {
	err := c.nc.FlushTimeout(c.timeout)
	if err != nil {
		err = fmt.Errorf("close: flush to nats: %w", err)
	}
	if c.ownConn {
		c.nc.Close()
	}
	return err
}

// Conn returns the underlying NATS connection.
func (c *Client) Conn() *nats.Conn { return c.nc }

// Flush waits until the server has processed everything published so far.
func (c *Client) Flush(ctx context.Context) error {
	ctx, cancel := c.withDeadline(ctx)
	defer cancel()
	return c.nc.FlushWithContext(ctx)
}

func (c *Client) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.timeout)
}
