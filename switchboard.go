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
// configuration. Start and Node run the same roles from a program of your
// own. The command line itself lives in internal/cli.
package switchboard

import (
	"context"
	"log/slog"
	"os"
	"slices"

	"github.com/switchboard-go/switchboard/internal/cli"
	"github.com/switchboard-go/switchboard/internal/config"
	"github.com/switchboard-go/switchboard/internal/supervisor"
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
	return cli.Run(ctx, args, func(ctx context.Context, cfg config.Config, sup *supervisor.Supervisor) (cli.Node, error) {
		o := opts
		if sup != nil {
			o = append(slices.Clone(opts), withSupervisor(sup))
		}
		n, err := Start(ctx, events, cfg, o...)
		if err != nil {
			return nil, err
		}
		return cliNode{n}, nil
	})
}

// cliNode is a Node as the commands see it.
type cliNode struct{ *Node }

func (n cliNode) Log() *slog.Logger { return n.log }

// ClusterStatus is what "status --json" prints.
type ClusterStatus = cli.ClusterStatus
