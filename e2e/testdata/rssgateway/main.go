// Command rssgateway is the gateway that the RSS tests (rss_linux_test.go)
// run as a process of its own, so that the resident memory they read in
// /proc/<pid>/status is the gateway's alone: NATS, the workers and the
// attacking clients live in the test process. It listens on the URLs
// given by -listen, serves its counters (gateway.Stats as JSON) on
// http://<stats>/stats, prints one line
// "rssgateway: ready {"addrs":[...],"stats":"127.0.0.1:port"}" on stdout
// once it is ready, and shuts down on SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/gateway"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "rssgateway:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		natsURL        = flag.String("nats", "", "NATS URL")
		listen         = flag.String("listen", "ws://127.0.0.1:0", "listen URLs, comma-separated")
		cert           = flag.String("cert", "", "TLS certificate file (wss://)")
		key            = flag.String("key", "", "TLS key file (wss://)")
		netpoll        = flag.Bool("netpoll", true, "read ws:// sockets through epoll")
		compression    = flag.Bool("compression", false, "offer permessage-deflate")
		maxMessage     = flag.Int("max-message-bytes", 0, "max_message_bytes (0: default)")
		sendBuffer     = flag.Int("send-buffer-bytes", 0, "send_buffer_bytes (0: default)")
		pendingEvents  = flag.Int("max-pending-events", 0, "max_pending_events (0: default)")
		pendingBytes   = flag.Int("max-pending-bytes", 0, "max_pending_bytes (0: default)")
		groups         = flag.Int("max-groups-per-client", 0, "max_groups_per_client (0: default)")
		sessionBytes   = flag.Int("max-session-bytes", 0, "max_session_bytes (0: default)")
		msgReadTimeout = flag.Duration("message-read-timeout", 0, "message_read_timeout (0: default)")
		eventTimeout   = flag.Duration("event-timeout", 0, "event_timeout (0: default)")
	)
	flag.Parse()
	if *natsURL == "" {
		return errors.New("-nats is required")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts := []gateway.Option{
		gateway.Listen(strings.Split(*listen, ",")...),
		gateway.Logger(log),
		gateway.Netpoll(*netpoll),
		gateway.Compression(*compression),
	}
	if *cert != "" {
		opts = append(opts, gateway.TLSFiles(*cert, *key))
	}
	for _, o := range []struct {
		v   int
		opt func(int) gateway.Option
	}{
		{*maxMessage, gateway.MaxMessageBytes},
		{*sendBuffer, gateway.SendBufferBytes},
		{*pendingEvents, gateway.MaxPendingEvents},
		{*pendingBytes, gateway.MaxPendingBytes},
		{*groups, gateway.MaxGroupsPerClient},
		{*sessionBytes, gateway.MaxSessionBytes},
	} {
		if o.v != 0 {
			opts = append(opts, o.opt(o.v))
		}
	}
	if *msgReadTimeout != 0 {
		opts = append(opts, gateway.MessageReadTimeout(*msgReadTimeout))
	}
	if *eventTimeout != 0 {
		opts = append(opts, gateway.EventTimeout(*eventTimeout))
	}

	nc, err := nats.Connect(*natsURL, nats.Name("rssgateway"), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("connect %s: %w", *natsURL, err)
	}
	defer nc.Close()
	g, err := gateway.New(nc, opts...)
	if err != nil {
		return fmt.Errorf("new gateway: %w", err)
	}
	if err := g.Start(context.Background()); err != nil {
		return fmt.Errorf("start gateway: %w", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("stats listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(g.Stats()); err != nil {
			log.Warn("write stats", "err", err)
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	ready, err := json.Marshal(map[string]any{"addrs": g.Addrs(), "stats": ln.Addr().String()})
	if err != nil {
		return err
	}
	fmt.Printf("rssgateway: ready %s\n", ready)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	if err := g.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
