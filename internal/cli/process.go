package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-go/switchboard/internal/config"
)

// envDaemonChild is set in the background process "start -d" starts.
const envDaemonChild = "SB_DAEMON_CHILD"

// pidFile is the file naming the running process, as GatewayWorker keeps.
type pidFile string

// free refuses when another live process holds the file.
func (p pidFile) free() error {
	if pid, err := p.running(); err == nil && pid != os.Getpid() {
		return fmt.Errorf("already running with pid %d (%s)", pid, p)
	}
	return nil
}

// acquire writes this process's pid, refusing when another live process
// holds the file.
func (p pidFile) acquire() error {
	if err := p.free(); err != nil {
		return err
	}
	if err := os.WriteFile(string(p), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	return nil
}

// release removes the file if it still names this process.
func (p pidFile) release() {
	if pid, err := p.read(); err == nil && pid == os.Getpid() {
		_ = os.Remove(string(p))
	}
}

func (p pidFile) read() (int, error) {
	b, err := os.ReadFile(string(p))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

// errNotRunning: the pid file names no live process.
var errNotRunning = errors.New("not running")

// running returns the pid of the live process named by the pid file.
func (p pidFile) running() (int, error) {
	pid, err := p.read()
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errNotRunning, err)
	}
	if !alive(pid) {
		return 0, fmt.Errorf("%w: pid %d from %s is gone", errNotRunning, pid, p)
	}
	return pid, nil
}

// daemonize starts this binary again in the background with the same
// arguments minus -d, its output going to the log file, and returns once
// the new process has written its pid file.
func daemonize(cfg config.Config, exe string) error {
	logf, err := os.OpenFile(cfg.Process.LogFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("%w: process.log_file: %v", config.ErrConfig, err)
	}
	defer logf.Close()
	args := slices.DeleteFunc(slices.Clone(os.Args[1:]), func(a string) bool {
		return a == "-d" || a == "--daemon" || a == "-d=true" || a == "--daemon=true"
	})
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), envDaemonChild+"=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start in the background: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	p := pidFile(cfg.Process.PIDFile)
	deadline := time.After(60 * time.Second)
	for {
		if pid, err := p.read(); err == nil && pid == cmd.Process.Pid {
			fmt.Printf("started in the background: pid %d, log %s\n", pid, cfg.Process.LogFile)
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("the background process exited (%v); see %s", err, cfg.Process.LogFile)
		case <-deadline:
			return fmt.Errorf("the background process did not start in 60s; see %s", cfg.Process.LogFile)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stopProcess sends SIGTERM and waits for the process to end; after the
// stop timeout it sends SIGKILL. A second "stop" while the first waits
// forces the process (it exits at a second signal).
func stopProcess(cfg config.Config) error {
	p := pidFile(cfg.Process.PIDFile)
	pid, err := p.running()
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("signal pid %d: %w", pid, err)
	}
	deadline := time.Now().Add(cfg.Worker.StopTimeout + 10*time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			_ = os.Remove(string(p))
			return fmt.Errorf("pid %d did not stop in time: killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Printf("stopped pid %d\n", pid)
	return nil
}

func signalProcess(cfg config.Config, sig syscall.Signal) (int, error) {
	pid, err := pidFile(cfg.Process.PIDFile).running()
	if err != nil {
		return 0, err
	}
	return pid, syscall.Kill(pid, sig)
}

func newProcessCommands(load func() (config.Config, error)) []*cobra.Command {
	stop := &cobra.Command{
		Use:   "stop",
		Short: "stop the running process gracefully (run it again to force)",
		RunE: func(*cobra.Command, []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			return stopProcess(cfg)
		},
	}
	reload := &cobra.Command{
		Use:   "reload",
		Short: "replace the worker processes (or the worker running in the process) with the binary on disk and reload TLS certificates; clients stay connected",
		RunE: func(*cobra.Command, []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			pid, err := signalProcess(cfg, syscall.SIGHUP)
			if err != nil {
				return err
			}
			fmt.Printf("reload signalled to pid %d\n", pid)
			return nil
		},
	}
	restart := &cobra.Command{
		Use:   "restart",
		Short: "stop the running process and start it again in the background",
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			if err := stopProcess(cfg); err != nil && !errors.Is(err, errNotRunning) {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			return daemonize(cfg, exe)
		},
	}
	return []*cobra.Command{stop, reload, restart}
}

// errForced ends a process stopped by a second signal.
var errForced = errors.New("forced stop")
