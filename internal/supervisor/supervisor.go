// Package supervisor runs the worker role of a Switchboard process in
// child processes of the binary on disk, restarts them when they die and
// replaces them on reload, as GatewayWorker's master does.
package supervisor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Environment variables between a supervisor and its worker children.
const (
	envWorkerChild = "SB_WORKER_CHILD" // "1" in a worker child process
	envReadyFD     = "SB_READY_FD"     // file descriptor the child writes "ready" to
)

// IsWorkerChild reports whether this process is a worker child started by
// a Supervisor.
func IsWorkerChild() bool { return os.Getenv(envWorkerChild) == "1" }

// Supervisor runs the worker role in child processes of the binary on
// disk, as GatewayWorker's master does. Reload starts a new child from the
// binary on disk now, waits until it takes events, then drains the old one:
// no client is disconnected and no event lost.
type Supervisor struct {
	exe     string   // the binary, resolved when the process started
	args    []string // arguments of a worker child
	n       int
	stopTTL time.Duration
	log     *slog.Logger

	mu       sync.Mutex
	children map[*child]bool
	stopping bool
	started  bool // Start succeeded: the children are this process's worker role
}

type child struct {
	cmd  *exec.Cmd
	done chan struct{}
	// decided is closed once spawn knows whether the child became ready
	// or was abandoned: watch waits for it before restarting a dead one.
	decided chan struct{}
}

// New returns a supervisor of n children running exe with args; a child
// being retired gets stopTTL to drain before SIGKILL.
func New(exe string, args []string, n int, stopTTL time.Duration, log *slog.Logger) *Supervisor {
	return &Supervisor{exe: exe, args: args, n: n, stopTTL: stopTTL, log: log, children: map[*child]bool{}}
}

// AddArgs appends arguments to every child's command line (the node adds
// the NATS URL and the prefix the children connect with).
func (s *Supervisor) AddArgs(args ...string) { s.args = append(s.args, args...) }

// Start starts the children and waits until each takes events. A node
// running the worker role in its own process (worker.processes 0) calls
// it at its first reload, to move the role to the child.
func (s *Supervisor) Start() error {
	for range s.n {
		if _, err := s.spawn(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.started = true
	s.mu.Unlock()
	return nil
}

// errStopping is spawn's answer once Stop has begun.
var errStopping = errors.New("worker processes are stopping")

// spawn starts one child and waits for its "ready"; once Stop has begun
// it kills the child it started and returns errStopping.
func (s *Supervisor) spawn() (*child, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cmd := exec.Command(s.exe, s.args...)
	cmd.Env = append(os.Environ(), envWorkerChild+"=1", envReadyFD+"=3")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{w}
	// A worker child must not outlive its supervisor, even a killed one;
	// in a process group of its own, a Ctrl-C at the terminal reaches only
	// the supervisor, which stops the children in order (gateway first).
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("start worker process %s: %w", s.exe, err)
	}
	w.Close()
	c := &child{cmd: cmd, done: make(chan struct{}), decided: make(chan struct{})}
	s.mu.Lock()
	stopping := s.stopping
	if !stopping {
		s.children[c] = true
	}
	s.mu.Unlock()
	go s.watch(c)
	if stopping { // Stop has taken its list of children: this one would outlive it
		s.abandon(c)
		return nil, errStopping
	}

	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		if err != nil || line != "ready\n" {
			ready <- fmt.Errorf("worker process %d ended before it was ready", cmd.Process.Pid)
			return
		}
		ready <- nil
	}()
	select {
	case err := <-ready:
		if err != nil {
			s.abandon(c)
			return nil, err
		}
	case <-time.After(30 * time.Second):
		s.abandon(c)
		return nil, fmt.Errorf("worker process %d not ready after 30s", cmd.Process.Pid)
	}
	close(c.decided)
	s.log.Info("worker process ready", "pid", cmd.Process.Pid)
	return c, nil
}

// watch waits for a child and starts a replacement if it died on its own.
func (s *Supervisor) watch(c *child) {
	err := c.cmd.Wait()
	close(c.done)
	<-c.decided // one that never became ready is spawn's to report (abandon)
	s.mu.Lock()
	expected := !s.children[c] || s.stopping
	delete(s.children, c)
	s.mu.Unlock()
	if expected {
		return
	}
	s.log.Error("worker process died, starting another", "pid", c.cmd.Process.Pid, "err", err)
	time.Sleep(time.Second)
	if _, err := s.spawn(); err != nil && !errors.Is(err, errStopping) {
		s.log.Error("restart worker process", "err", err)
	}
}

// Reload replaces every child, one at a time: the new one is ready before
// the old one drains.
func (s *Supervisor) Reload() error {
	s.mu.Lock()
	old := make([]*child, 0, len(s.children))
	for c := range s.children {
		old = append(old, c)
	}
	s.mu.Unlock()
	for _, c := range old {
		if _, err := s.spawn(); err != nil {
			return fmt.Errorf("reload: %w (the old worker keeps running)", err)
		}
		s.retire(c)
	}
	return nil
}

// retire drains one child: SIGTERM, then SIGKILL after the stop timeout.
func (s *Supervisor) retire(c *child) {
	s.mu.Lock()
	delete(s.children, c)
	s.mu.Unlock()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(s.stopTTL):
		s.kill(c)
	}
}

// abandon kills a child that never became ready. Its end is expected:
// watch does not start another (whoever called spawn reports the error;
// a reload keeps the worker that runs).
func (s *Supervisor) abandon(c *child) {
	s.mu.Lock()
	delete(s.children, c)
	s.mu.Unlock()
	s.kill(c)
	close(c.decided)
}

// Started reports whether Start succeeded.
func (s *Supervisor) Started() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started
}

func (s *Supervisor) kill(c *child) {
	_ = c.cmd.Process.Kill()
	<-c.done
}

// Stop drains every child.
func (s *Supervisor) Stop(ctx context.Context) error {
	s.mu.Lock()
	s.stopping = true
	all := make([]*child, 0, len(s.children))
	for c := range s.children {
		all = append(all, c)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range all {
		wg.Add(1)
		go func() { defer wg.Done(); s.retire(c) }()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return errors.New("worker processes did not stop in time")
	}
}

// SignalReady tells a supervising parent that this worker child takes
// events.
func SignalReady() {
	if os.Getenv(envReadyFD) != "3" {
		return
	}
	f := os.NewFile(3, "ready")
	_, _ = f.WriteString("ready\n")
	_ = f.Close()
}
