// Command benchserver runs Switchboard with the bench-protocol worker:
//
//	go run ./examples/bench/cmd/benchserver start --listen ws://127.0.0.1:8282
package main

import (
	"github.com/switchboard-go/switchboard"
	"github.com/switchboard-go/switchboard/examples/bench"
)

func main() { switchboard.Main(bench.Events{}) }
