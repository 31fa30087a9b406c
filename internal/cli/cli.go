// Package cli is the command line of every Switchboard binary (start,
// stop, restart, reload, status, connections): cobra commands, the
// configuration file and flags (through internal/config), daemonizing,
// pid files and worker child processes (internal/supervisor). The root
// package's Main and Run call Run with a function that starts a node.
package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/switchboard-go/switchboard/internal/config"
	"github.com/switchboard-go/switchboard/internal/supervisor"
)

// Node is what the commands need of a started node (switchboard.Node).
type Node interface {
	GatewayAddr() net.Addr
	Reload() error
	Stop(ctx context.Context) error
	// Log is the node's logger, which the commands log their steps with.
	Log() *slog.Logger
}

// StartFunc starts a node running the roles of cfg; sup, when not nil,
// runs the worker role in child processes (the node adds the NATS URL and
// prefix to their arguments and starts them). With worker.processes 0 the
// node runs the worker itself and starts sup (one child) at its first
// reload, which moves the role there.
type StartFunc func(ctx context.Context, cfg config.Config, sup *supervisor.Supervisor) (Node, error)

// Run parses args and runs the command, stopping when ctx ends. It returns
// the process exit code: 0, 1 on failure, 2 on a configuration error.
func Run(ctx context.Context, args []string, start StartFunc) int {
	root := newRootCommand(start)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, config.ErrConfig):
		fmt.Fprintln(os.Stderr, "error:", err)
		return 2
	default:
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
}

func newRootCommand(start StartFunc) *cobra.Command {
	v := config.NewViper()
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
	load := func() (config.Config, error) { return config.LoadWith(v, configFile) }

	var daemon bool
	startCmd := &cobra.Command{
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
			return runForeground(cmd.Context(), start, cfg, exe, configFile)
		},
	}
	startCmd.Flags().BoolVarP(&daemon, "daemon", "d", false, "run in the background, logging to process.log_file")
	startCmd.Flags().StringSlice("roles", nil, "roles to run: nats,gateway,worker")
	startCmd.Flags().StringSlice("listen", nil, "gateway listeners, e.g. ws://0.0.0.0:8282,tcp+text://0.0.0.0:8283")
	startCmd.Flags().Int("nats-port", 0, "embedded NATS port")
	bind(v, startCmd.Flags(), "roles", "roles")
	bind(v, startCmd.Flags(), "gateway.listen", "listen")
	bind(v, startCmd.Flags(), "nats.port", "nats-port")

	root.AddCommand(startCmd, newStatusCommand(load), newConnectionsCommand(load))
	root.AddCommand(newProcessCommands(load)...)
	return root
}

// bind makes a flag override the configuration key when it is set.
func bind(v *viper.Viper, flags *pflag.FlagSet, key, flag string) {
	_ = v.BindPFlag(key, flags.Lookup(flag))
}

// runForeground starts the node and stops it gracefully on SIGINT/SIGTERM
// or when ctx ends; a second signal forces the exit. SIGHUP reloads.
func runForeground(ctx context.Context, start StartFunc, cfg config.Config, exe, configFile string) error {
	workerChild := supervisor.IsWorkerChild()
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
		if err := pf.free(); err != nil {
			return err
		}
	}
	var sup *supervisor.Supervisor
	if cfg.Has(config.RoleWorker) && !workerChild {
		args := []string{"start", "--roles", config.RoleWorker}
		if configFile != "" {
			args = append(args, "-c", configFile)
		}
		// processes 0: the worker runs in this process; the first reload
		// replaces it with one child of the binary on disk.
		children := max(cfg.Worker.Processes, 1)
		sup = supervisor.New(exe, args, children, cfg.Worker.StopTimeout, cfg.Log.NewLogger(nil))
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	n, err := start(ctx, cfg, sup)
	if err != nil {
		return err
	}
	if workerChild {
		supervisor.SignalReady()
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
		n.Log().Info("switchboard ready", "gateway", "ws://"+addr.String(), "roles", cfg.Roles)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for done := false; !done; {
		select {
		case <-hup:
			if err := n.Reload(); err != nil {
				n.Log().Error("reload failed, keeping the running configuration", "err", err)
			} else {
				n.Log().Info("reloaded")
			}
		case <-sigs:
			done = true
		case <-ctx.Done():
			done = true
		}
	}
	if sup != nil && sup.Started() {
		process = "supervisor"
	}
	n.Log().Info("stopping", "process", process, "pid", os.Getpid())
	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.Worker.StopTimeout)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- n.Stop(stopCtx) }()
	select {
	case err := <-stopped:
		return err
	case <-sigs:
		n.Log().Warn("second signal: stopping now", "process", process, "pid", os.Getpid())
		return errForced
	}
}
