package switchboard

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/admin"
	"github.com/switchboard-go/switchboard/bus"
	jsclient "github.com/switchboard-go/switchboard/clients/js"
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/httpapi"
	"github.com/switchboard-go/switchboard/internal/metrics"
	"github.com/switchboard-go/switchboard/internal/supervisor"
	"github.com/switchboard-go/switchboard/natsserver"
	"github.com/switchboard-go/switchboard/worker"
)

// Node is one Switchboard process: the roles its configuration names,
// started together and stopped in reverse order.
type Node struct {
	cfg    Config
	log    *slog.Logger
	server *server.Server
	gw     *gateway.Gateway
	wk     atomic.Pointer[worker.Worker] // nil once Reload moved the role to a child
	conns  []*nats.Conn
	m      *metrics.Metrics
	sup    *supervisor.Supervisor
	mSrv   *http.Server
	mAddr  string
	apiSrv *http.Server

	// spare, while the worker role runs in this process (worker.processes
	// 0 under the CLI), is the supervisor the first Reload starts to move
	// the role to a child process (moveWorkerToChild).
	spare    *supervisor.Supervisor
	reloadMu sync.Mutex // one Reload or Stop at a time
}

// MetricsAddr returns the address of the metrics.listen server, "" without one.
func (n *Node) MetricsAddr() string { return n.mAddr }

// Option adds to what Run and Start build.
type Option func(*nodeOptions)

type nodeOptions struct {
	sup    *supervisor.Supervisor
	static fs.FS
	http   http.Handler
	log    *slog.Logger
}

// WithStatic serves files at "/" on the gateway's port (the chat demo's
// page, a single-page app...).
func WithStatic(files fs.FS) Option { return func(o *nodeOptions) { o.static = files } }

// WithHTTPHandler serves plain HTTP requests on the gateway's port.
func WithHTTPHandler(h http.Handler) Option { return func(o *nodeOptions) { o.http = h } }

func withSupervisor(s *supervisor.Supervisor) Option { return func(o *nodeOptions) { o.sup = s } }

// WithLogger replaces the logger built from the log configuration.
func WithLogger(l *slog.Logger) Option { return func(o *nodeOptions) { o.log = l } }

// Start starts the roles of cfg: embedded NATS, gateway, worker running
// events (which may be nil when the process runs no worker). Stop ends them.
func Start(ctx context.Context, events any, cfg Config, opts ...Option) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := nodeOptions{}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = cfg.Log.NewLogger(nil)
	}
	n := &Node{cfg: cfg, log: o.log, m: metrics.New()}
	n.m.RegisterSlowConsumers()
	if err := n.start(ctx, events, o); err != nil {
		stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Stop(stopCtx)
		return nil, err
	}
	return n, nil
}

func (n *Node) start(ctx context.Context, events any, o nodeOptions) error {
	cfg := n.cfg
	if cfg.Has(RoleNATS) && cfg.NATS.URL == "" {
		sc, err := embeddedServerConfig(cfg.NATS)
		if err != nil {
			return err
		}
		s, err := natsserver.Start(sc)
		if err != nil {
			return err
		}
		n.server = s
		n.log.Info("embedded nats started", "url", s.ClientURL())
	}
	if cfg.Has(RoleGateway) {
		nc, err := n.connect("gateway")
		if err != nil {
			return err
		}
		g, err := gateway.New(nc, n.gatewayOptions(o)...)
		if err != nil {
			return err
		}
		n.m.Register(metrics.NewGatewayCollector(g))
		if err := g.Start(ctx); err != nil {
			return err
		}
		n.gw = g
	}
	if cfg.Has(RoleWorker) && o.sup != nil {
		url := cfg.NATS.URL
		if n.server != nil {
			url = n.server.ClientURL()
		}
		o.sup.AddArgs("--nats-url", url, "--prefix", cfg.NATS.Prefix)
		if cfg.Worker.Processes == 0 {
			n.spare = o.sup // the worker runs here until the first Reload
		} else {
			n.sup = o.sup
			if err := n.sup.Start(); err != nil {
				return err
			}
		}
	}
	if cfg.Has(RoleWorker) && n.sup == nil {
		if events == nil {
			return fmt.Errorf("%w: roles: the worker role needs event handlers", ErrConfig)
		}
		nc, err := n.connect("worker")
		if err != nil {
			return err
		}
		w, err := worker.New(nc, events, worker.WithConfig(cfg.Worker.Config),
			worker.Prefix(cfg.NATS.Prefix), worker.Logger(n.log), worker.Observe(n.m.Observe))
		if err != nil {
			return err
		}
		n.m.RegisterWorker(w)
		if err := w.Start(ctx); err != nil {
			return err
		}
		n.wk.Store(w)
		if n.gw != nil {
			// The in-process path: the gateway hands its clients'
			// messages to this worker directly while it is the only one.
			n.gw.LinkLocal(w)
		}
	}
	if cfg.Has(RoleAPI) {
		if err := n.startAPI(); err != nil {
			return err
		}
	}
	return n.serveMetrics()
}

// startAPI serves the HTTP push API on api.listen, when set (on the
// gateway's port it is mounted by gatewayOptions).
func (n *Node) startAPI() error {
	if n.cfg.API.Listen == "" {
		return nil
	}
	h, err := n.apiHandler()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", n.cfg.API.Listen)
	if err != nil {
		return fmt.Errorf("api.listen %s: %w", n.cfg.API.Listen, err)
	}
	n.apiSrv = n.httpServer(h)
	go func() { _ = n.apiSrv.Serve(ln) }()
	n.log.Info("http api listening", "addr", ln.Addr().String())
	return nil
}

// apiHandler builds the API on a connection of its own.
func (n *Node) apiHandler() (http.Handler, error) {
	nc, err := n.connect("api")
	if err != nil {
		return nil, err
	}
	c, err := bus.New(nc, bus.WithPrefix(n.cfg.NATS.Prefix), bus.WithLogger(n.log))
	if err != nil {
		return nil, err
	}
	return httpapi.New(c, n.cfg.API.Tokens, n.cfg.API.MaxBodyBytes, n.log), nil
}

// serveMetrics starts the metrics.listen server, if configured.
func (n *Node) serveMetrics() error {
	addr := n.cfg.Metrics.Listen
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics.listen %s: %w", addr, err)
	}
	n.mAddr = ln.Addr().String()
	n.mSrv = n.httpServer(n.m.Handler(n.ready, nil, true))
	go func() { _ = n.mSrv.Serve(ln) }()
	n.log.Info("metrics listening", "addr", ln.Addr().String())
	return nil
}

// httpServer is an HTTP server with the gateway's HTTP timeouts, for
// api.listen and metrics.listen: no socket stays open without a deadline.
func (n *Node) httpServer(h http.Handler) *http.Server {
	g := n.cfg.Gateway
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       g.HTTPReadTimeout,
		WriteTimeout:      g.HTTPWriteTimeout,
		IdleTimeout:       g.HTTPIdleTimeout,
	}
}

// ready reports whether every NATS connection of the node is up.
func (n *Node) ready() bool {
	for _, nc := range n.conns {
		if !nc.IsConnected() {
			return false
		}
	}
	return true
}

func (n *Node) gatewayOptions(o nodeOptions) []gateway.Option {
	// Every gateway key comes in gateway.Config (WithConfig); the rest is
	// what only the node knows.
	opts := []gateway.Option{
		gateway.WithConfig(n.cfg.Gateway),
		gateway.Prefix(n.cfg.NATS.Prefix),
		gateway.Logger(n.log),
	}
	var next http.Handler
	switch {
	case o.http != nil:
		next = o.http
	case o.static != nil:
		next = http.FileServerFS(o.static)
	}
	// The gateway's port also serves the browser client at /switchboard.js,
	// answers /healthz and /readyz (and /metrics when
	// metrics.on_gateway_port), and /api/ and /admin/ when
	// the api role runs here without a port of its own.
	site := http.NewServeMux()
	site.Handle("/switchboard.js", jsclient.Handler())
	if next != nil {
		site.Handle("/", next)
	}
	next = site
	if n.cfg.Has(RoleAPI) && n.cfg.API.Listen == "" {
		if api, err := n.apiHandler(); err == nil {
			mux := http.NewServeMux()
			mux.Handle("/api/", api)
			if page, err := admin.Handler("/admin/"); err == nil {
				mux.Handle("/admin/", page)
				mux.Handle("/admin", http.RedirectHandler("/admin/", http.StatusMovedPermanently))
			}
			if next != nil {
				mux.Handle("/", next)
			}
			next = mux
		} else {
			n.log.Error("http api not mounted", "err", err)
		}
	}
	// /metrics (Go version, descriptor counts, traffic) is not for the
	// public: on the clients' port only when metrics.on_gateway_port.
	return append(opts, gateway.HTTPHandler(n.m.Handler(n.ready, next, n.cfg.Metrics.OnGatewayPort)))
}

// connect opens a NATS connection for one role: in-process to the embedded
// server (no sockets), or to the configured URL.
func (n *Node) connect(role string) (*nats.Conn, error) {
	opts, err := n.cfg.NATS.ConnectOptions()
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		nats.Name("switchboard-"+role),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			// Close (a clean stop) reports no error: not a warning.
			if err == nil || nc.IsClosed() {
				n.log.Info("nats connection closed", "role", role)
				return
			}
			n.log.Warn("nats disconnected", "role", role, "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			n.log.Info("nats reconnected", "role", role, "url", nc.ConnectedUrl())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				n.m.SlowConsumers.Add(1)
			}
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			n.log.Warn("nats error", "role", role, "subject", subject, "err", err)
		}),
	)
	url := n.cfg.NATS.URL
	if n.server != nil {
		url = n.server.ClientURL()
		opts = append(opts, nats.InProcessServer(n.server))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: connect to nats %s: %w", role, url, err)
	}
	n.conns = append(n.conns, nc)
	n.m.WatchNATS(role, nc)
	return nc, nil
}

// embeddedServerConfig gives the embedded server the authentication the
// process's own connections use (natsOptions): nats.token, nats.user and
// nats.password, or the public key of nats.nkey_seed_file.
func embeddedServerConfig(c NATSConfig) (natsserver.Config, error) {
	sc := natsserver.Config{Host: c.Host, Port: c.Port, Token: c.Token, User: c.User, Password: c.Password,
		PingInterval: c.ServerPingInterval, MaxPingsOut: c.ServerMaxPingsOut}
	if c.NkeySeedFile != "" {
		pub, err := natsserver.NkeyPublicFromSeedFile(c.NkeySeedFile)
		if err != nil {
			return sc, fmt.Errorf("%w: nats.nkey_seed_file: %v", ErrConfig, err)
		}
		sc.Nkey = pub
	}
	return sc, nil
}

// GatewayAddr returns the gateway's listening address, nil without one.
func (n *Node) GatewayAddr() net.Addr {
	if n.gw == nil {
		return nil
	}
	return n.gw.Addr()
}

// NATSURL returns the embedded server's URL, "" without one.
func (n *Node) NATSURL() string {
	if n.server == nil {
		return ""
	}
	return n.server.ClientURL()
}

// Worker returns the worker role running in this process: nil without
// one, or once a reload moved the role to a child process.
func (n *Node) Worker() *worker.Worker { return n.wk.Load() }

// Reload reloads what can change without dropping a client: the
// gateway's TLS certificate, and the worker child processes, replaced by
// the binary on disk now. A worker running in this process under the CLI
// (worker.processes 0) is replaced by a child process of the binary on
// disk, which runs the role from then on (moveWorkerToChild).
func (n *Node) Reload() error {
	n.reloadMu.Lock()
	defer n.reloadMu.Unlock()
	var errs []error
	if n.gw != nil && hasWSS(n.cfg.Gateway.Listen) {
		errs = append(errs, n.gw.ReloadTLS())
	}
	switch {
	case n.spare != nil:
		errs = append(errs, n.moveWorkerToChild())
	case n.sup != nil:
		errs = append(errs, n.sup.Reload())
	}
	return errors.Join(errs...)
}

func hasWSS(listen []string) bool {
	for _, l := range listen {
		if strings.HasPrefix(l, "wss://") {
			return true
		}
	}
	return false
}

// Stop stops the roles in reverse order: the gateway closes its clients,
// the worker drains, the embedded server shuts down.
func (n *Node) Stop(ctx context.Context) error {
	n.reloadMu.Lock()
	defer n.reloadMu.Unlock()
	var errs []error
	for _, srv := range []*http.Server{n.mSrv, n.apiSrv} {
		if srv != nil {
			_ = srv.Close()
		}
	}
	if n.gw != nil {
		errs = append(errs, n.gw.Shutdown(ctx))
	}
	if n.sup != nil {
		errs = append(errs, n.sup.Stop(ctx))
	}
	if w := n.Worker(); w != nil {
		errs = append(errs, w.Stop(ctx))
	}
	for _, nc := range n.conns {
		nc.Close()
	}
	if n.server != nil {
		n.server.Shutdown()
	}
	return errors.Join(errs...)
}
