// Command sbbench loads any server that speaks the bench protocol (see
// examples/bench) over WebSocket and measures it:
//
//	sbbench floor
//	sbbench idle      -url ws://127.0.0.1:8282/ -n 19000 -pids 1234
//	sbbench echo      -url ws://127.0.0.1:8282/ -c 200 -size 64 -d 10s -pids 1234
//	sbbench broadcast -url ws://127.0.0.1:8282/ -n 10000 -messages 200 -pids 1234
//
// Server CPU per operation is read from /proc/PID/stat for -pids, so give
// every server process (gateway, NATS, worker). Only loopback targets are
// allowed unless -allow-remote.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-go/switchboard/internal/loadtest"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: sbbench floor|idle|echo|broadcast [flags]")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "sbbench:", err)
		os.Exit(1)
	}
}

func run(scenario string, args []string) error {
	fs := flag.NewFlagSet(scenario, flag.ExitOnError)
	url := fs.String("url", "ws://127.0.0.1:8282/", "server WebSocket URL")
	pidList := fs.String("pids", "", "comma-separated server PIDs to measure")
	asJSON := fs.Bool("json", false, "print JSON")
	allowRemote := fs.Bool("allow-remote", false, "allow a non-loopback target")
	n := fs.Int("n", 1000, "connections (idle) or members (broadcast)")
	c := fs.Int("c", 200, "connections (echo) or connect concurrency (idle)")
	size := fs.Int("size", 64, "payload bytes")
	d := fs.Duration("d", 10*time.Second, "duration (echo)")
	hold := fs.Duration("hold", 3*time.Second, "how long idle connections are held before RSS is read")
	messages := fs.Int("messages", 200, "messages (broadcast)")
	inflight := fs.Int("inflight", 1, "messages in flight, closed loop (broadcast)")
	rate := fs.Float64("rate", 0, "messages per second, open loop (broadcast; overrides -inflight)")
	group := fs.String("group", "bench", "group name (broadcast)")
	grace := fs.Duration("grace", 5*time.Second, "wait for late deliveries and for a stalled closed loop (broadcast)")
	writes := fs.Int("writes", 200000, "writes (floor)")
	pollers := fs.Int("pollers", 2, "epoll reader goroutines")
	sources := fs.Int("sources", 16, "idle: loopback source addresses to connect from (0: one)")
	push := fs.String("push-nats", "", "broadcast: send through the Gateway API at this NATS URL instead of bcast from a client")
	prefix := fs.String("prefix", "sb", "subject prefix for -push-nats")
	_ = fs.Parse(args)

	if err := loadtest.CheckTarget(*url, *allowRemote); err != nil && scenario != "floor" {
		return err
	}
	pids, err := parsePIDs(*pidList)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	progressed := false
	progress := func(s string) {
		progressed = true
		fmt.Fprintf(os.Stderr, "\r%-78s", s)
	}
	var result any
	switch scenario {
	case "floor":
		result, err = loadtest.RunFloor(*writes)
	case "idle":
		result, err = loadtest.RunIdle(ctx, loadtest.IdleConfig{URL: *url, Conns: *n, Concurrency: *c, Hold: *hold, PIDs: pids, Pollers: *pollers, Sources: *sources, Progress: progress})
	case "echo":
		result, err = loadtest.RunEcho(ctx, loadtest.EchoConfig{URL: *url, Conns: *c, Size: *size, Duration: *d, PIDs: pids, Pollers: *pollers, Progress: progress})
	case "broadcast":
		result, err = loadtest.RunBroadcast(ctx, loadtest.BroadcastConfig{URL: *url, Members: *n, Size: *size, Group: *group, Messages: *messages,
			Inflight: *inflight, Rate: *rate, Grace: *grace, PIDs: pids, Pollers: *pollers, Progress: progress, PushNATS: *push, Prefix: *prefix})
	default:
		return fmt.Errorf("unknown scenario %q (floor, idle, echo, broadcast)", scenario)
	}
	if progressed { // progress runs on the scenario's goroutines, all stopped by now
		fmt.Fprintln(os.Stderr)
	}
	if err != nil {
		if r, ok := result.(loadtest.IdleResult); ok && r.Conns > 0 {
			_ = loadtest.Report(os.Stdout, scenario, r, *asJSON) // what was measured before the failure
		}
		return err
	}
	return loadtest.Report(os.Stdout, scenario, result, *asJSON)
}

func parsePIDs(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("-pids: %q is not a pid", f)
		}
		out = append(out, pid)
	}
	return out, nil
}
