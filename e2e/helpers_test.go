package e2e

import (
	"errors"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/worker"

	"github.com/switchboard-go/switchboard/internal/sbtest"
)

// readData reads one data message and says whether it was text or binary.
func readData(c *sbtest.WS) ([]byte, string, error) {
	data, op, err := wsutil.ReadServerData(c.Conn)
	if op == ws.OpBinary {
		return data, "binary", err
	}
	return data, "text", err
}

func gatewayEventTimeout(d time.Duration) gateway.Option { return gateway.EventTimeout(d) }

func errorAs(err error, target any) bool { return errors.As(err, target) }

func workerPrefix(p string) worker.Option { return worker.Prefix(p) }
