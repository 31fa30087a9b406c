// Command switchboard is the stock binary: embedded NATS, a gateway and the
// chat demo's worker, with the Switchboard CLI (start, status, connections).
//
//	go run ./cmd/switchboard start
//
// then open http://127.0.0.1:8282/ in two browser tabs.
package main

import (
	"fmt"
	"os"

	"github.com/switchboard-go/switchboard"
	"github.com/switchboard-go/switchboard/examples/chat"
)

func main() {
	static, err := chat.StaticFS()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chat page:", err)
		os.Exit(1)
	}
	switchboard.Main(chat.Events{}, switchboard.WithStatic(static))
}
