package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
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
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/switchboard").CombinedOutput()
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
	e, dir, wsPort, metricsPort := daemonEnv(t, "SB_WORKER_PROCESSES=1", "SB_WORKER_STOP_TIMEOUT=10s")
	mainPID := e.startDetached(t, dir)

	st := e.status()
	if len(st.Gateways) != 1 || len(st.Workers) != 1 {
		t.Fatalf("status: %d gateways, %d workers; want 1 and 1\n%s", len(st.Gateways), len(st.Workers), e.log())
	}
	oldWorker := st.Workers[0].PID
	// A second start with the same pid file refuses before it starts a role.
	if out, err := e.run("start"); err == nil || !strings.Contains(out, fmt.Sprintf("already running with pid %d", mainPID)) {
		t.Fatalf("a second start: %v, want 'already running with pid %d'\n%s", err, mainPID, out)
	}

	// Streamers, each in a room of its own, send "say" frames as fast as
	// the gateway takes them while the worker process is replaced, so that
	// events are in the old worker's hands when it is retired.
	const streamers = 4
	ss := make([]*streamer, streamers)
	for k := range ss {
		ss[k] = dialStreamer(t, e, wsPort, k)
	}
	if out := e.must("connections"); !strings.Contains(out, ss[0].id) {
		t.Fatalf("connections does not list %s:\n%s", ss[0].id, out)
	}
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	before := gatewayCounters(t, metricsURL)
	for _, s := range ss {
		s.run()
	}
	for _, s := range ss { // mid-stream: every streamer's first message came back
		sbtest.Eventually(t, 20*time.Second, s.id+"'s first message back", func() bool { return s.got.Load() > 0 })
	}
	e.must("reload")
	sbtest.Eventually(t, 20*time.Second, "the old worker process to end", func() bool { return !alive(oldWorker) })
	for _, s := range ss {
		close(s.stop)
	}
	sent := 0
	for _, s := range ss {
		sent += s.finish() + 1 // and its "end"
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st = e.status()
		if len(st.Workers) == 1 && st.Workers[0].PID != oldWorker {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after reload the workers are %+v, want one new process\n%s", st.Workers, e.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Every message was published once: none waited for a worker (a new
	// one not ready yet) and none was redelivered (an old one killed with
	// events in hand). The gateway counts a publish just after making it,
	// so the count may lag the last reply by a moment.
	var after map[string]float64
	for end := time.Now().Add(5 * time.Second); ; {
		after = gatewayCounters(t, metricsURL)
		if int(after["events_published_total"]-before["events_published_total"]) >= sent || time.Now().After(end) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for name, want := range map[string]float64{"events_published_total": float64(sent), "events_redelivered_total": 0, "events_dropped_total": 0} {
		if got := after[name] - before[name]; got != want {
			t.Errorf("across the reload: %s grew by %v, want %v (%d messages sent)\n%s", name, got, want, sent, e.log())
		}
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

// streamer is a chat client in a room of its own that sends numbered
// "say" frames until stop is closed, then a frame of an unknown type
// whose error answer ends its reader; the reader checks that the says
// come back each once and in order.
type streamer struct {
	t    *testing.T
	e    cliEnv
	conn net.Conn
	id   string
	got  atomic.Int64 // says read back so far
	stop chan struct{}
	sent chan int
	done chan error // the reader's end
	// credit, when not nil, bounds the says in flight to its capacity:
	// the sender puts one in before each say, the reader takes one out
	// per say back. Nil: as fast as the gateway takes them.
	credit chan struct{}
}

func dialStreamer(t *testing.T, e cliEnv, port, k int) *streamer {
	t.Helper()
	conn, _, _, err := ws.Dial(context.Background(), fmt.Sprintf("ws://127.0.0.1:%d/ws", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	s := &streamer{t: t, e: e, conn: conn, stop: make(chan struct{}), sent: make(chan int, 1), done: make(chan error, 1)}
	if err := s.send(chat.Frame{Type: "login", Name: fmt.Sprintf("streamer%d", k), Room: fmt.Sprintf("room%d", k)}); err != nil {
		t.Fatal(err)
	}
	f, err := s.next()
	if err != nil || f.Type != "welcome" {
		t.Fatalf("login: got %+v, %v; want a welcome\n%s", f, err, e.log())
	}
	s.id = f.ClientID
	return s
}

// send fails after 20 s without the gateway taking the frame (as next
// does without one to read), so that finish never waits on a frozen peer.
func (s *streamer) send(f chat.Frame) error {
	b, _ := json.Marshal(f)
	_ = s.conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
	return wsutil.WriteClientText(s.conn, b)
}

func (s *streamer) next() (chat.Frame, error) {
	var f chat.Frame
	_ = s.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	b, err := wsutil.ReadServerText(s.conn)
	if err == nil {
		err = json.Unmarshal(b, &f)
	}
	return f, err
}

// run sends and reads in goroutines of its own.
func (s *streamer) run() {
	go func() {
		for i := 0; ; i++ {
			stopped := false
			if s.credit != nil {
				select {
				case s.credit <- struct{}{}:
				case <-s.stop:
					stopped = true
				}
			}
			if !stopped {
				select {
				case <-s.stop:
					stopped = true
				default:
				}
			}
			if stopped {
				s.sent <- i
				_ = s.send(chat.Frame{Type: "end"})
				return
			}
			if err := s.send(chat.Frame{Type: "say", Text: fmt.Sprint(i)}); err != nil {
				s.sent <- i
				return
			}
		}
	}()
	go func() {
		for {
			f, err := s.next()
			switch {
			case err != nil:
				s.done <- fmt.Errorf("read after %d says: %w", s.got.Load(), err)
				return
			case f.Type == "error": // the answer to "end"
				s.done <- nil
				return
			case f.Type != "say":
			case f.Text != fmt.Sprint(s.got.Load()):
				s.done <- fmt.Errorf("message %d came back as %q: lost, repeated or reordered", s.got.Load(), f.Text)
				return
			default:
				s.got.Add(1)
				if s.credit != nil {
					<-s.credit
				}
			}
		}
	}()
}

// finish waits for the sender, once stop is closed, and the reader; it
// returns the number of says sent, each of which came back.
func (s *streamer) finish() int {
	s.t.Helper()
	n := <-s.sent
	if err := <-s.done; err != nil {
		s.t.Fatalf("%s: %v\n%s", s.id, err, s.e.log())
	}
	if got := s.got.Load(); got != int64(n) {
		s.t.Fatalf("%s: %d says sent, %d came back", s.id, n, got)
	}
	return n
}

// gatewayCounters scrapes the switchboard_gateway_* counters.
func gatewayCounters(t *testing.T, url string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, l := range strings.Split(sbtest.Scrape(t, url), "\n") {
		name, v, ok := strings.Cut(l, " ")
		if name, found := strings.CutPrefix(name, "switchboard_gateway_"); ok && found {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				out[name] = f
			}
		}
	}
	return out
}

// startDetached runs "start -d" and returns the main process's pid (from
// dir's sb.pid), killed at cleanup if the test left it running.
func (e cliEnv) startDetached(t *testing.T, dir string) int {
	t.Helper()
	e.must("start", "-d")
	pidBytes, err := os.ReadFile(filepath.Join(dir, "sb.pid"))
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscan(string(pidBytes), &pid)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	return pid
}

// daemonEnv is the environment of a test that runs the binary as a
// daemon on free ports: its directory (pid and log files there), the
// gateway's and the metrics server's ports, and the extra settings given.
func daemonEnv(t *testing.T, extra ...string) (e cliEnv, dir string, wsPort, metricsPort int) {
	t.Helper()
	natsPort, wsPort, metricsPort := sbtest.FreePort(t), sbtest.FreePort(t), sbtest.FreePort(t)
	dir = t.TempDir()
	env := []string{
		"SB_PROCESS_PID_FILE=" + filepath.Join(dir, "sb.pid"),
		"SB_PROCESS_LOG_FILE=" + filepath.Join(dir, "sb.log"),
		fmt.Sprintf("SB_NATS_PORT=%d", natsPort),
		fmt.Sprintf("SB_GATEWAY_LISTEN=ws://127.0.0.1:%d", wsPort),
		fmt.Sprintf("SB_METRICS_LISTEN=127.0.0.1:%d", metricsPort),
	}
	return cliEnv{t: t, bin: buildBinary(t), dir: dir, env: append(env, extra...)}, dir, wsPort, metricsPort
}
