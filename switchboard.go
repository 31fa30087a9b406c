// Package switchboard runs a GatewayWorker-style real-time server on NATS:
// gateways hold WebSocket connections, workers run your event handlers,
// and NATS connects them. Run is the whole program for a user's binary:
//
//	type Echo struct{}
//
//	func (Echo) OnMessage(c *worker.Context, m worker.Message) error {
//		return c.SendToCurrentClient(m.Data)
//	}
//
//	func main() { switchboard.Main(Echo{}) }
//
// "yourbinary start" then runs embedded NATS, a gateway on
// ws://0.0.0.0:8282 and a worker; see the README for the commands and the
// configuration.
package switchboard

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Main runs Run with the process arguments and exits with its code.
func Main(events any, opts ...Option) {
	os.Exit(Run(events, opts...))
}

// Run parses the command line (os.Args) and runs the command: start,
// status, connections. It returns the process exit code: 0, 1 on failure,
// 2 on a configuration error.
func Run(events any, opts ...Option) int {
	return RunArgs(context.Background(), os.Args[1:], events, opts...)
}

// RunArgs is Run with explicit arguments and a context whose end stops the
// command, for tests and embedding.
func RunArgs(ctx context.Context, args []string, events any, opts ...Option) int {
	root := newRootCommand(events, opts)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrConfig):
		fmt.Fprintln(os.Stderr, "error:", err)
		return 2
	default:
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
}

func newRootCommand(events any, opts []Option) *cobra.Command {
	v := newViper()
	var configFile string
	root := &cobra.Command{
		Use:           os.Args[0],
		Short:         "Switchboard: gateways, workers and NATS for long-lived connections",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&configFile, "config", "c", "", "configuration file (YAML)")
	root.PersistentFlags().String("nats-url", "", "external NATS URL(s); empty starts an embedded server")
	root.PersistentFlags().String("prefix", "sb", "subject prefix (namespace)")
	bind(v, root.PersistentFlags(), "nats.url", "nats-url")
	bind(v, root.PersistentFlags(), "nats.prefix", "prefix")
	load := func() (Config, error) { return loadConfig(v, configFile) }

	var daemon bool
	start := &cobra.Command{
		Use:   "start",
		Short: "run the configured roles until SIGINT or SIGTERM (-d: in the background)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			if daemon && os.Getenv(envDaemonChild) == "" {
				return daemonize(cfg, exe)
			}
			return runForeground(cmd.Context(), events, cfg, exe, configFile, opts)
		},
	}
	start.Flags().BoolVarP(&daemon, "daemon", "d", false, "run in the background, logging to process.log_file")
	start.Flags().StringSlice("roles", nil, "roles to run: nats,gateway,worker")
	start.Flags().StringSlice("listen", nil, "gateway listeners, e.g. ws://0.0.0.0:8282,tcp+text://0.0.0.0:8283")
	start.Flags().Int("nats-port", 0, "embedded NATS port")
	bind(v, start.Flags(), "roles", "roles")
	bind(v, start.Flags(), "gateway.listen", "listen")
	bind(v, start.Flags(), "nats.port", "nats-port")

	root.AddCommand(start, newStatusCommand(load), newConnectionsCommand(load))
	root.AddCommand(newProcessCommands(load)...)
	return root
}

// bind makes a flag override the configuration key when it is set.
func bind(v *viper.Viper, flags *pflag.FlagSet, key, flag string) {
	_ = v.BindPFlag(key, flags.Lookup(flag))
}

// runForeground starts the node and stops it gracefully on SIGINT/SIGTERM
// or when ctx ends; a second signal forces the exit. SIGHUP reloads.
func runForeground(ctx context.Context, events any, cfg Config, exe, configFile string, opts []Option) error {
	workerChild := os.Getenv(envWorkerChild) == "1"
	// process names this process in its stop lines: a worker child, the
	// supervisor of worker children, or a process that runs its roles
	// itself.
	process := "main"
	if workerChild {
		// metrics.listen belongs to the supervising process: a child that
		// bound it too would fail to start ("address already in use").
		cfg.Metrics.Listen = ""
	}
	pf := pidFile(cfg.Process.PIDFile)
	if workerChild {
		process = "worker-child"
	}
	if !workerChild {
		if pid, err := pf.running(); err == nil && pid != os.Getpid() {
			return fmt.Errorf("already running with pid %d (%s)", pid, pf)
		}
	}
	if cfg.Has(RoleWorker) && cfg.Worker.Processes > 0 && !workerChild {
		args := []string{"start", "--roles", RoleWorker}
		if configFile != "" {
			args = append(args, "-c", configFile)
		}
		process = "supervisor"
		log := newLogger(cfg.Log, nil)
		opts = append(opts, withSupervisor(newSupervisor(exe, args, cfg.Worker.Processes, cfg.Worker.StopTimeout, log)))
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	n, err := Start(ctx, events, cfg, opts...)
	if err != nil {
		return err
	}
	if workerChild {
		signalReady()
	} else {
		// The pid file appears once everything is ready: "start -d"
		// returns then.
		if err := pf.acquire(); err != nil {
			_ = n.Stop(context.Background())
			return err
		}
		defer pf.release()
	}
	if addr := n.GatewayAddr(); addr != nil {
		n.log.Info("switchboard ready", "gateway", "ws://"+addr.String(), "roles", cfg.Roles)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for done := false; !done; {
		select {
		case <-hup:
			if err := n.Reload(); err != nil {
				n.log.Error("reload failed, keeping the running configuration", "err", err)
			} else {
				n.log.Info("reloaded")
			}
		case <-sigs:
			done = true
		case <-ctx.Done():
			done = true
		}
	}
	n.log.Info("stopping", "process", process, "pid", os.Getpid())
	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.Worker.StopTimeout)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- n.Stop(stopCtx) }()
	select {
	case err := <-stopped:
		return err
	case <-sigs:
		n.log.Warn("second signal: stopping now", "process", process, "pid", os.Getpid())
		return errForced
	}
}
