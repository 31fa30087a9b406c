// Command frozenworker is the echo worker that TestFrozenWorker runs as a
// process (so that it can be frozen with SIGSTOP). It echoes every
// message and counts the handler calls that started after their event's
// deadline. On SIGTERM it drains and prints
// "stats handled=N stale_skipped=N late=N" on stderr.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-go/switchboard/worker"
)

type echo struct{ late atomic.Uint64 }

func (e *echo) OnMessage(c *worker.Context, m worker.Message) error {
	// Deadlines have millisecond resolution: compare in milliseconds.
	if dl, ok := c.EventDeadline(); ok && time.Now().UnixMilli() > dl.UnixMilli() {
		e.late.Add(1)
		fmt.Fprintf(os.Stderr, "late: a handler started %v after its deadline\n", time.Since(dl))
	}
	return c.SendToCurrentClient(m.Data)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: frozenworker <nats url>")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "frozenworker:", err)
		os.Exit(1)
	}
}

func run(url string) error {
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond),
		nats.ReconnectJitter(0, 0), nats.Name("frozenworker"),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			fmt.Fprintf(os.Stderr, "frozenworker: nats disconnected at %s: %v\n", time.Now().Format("15:04:05.000"), err)
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			fmt.Fprintf(os.Stderr, "frozenworker: nats reconnected at %s\n", time.Now().Format("15:04:05.000"))
		}))
	if err != nil {
		return fmt.Errorf("connect %s: %w", url, err)
	}
	defer nc.Close()
	h := &echo{}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// One machine, one clock: no skew allowed.
	w, err := worker.New(nc, h, worker.Logger(log), worker.DeadlineSkew(0))
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	if err := w.Start(context.Background()); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "frozenworker: ready id=%s\n", w.ID())
	go watchBusy(w)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = w.Stop(ctx)
	fmt.Fprintf(os.Stderr, "stats handled=%d stale_skipped=%d late=%d dropped=%d held_run=%d\n",
		w.Handled(), w.StaleSkipped(), h.late.Load(), w.Dropped(), w.HeldRun())
	return err
}

// watchBusy prints every change of the worker's busy state (what its
// heartbeats say), with the time, for the test's log.
func watchBusy(w *worker.Worker) {
	busy := false
	for range time.Tick(50 * time.Millisecond) {
		if b := w.Busy(); b != busy {
			busy = b
			fmt.Fprintf(os.Stderr, "frozenworker: busy=%v at %s\n", b, time.Now().Format("15:04:05.000"))
		}
	}
}
