package switchboard_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/switchboard-go/switchboard"
	"github.com/switchboard-go/switchboard/worker"
)

// Echo is the README's server: every message goes back to its sender.
type Echo struct{}

func (Echo) OnMessage(c *worker.Context, m worker.Message) error {
	return c.SendToCurrentClient(m.Data)
}

// Start runs the same server inside a program or a test: here on random
// ports, answering one client.
func ExampleStart() {
	cfg, err := switchboard.LoadConfig("")
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg.NATS.Port = -1                                // any free port
	cfg.Gateway.Listen = []string{"ws://127.0.0.1:0"} // any free port
	cfg.Log.Level = "error"
	ctx := context.Background()
	node, err := switchboard.Start(ctx, Echo{}, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Stop(ctx)

	dialCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, _, _, err := ws.Dial(dialCtx, "ws://"+node.GatewayAddr().String()+"/")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	_ = wsutil.WriteClientText(conn, []byte("hello"))
	reply, _ := wsutil.ReadServerText(conn)
	fmt.Println(string(reply))
	// Output: hello
}
