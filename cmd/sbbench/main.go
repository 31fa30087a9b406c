//go:build linux

// Command sbbench loads any server that speaks the bench protocol (see
// examples/bench) over WebSocket and measures it:
//
//	sbbench floor
//	sbbench idle      -url ws://127.0.0.1:8282/ -n 19000 -pids 1234
//	sbbench echo      -url ws://127.0.0.1:8282/ -c 200 -size 64 -d 10s -pids 1234
//	sbbench echo      -url ws://127.0.0.1:8282/ -c 1 -think 10ms -d 10s -pids 1234
//	sbbench oneshot   -url ws://127.0.0.1:8282/ -n 19000 -hold 3s -later 10s -pids 1234
//	sbbench broadcast -url ws://127.0.0.1:8282/ -n 10000 -messages 200 -pids 1234
//	sbbench rawserver -listen 127.0.0.1:8383 -pid-file /tmp/rawserver.pid
//
// Server CPU per operation is the CPU clock of the -pids processes and of
// all their descendants (unless -children=false), so the worker child
// processes that "switchboard start" runs (worker.processes: 1 or more, or
// 0 after a reload) are counted with the gateway's process; give every other server
// process (a separate NATS, workers started on their own) in -pids. Server
// RSS (idle, oneshot) is read from the -pids processes only: give the
// gateway's. Only loopback targets are allowed unless -allow-remote.
//
// echo -think T waits T between an echo and the next message of its
// connection (a chat-like load); latency is still measured from the send.
//
// oneshot opens -n connections, holds them idle for -hold and reads the
// servers' RSS, then every connection sends one message and reads its
// echo; RSS is read again right after the last echo and -later after it,
// each as KiB per connection and as a ratio to the idle figure.
//
// rawserver is not a load: it serves the bench protocol itself, with no
// bus, writing each broadcast frame to each member with one write(2), until
// interrupted (SIGINT or SIGTERM). Load it like any server to measure the
// kernel floor of a scenario with the same client and the same member count:
//
//	sbbench broadcast -url ws://127.0.0.1:8383/ -n 10000 -messages 200 -inflight 1 -pids $(cat /tmp/rawserver.pid)
//
// It listens only on loopback unless -allow-remote.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/switchboard-go/switchboard/internal/loadtest"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: sbbench floor|idle|echo|oneshot|broadcast|rawserver [flags]")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "sbbench:", err)
		os.Exit(1)
	}
}

func run(scenario string, args []string) error { return runTo(os.Stdout, scenario, args) }

// runTo runs a scenario and writes its report to out.
func runTo(out io.Writer, scenario string, args []string) error {
	if scenario == "rawserver" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runRawServer(ctx, args, nil)
	}
	fs := flag.NewFlagSet(scenario, flag.ExitOnError)
	url := fs.String("url", "ws://127.0.0.1:8282/", "server WebSocket URL")
	pidList := fs.String("pids", "", "comma-separated server PIDs to measure")
	asJSON := fs.Bool("json", false, "print JSON")
	allowRemote := fs.Bool("allow-remote", false, "allow a non-loopback target")
	n := fs.Int("n", 1000, "connections (idle, oneshot) or members (broadcast)")
	c := fs.Int("c", 200, "connections (echo) or connect concurrency (idle, oneshot)")
	size := fs.Int("size", 64, "payload bytes")
	d := fs.Duration("d", 10*time.Second, "duration (echo)")
	hold := fs.Duration("hold", 3*time.Second, "how long idle connections are held before RSS is read (idle, oneshot)")
	think := fs.Duration("think", 0, "echo: wait between an echo and the connection's next message")
	later := fs.Duration("later", 10*time.Second, "oneshot: when RSS is read again after the last echo")
	children := fs.Bool("children", true, "measure the CPU of the -pids' descendant processes too (worker child processes)")
	messages := fs.Int("messages", 200, "messages (broadcast)")
	inflight := fs.Int("inflight", 1, "messages in flight, closed loop (broadcast)")
	rate := fs.Float64("rate", 0, "messages per second, open loop (broadcast; overrides -inflight)")
	group := fs.String("group", "bench", "group name (broadcast)")
	grace := fs.Duration("grace", 5*time.Second, "wait for late deliveries and for a stalled closed loop (broadcast); for all echoes (oneshot, at least 30s)")
	writes := fs.Int("writes", 200000, "writes (floor)")
	pollers := fs.Int("pollers", 1, "epoll reader goroutines (one is cheapest per operation on a small machine)")
	sources := fs.Int("sources", 16, "idle: loopback source addresses to connect from (0: one)")
	push := fs.String("push-nats", "", "broadcast: send through the Gateway API at this NATS URL instead of bcast from a client")
	prefix := fs.String("prefix", "sb", "subject prefix for -push-nats")
	cpuProfile := fs.String("cpuprofile", "", "write the load tool's own CPU profile to this file")
	_ = fs.Parse(args)

	if err := loadtest.CheckTarget(*url, *allowRemote); err != nil && scenario != "floor" {
		return err
	}
	pids, err := parsePIDs(*pidList)
	if err != nil {
		return err
	}
	cpuPIDs := pids
	if *children && len(pids) > 0 {
		if cpuPIDs, err = loadtest.WithDescendants(pids); err != nil {
			return err
		}
		if len(cpuPIDs) > len(pids) {
			fmt.Fprintf(os.Stderr, "sbbench: server CPU of pids %s (with descendants)\n", joinPIDs(cpuPIDs))
		}
	}
	if *cpuProfile != "" {
		stopProfile, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stopProfile()
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
		result, err = loadtest.RunIdle(ctx, loadtest.IdleConfig{URL: *url, Conns: *n, Concurrency: *c, Hold: *hold, PIDs: pids, CPUPIDs: cpuPIDs,
			Pollers: *pollers, Sources: *sources, Progress: progress})
	case "echo":
		result, err = loadtest.RunEcho(ctx, loadtest.EchoConfig{URL: *url, Conns: *c, Size: *size, Duration: *d, Think: *think, PIDs: cpuPIDs, Pollers: *pollers, Progress: progress})
	case "oneshot":
		result, err = loadtest.RunOneshot(ctx, loadtest.OneshotConfig{URL: *url, Conns: *n, Concurrency: *c, Sources: *sources, Size: *size,
			Hold: *hold, Later: *later, Grace: max(*grace, 30*time.Second), PIDs: pids, CPUPIDs: cpuPIDs, Pollers: *pollers, Progress: progress})
	case "broadcast":
		result, err = loadtest.RunBroadcast(ctx, loadtest.BroadcastConfig{URL: *url, Members: *n, Size: *size, Group: *group, Messages: *messages,
			Inflight: *inflight, Rate: *rate, Grace: *grace, PIDs: cpuPIDs, Pollers: *pollers, Progress: progress, PushNATS: *push, Prefix: *prefix})
	default:
		return fmt.Errorf("unknown scenario %q (floor, idle, echo, oneshot, broadcast, rawserver)", scenario)
	}
	if progressed { // progress runs on the scenario's goroutines, all stopped by now
		fmt.Fprintln(os.Stderr)
	}
	if err != nil {
		switch r := result.(type) { // what was measured before the failure
		case loadtest.IdleResult:
			if r.Conns > 0 {
				_ = loadtest.Report(out, scenario, r, *asJSON)
			}
		case loadtest.OneshotResult:
			if r.RSSIdle > 0 {
				_ = loadtest.Report(out, scenario, r, *asJSON)
			}
		}
		return err
	}
	return loadtest.Report(out, scenario, result, *asJSON)
}

// runRawServer serves the bench protocol until ctx is done; ready, if not
// nil, is called once it listens.
func runRawServer(ctx context.Context, args []string, ready func(net.Addr)) error {
	fs := flag.NewFlagSet("rawserver", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:8383", "address to listen on")
	pidFile := fs.String("pid-file", "", "write this process's PID to the file while serving")
	allowRemote := fs.Bool("allow-remote", false, "allow a non-loopback listen address")
	_ = fs.Parse(args)
	if fs.NArg() > 0 {
		return fmt.Errorf("rawserver: unexpected arguments %q", fs.Args())
	}
	if err := loadtest.CheckListen(*listen, *allowRemote); err != nil {
		return err
	}
	s, err := loadtest.StartRawServer(*listen)
	if err != nil {
		return err
	}
	if *pidFile != "" { // written once the server listens, so that it tells it is ready
		if err := os.WriteFile(*pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			_ = s.Close()
			return fmt.Errorf("rawserver: %w", err)
		}
		defer os.Remove(*pidFile)
	}
	fmt.Fprintf(os.Stderr, "rawserver: listening on ws://%s/ (pid %d)\n", s.Addr(), os.Getpid())
	if ready != nil {
		ready(s.Addr())
	}
	<-ctx.Done()
	return s.Close()
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

func joinPIDs(pids []int) string {
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ",")
}

// startCPUProfile profiles the load tool itself, to see where its own CPU
// per operation goes; the returned function ends the profile.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}
