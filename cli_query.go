package switchboard

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-go/switchboard/bus"
)

func connectBus(cfg Config) (*bus.Client, error) {
	url := cfg.NATS.URL
	if url == "" {
		url = fmt.Sprintf("nats://%s:%d", cfg.NATS.Host, cfg.NATS.Port)
	}
	opts, err := natsOptions(cfg.NATS)
	if err != nil {
		return nil, err
	}
	return bus.Connect(url, bus.WithPrefix(cfg.NATS.Prefix), bus.WithNATSOptions(opts...))
}

func newConnectionsCommand(load func() (Config, error)) *cobra.Command {
	var group, uid string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "connections",
		Short: "list the clients connected to the cluster",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			c, err := connectBus(cfg)
			if err != nil {
				return err
			}
			defer c.Close()
			infos, err := c.Clients(cmd.Context(), bus.Filter{Group: group, Uid: uid}, bus.FieldUid, bus.FieldGroups)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(os.Stdout).Encode(infos)
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CLIENT\tGATEWAY\tREMOTE\tUID\tGROUPS\tSINCE")
			for _, ci := range infos {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ci.ID, ci.Gateway, ci.Remote, ci.Uid,
					strings.Join(ci.Groups, ","), ci.ConnectedAt.Format(time.RFC3339))
			}
			fmt.Fprintf(tw, "%d connections\n", len(infos))
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&group, "group", "", "only members of this group")
	cmd.Flags().StringVar(&uid, "uid", "", "only clients bound to this uid")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newStatusCommand(load func() (Config, error)) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "show the gateways of the cluster and their connections",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			c, err := connectBus(cfg)
			if err != nil {
				return err
			}
			defer c.Close()
			gws, err := c.Gateways(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(os.Stdout).Encode(gws)
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "GATEWAY\tLISTEN\tHOST\tCONNECTIONS\tMSGS IN\tMSGS OUT\tUPTIME")
			total := int64(0)
			for _, g := range gws {
				total += g.Connections
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\n", g.ID, g.Listen, g.Host, g.Connections,
					g.MsgsIn, g.MsgsOut, time.Since(g.Started).Round(time.Second))
			}
			fmt.Fprintf(tw, "%d gateways, %d connections\n", len(gws), total)
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
