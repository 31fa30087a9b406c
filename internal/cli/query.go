package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-go/switchboard/bus"
	"github.com/switchboard-go/switchboard/internal/config"
)

func connectBus(cfg config.Config) (*bus.Client, error) {
	url := cfg.NATS.URL
	if url == "" {
		url = fmt.Sprintf("nats://%s:%d", cfg.NATS.Host, cfg.NATS.Port)
	}
	opts, err := cfg.NATS.ConnectOptions()
	if err != nil {
		return nil, err
	}
	return bus.Connect(url, bus.WithPrefix(cfg.NATS.Prefix), bus.WithNATSOptions(opts...))
}

// onBus makes a command body that loads the configuration, connects to
// the cluster's NATS and runs fn with the Gateway API.
func onBus(load func() (config.Config, error), fn func(*cobra.Command, *bus.Client) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		cfg, err := load()
		if err != nil {
			return err
		}
		c, err := connectBus(cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		return fn(cmd, c)
	}
}

func newConnectionsCommand(load func() (config.Config, error)) *cobra.Command {
	var group, uid string
	var asJSON bool
	var limit, offset int
	cmd := &cobra.Command{
		Use:   "connections",
		Short: "list the clients connected to the cluster",
		RunE: onBus(load, func(cmd *cobra.Command, c *bus.Client) error {
			infos, err := c.Clients(cmd.Context(), bus.Filter{Group: group, Uid: uid}, bus.FieldUid, bus.FieldGroups)
			if err != nil {
				return err
			}
			total := len(infos)
			infos = page(infos, offset, limit)
			if asJSON {
				return json.NewEncoder(os.Stdout).Encode(infos)
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CLIENT\tGATEWAY\tREMOTE\tUID\tGROUPS\tSINCE")
			for _, ci := range infos {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ci.ID, ci.Gateway, ci.Remote, ci.Uid,
					strings.Join(ci.Groups, ","), ci.ConnectedAt.Format(time.RFC3339))
			}
			fmt.Fprintf(tw, "%d connections", total)
			if len(infos) < total {
				fmt.Fprintf(tw, " (showing %d from %d)", len(infos), offset)
			}
			fmt.Fprintln(tw)
			return tw.Flush()
		}),
	}
	cmd.Flags().StringVar(&group, "group", "", "only members of this group")
	cmd.Flags().StringVar(&uid, "uid", "", "only clients bound to this uid")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&limit, "limit", 100, "clients per page (0: all)")
	cmd.Flags().IntVar(&offset, "offset", 0, "clients to skip (sorted by id)")
	return cmd
}

// page returns at most limit items after offset (limit 0: all).
func page[T any](items []T, offset, limit int) []T {
	offset = min(max(offset, 0), len(items))
	items = items[offset:]
	if limit > 0 && limit < len(items) {
		items = items[:limit]
	}
	return items
}

func newStatusCommand(load func() (config.Config, error)) *cobra.Command {
	var asJSON, watch bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "show the gateways and workers of the live cluster",
		RunE: onBus(load, func(cmd *cobra.Command, c *bus.Client) error {
			for {
				st, err := clusterStatus(cmd.Context(), c)
				if err != nil {
					return err
				}
				if watch && !asJSON {
					fmt.Print("\033[H\033[2J") // clear the terminal
				}
				if err := printStatus(st, asJSON); err != nil || !watch {
					return err
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(2 * time.Second):
				}
			}
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&watch, "watch", false, "refresh every 2 seconds until interrupted")
	return cmd
}

// ClusterStatus is what "status" shows.
type ClusterStatus struct {
	Gateways    []bus.GatewayStatus `json:"gateways"`
	Workers     []WorkerRow         `json:"workers"`
	Connections int64               `json:"connections"`
	MsgsInRate  float64             `json:"msgs_in_per_sec"`
	MsgsOutRate float64             `json:"msgs_out_per_sec"`
	EventsRate  float64             `json:"events_per_sec"`
}

// WorkerRow is a worker as "status" shows it.
type WorkerRow struct {
	bus.WorkerStatus
	// InGatewayProcess: the worker runs inside a gateway's process
	// (worker.processes 0, before a reload moves it to a child process),
	// told by the same host and pid as a gateway's. False: a process of
	// its own (a worker child, or a worker-only process).
	InGatewayProcess bool `json:"in_gateway_process"`
}

func clusterStatus(ctx context.Context, c *bus.Client) (ClusterStatus, error) {
	var st ClusterStatus
	var err error
	if st.Gateways, err = c.Gateways(ctx); err != nil {
		return st, err
	}
	ws, err := c.Workers(ctx, 300*time.Millisecond)
	if err != nil {
		return st, err
	}
	type proc struct {
		host string
		pid  int
	}
	gateways := map[proc]bool{}
	for _, g := range st.Gateways {
		gateways[proc{g.Host, g.PID}] = true
	}
	for _, w := range ws {
		st.Workers = append(st.Workers, WorkerRow{WorkerStatus: w, InGatewayProcess: gateways[proc{w.Host, w.PID}]})
	}
	for _, g := range st.Gateways {
		st.Connections += g.Connections
		st.MsgsInRate += g.MsgsInPerSec
		st.MsgsOutRate += g.MsgsOutPerSec
	}
	for _, w := range st.Workers {
		st.EventsRate += w.HandledPerSec
	}
	return st, nil
}

func printStatus(st ClusterStatus, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(st)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GATEWAY\tLISTEN\tHOST\tPID\tCONNECTIONS\tIN/S\tOUT/S\tMEMORY\tUPTIME")
	for _, g := range st.Gateways {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.0f\t%.0f\t%s\t%s\n", g.ID, g.Listen, g.Host, g.PID, g.Connections,
			g.MsgsInPerSec, g.MsgsOutPerSec, mib(g.MemoryBytes), time.Since(g.Started).Round(time.Second))
	}
	fmt.Fprintln(tw, "\nWORKER\tHOST\tPID\tPROCESS\tHANDLED\tEVENTS/S\tIN FLIGHT\tMEMORY\tUPTIME")
	inGateway := 0
	for _, w := range st.Workers {
		process := "own"
		if w.InGatewayProcess {
			process = "gateway's"
			inGateway++
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%.0f\t%d\t%s\t%s\n", w.ID, w.Host, w.PID, process, w.Handled, w.HandledPerSec,
			w.InFlight, mib(w.MemoryBytes), time.Since(w.Started).Round(time.Second))
	}
	fmt.Fprintf(tw, "\n%d gateways, %d workers, %d connections, %.0f msgs in/s, %.0f msgs out/s, %.0f events/s\n",
		len(st.Gateways), len(st.Workers), st.Connections, st.MsgsInRate, st.MsgsOutRate, st.EventsRate)
	if inGateway > 0 {
		fmt.Fprintf(tw, "%d of the workers run in a gateway's process (worker.processes 0; reload moves one to a child process)\n", inGateway)
	}
	return tw.Flush()
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
