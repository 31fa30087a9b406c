// Package bench is the bench-protocol worker (DESIGN section 5), so that
// Switchboard and other servers are measured with the same client:
//
//	join G            → JoinGroup(G), reply "ok"
//	bcast G PAYLOAD   → SendToGroup(G, PAYLOAD)
//	anything else     → echo to the sender only
package bench

import (
	"bytes"

	"github.com/switchboard-go/switchboard/worker"
)

// Events implements the bench protocol.
type Events struct{}

const (
	joinCmd  = "join "
	bcastCmd = "bcast "
)

// OnMessage runs one bench command.
func (Events) OnMessage(c *worker.Context, m worker.Message) error {
	switch {
	case bytes.HasPrefix(m.Data, []byte(joinCmd)):
		if err := c.Gateway().JoinGroup(c, c.ClientID(), string(m.Data[len(joinCmd):])); err != nil {
			return err
		}
		return c.SendToCurrentClient([]byte("ok"))
	case bytes.HasPrefix(m.Data, []byte(bcastCmd)):
		group, payload, _ := bytes.Cut(m.Data[len(bcastCmd):], []byte(" "))
		return c.Gateway().SendToGroup(string(group), payload)
	default:
		return c.SendToCurrentClient(m.Data)
	}
}
