package gateway_test

import "github.com/switchboard-go/switchboard/bus"

func binaryOpt() bus.SendOption { return bus.Binary() }
