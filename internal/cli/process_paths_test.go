package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/switchboard-go/switchboard/internal/config"
	"github.com/switchboard-go/switchboard/internal/sbtest"
)

// TestProcessPathsNextToConfig: relative process.pid_file and
// process.log_file (from the file or from SB_ variables) are resolved
// against the configuration file's directory, not the working directory;
// absolute paths stay; without a configuration file they stay relative.
func TestProcessPathsNextToConfig(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "conf")
	if err := os.Mkdir(conf, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(conf, "app.yaml")
	if err := os.WriteFile(file, []byte("process:\n  pid_file: run/app.pid\n  log_file: /var/tmp/app.log\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(conf, "run", "app.pid"); cfg.Process.PIDFile != want {
		t.Fatalf("pid_file = %q, want %q", cfg.Process.PIDFile, want)
	}
	if cfg.Process.LogFile != "/var/tmp/app.log" {
		t.Fatalf("absolute log_file changed to %q", cfg.Process.LogFile)
	}

	// A relative path to the file resolves the same way.
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, file)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SB_PROCESS_LOG_FILE", "logs/app.log")
	cfg, err = config.Load(rel)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(conf, "logs", "app.log"); cfg.Process.LogFile != want {
		t.Fatalf("log_file from SB_PROCESS_LOG_FILE = %q, want %q", cfg.Process.LogFile, want)
	}

	cfg, err = config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Process.PIDFile != "switchboard.pid" {
		t.Fatalf("without a configuration file pid_file = %q, want the relative default", cfg.Process.PIDFile)
	}
}

// TestCLIStopFromAnotherDirectory starts a node in the background from one
// directory with a configuration file whose pid and log paths are
// relative, then runs stop from another directory with the same file:
// stop finds the node. Before the fix: "not running: open sb.pid: no such
// file or directory".
func TestCLIStopFromAnotherDirectory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	base := t.TempDir()
	here, there := filepath.Join(base, "here"), filepath.Join(base, "there")
	for _, d := range []string{here, there} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(here, "app.yaml")
	body := fmt.Sprintf("nats:\n  port: %d\ngateway:\n  listen: [ws://127.0.0.1:%d]\nworker:\n  processes: 0\n  stop_timeout: 10s\nprocess:\n  pid_file: sb.pid\n  log_file: sb.log\n",
		sbtest.FreePort(t), sbtest.FreePort(t))
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	start := cliEnv{t: t, bin: bin, dir: here}
	start.must("start", "-d", "-c", "app.yaml")
	var pid int
	if b, err := os.ReadFile(filepath.Join(here, "sb.pid")); err != nil {
		t.Fatalf("pid file next to the configuration: %v\n%s", err, start.log())
	} else {
		fmt.Sscan(string(b), &pid)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })

	elsewhere := cliEnv{t: t, bin: bin, dir: there}
	confThere := filepath.Join("..", "here", "app.yaml")
	var st ClusterStatus
	if out := elsewhere.must("status", "--json", "-c", confThere); json.Unmarshal([]byte(out), &st) != nil || len(st.Gateways) != 1 {
		t.Fatalf("status from another directory:\n%s", out)
	}
	out := elsewhere.must("stop", "-c", confThere)
	if !strings.Contains(out, fmt.Sprintf("stopped pid %d", pid)) {
		t.Fatalf("stop from another directory: %s", out)
	}
	if alive(pid) {
		t.Fatalf("pid %d still runs after stop", pid)
	}
	if _, err := os.Stat(filepath.Join(there, "sb.pid")); !os.IsNotExist(err) {
		t.Fatalf("a pid file appeared in the other directory: %v", err)
	}
}
