package supervisor

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// TestMain makes this test binary a worker child when a Supervisor starts
// it: ready at once, stopping at SIGTERM.
func TestMain(m *testing.M) {
	if IsWorkerChild() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		SignalReady()
		<-sig
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestNoChildStartsOnceStopping: a child spawned after Stop took its list
// (a dead child's replacement, started by watch a second after the death)
// is killed at once instead of running on unsupervised.
func TestNoChildStartsOnceStopping(t *testing.T) {
	s := New(os.Args[0], []string{"-test.run=^$"}, 1, 5*time.Second, slog.New(slog.DiscardHandler))
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := s.spawn()
	if c != nil {
		t.Cleanup(func() { s.kill(c) })
	}
	if !errors.Is(err, errStopping) {
		t.Fatalf("spawn after Stop: %v, want %v", err, errStopping)
	}
	s.mu.Lock()
	n := len(s.children)
	s.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d children after Stop, want 0", n)
	}
}
