package switchboard

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/switchboard-go/switchboard/examples/chat"
	"github.com/switchboard-go/switchboard/internal/sbtest"
)

// cliEnv runs the stock binary as a user would, in its own directory and
// environment.
type cliEnv struct {
	t   *testing.T
	bin string
	env []string
	dir string
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "switchboard")
	out, err := exec.Command("go", "build", "-o", bin, "./cmd/switchboard").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func (e cliEnv) run(args ...string) (string, error) {
	cmd := exec.Command(e.bin, args...)
	cmd.Env = append(os.Environ(), e.env...)
	cmd.Dir = e.dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (e cliEnv) must(args ...string) string {
	e.t.Helper()
	out, err := e.run(args...)
	if err != nil {
		e.t.Fatalf("switchboard %s: %v\n%s\nlog:\n%s", strings.Join(args, " "), err, out, e.log())
	}
	return out
}

func (e cliEnv) log() string {
	b, _ := os.ReadFile(filepath.Join(e.dir, "sb.log"))
	return string(b)
}

func (e cliEnv) status() ClusterStatus {
	e.t.Helper()
	var st ClusterStatus
	out := e.must("status", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		e.t.Fatalf("status --json: %v\n%s", err, out)
	}
	return st
}

func TestCLIDaemonReloadStop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	natsPort, wsPort := sbtest.FreePort(t), sbtest.FreePort(t)
	dir := t.TempDir()
	e := cliEnv{t: t, bin: buildBinary(t), dir: dir, env: []string{
		"SB_PROCESS_PID_FILE=" + filepath.Join(dir, "sb.pid"),
		"SB_PROCESS_LOG_FILE=" + filepath.Join(dir, "sb.log"),
		fmt.Sprintf("SB_NATS_PORT=%d", natsPort),
		fmt.Sprintf("SB_GATEWAY_LISTEN=ws://127.0.0.1:%d", wsPort),
		"SB_WORKER_PROCESSES=1",
		"SB_WORKER_STOP_TIMEOUT=10s",
	}}
	e.must("start", "-d")
	pidBytes, err := os.ReadFile(filepath.Join(dir, "sb.pid"))
	if err != nil {
		t.Fatal(err)
	}
	var mainPID int
	fmt.Sscan(string(pidBytes), &mainPID)
	t.Cleanup(func() { _ = syscall.Kill(mainPID, syscall.SIGKILL) })

	st := e.status()
	if len(st.Gateways) != 1 || len(st.Workers) != 1 {
		t.Fatalf("status: %d gateways, %d workers; want 1 and 1\n%s", len(st.Gateways), len(st.Workers), e.log())
	}
	oldWorker := st.Workers[0].PID

	conn, _, _, err := ws.Dial(context.Background(), fmt.Sprintf("ws://127.0.0.1:%d/ws", wsPort))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	send := func(f chat.Frame) {
		b, _ := json.Marshal(f)
		if err := wsutil.WriteClientText(conn, b); err != nil {
			t.Error(err)
		}
	}
	next := func(typ string) chat.Frame {
		for {
			_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			b, err := wsutil.ReadServerText(conn)
			if err != nil {
				t.Fatalf("read: %v\n%s", err, e.log())
			}
			var f chat.Frame
			_ = json.Unmarshal(b, &f)
			if f.Type == typ {
				return f
			}
		}
	}
	send(chat.Frame{Type: "login", Name: "streamer"})
	me := next("welcome").ClientID
	if out := e.must("connections"); !strings.Contains(out, me) {
		t.Fatalf("connections does not list %s:\n%s", me, out)
	}

	// Stream while the worker process is replaced.
	const n = 400
	go func() {
		for i := range n {
			send(chat.Frame{Type: "say", Text: fmt.Sprint(i)})
			time.Sleep(2 * time.Millisecond)
		}
	}()
	time.Sleep(100 * time.Millisecond)
	e.must("reload")
	for i := range n {
		if f := next("say"); f.Text != fmt.Sprint(i) {
			t.Fatalf("message %d came back as %q: lost or reordered across the reload", i, f.Text)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st = e.status()
		if len(st.Workers) == 1 && st.Workers[0].PID != oldWorker {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after reload the workers are %+v, want one new process", st.Workers)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if alive(oldWorker) {
		t.Fatalf("the old worker process %d still runs", oldWorker)
	}
	newWorker := st.Workers[0].PID

	e.must("stop")
	if _, err := os.Stat(filepath.Join(dir, "sb.pid")); !os.IsNotExist(err) {
		t.Fatalf("pid file after stop: %v", err)
	}
	for _, pid := range []int{mainPID, newWorker} {
		if alive(pid) {
			t.Fatalf("process %d still runs after stop", pid)
		}
	}
	if _, err := e.run("stop"); err == nil {
		t.Fatal("stop with nothing running succeeded")
	}
	// Each stop line names its process; a clean stop warns of nothing.
	log := e.log()
	for _, want := range []string{"msg=stopping process=supervisor", "msg=stopping process=worker-child"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log has no %q line:\n%s", want, log)
		}
	}
	if strings.Contains(log, "nats disconnected") && strings.Contains(log, "err=<nil>") {
		t.Errorf("a clean stop logged a disconnect warning:\n%s", log)
	}
}
