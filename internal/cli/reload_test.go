package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/internal/sbtest"
)

// TestCLIReloadMovesInProcessWorkerToChild starts the stock binary with
// the default configuration (worker.processes 0: the worker runs in the
// main process, no child) while chat clients stream messages. A reload
// with a binary on disk that cannot start keeps the in-process worker.
// Then, the binary restored, it runs "reload" and checks that a worker child process of the binary on disk
// takes over: status lists it (and no longer the in-process worker), it
// is a child of the main process, the main process's worker stops
// handling while the clients' messages keep coming back, no client is
// disconnected and every message comes back once, in order. "stop" then
// ends both processes.
func TestCLIReloadMovesInProcessWorkerToChild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	e, dir, wsPort, metricsPort := daemonEnv(t, "SB_WORKER_STOP_TIMEOUT=10s")
	if v, ok := os.LookupEnv("SB_WORKER_PROCESSES"); ok {
		t.Skipf("SB_WORKER_PROCESSES=%s in the environment: this test is about the default", v)
	}
	mainPID := e.startDetached(t, dir)

	// Before the reload: the worker runs in the main process, which has
	// no child.
	st := e.status()
	if len(st.Gateways) != 1 || len(st.Workers) != 1 {
		t.Fatalf("status: %d gateways, %d workers; want 1 and 1\n%s", len(st.Gateways), len(st.Workers), e.log())
	}
	if w := st.Workers[0]; w.PID != mainPID || !w.InGatewayProcess {
		t.Fatalf("status before reload: worker %+v, want pid %d in the gateway's process", w, mainPID)
	}
	if kids := childPIDs(t, mainPID); len(kids) != 0 {
		t.Fatalf("the main process has children %v before any reload, want none (worker.processes 0)", kids)
	}
	if out := e.must("status"); !strings.Contains(out, "gateway's") || !strings.Contains(out, "1 of the workers run in a gateway's process") {
		t.Fatalf("status does not say the worker runs in the gateway's process:\n%s", out)
	}

	const streamers = 4
	ss := make([]*streamer, streamers)
	for k := range ss {
		ss[k] = dialStreamer(t, e, wsPort, k)
		ss[k].credit = make(chan struct{}, 64) // a bounded backlog: finish returns soon after stop
	}
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	before := gatewayCounters(t, metricsURL)
	for _, s := range ss {
		s.run()
	}
	for _, s := range ss { // mid-stream: every streamer's first message came back
		sbtest.Eventually(t, 20*time.Second, s.id+"'s first message back", func() bool { return s.got.Load() > 0 })
	}
	if handled := workerHandled(t, metricsURL); handled == 0 {
		t.Fatalf("the in-process worker handled nothing while the streamers' messages came back\n%s", e.log())
	}

	// A binary on disk that cannot start a worker: the reload fails, the
	// worker in the main process keeps handling, no child is left (none
	// restarted behind the error), status still says the gateway's process.
	good := e.bin + ".good"
	if err := os.Link(e.bin, good); err != nil {
		t.Fatal(err)
	}
	broken := e.bin + ".broken"
	if err := os.WriteFile(broken, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(broken, e.bin); err != nil {
		t.Fatal(err)
	}
	onDisk := e
	onDisk.bin = good // the commands run from the good copy meanwhile
	onDisk.must("reload")
	sbtest.Eventually(t, 40*time.Second, "the failed reload's log line", func() bool {
		return strings.Contains(e.log(), "reload failed")
	})
	if !strings.Contains(e.log(), "the worker in this process keeps running") {
		t.Fatalf("the failed reload does not say the in-process worker keeps running:\n%s", e.log())
	}
	if kids := childPIDs(t, mainPID); len(kids) != 0 {
		t.Fatalf("after a failed reload the main process has children %v, want none", kids)
	}
	for _, s := range ss {
		mark := s.got.Load()
		sbtest.Eventually(t, 20*time.Second, s.id+"'s messages back after the failed reload", func() bool { return s.got.Load() > mark+10 })
	}
	if st := onDisk.status(); len(st.Workers) != 1 || st.Workers[0].PID != mainPID || !st.Workers[0].InGatewayProcess {
		t.Fatalf("status after the failed reload: workers %+v, want the in-process one alone", st.Workers)
	}
	if err := os.Rename(good, e.bin); err != nil {
		t.Fatal(err)
	}

	e.must("reload")
	// The reload returns once signalled; the move ends when the child is
	// ready and the in-process worker has drained: status then lists the
	// child alone.
	var child int
	sbtest.Eventually(t, 30*time.Second, "status to list the worker child alone", func() bool {
		st = e.status()
		if len(st.Workers) != 1 || st.Workers[0].PID == mainPID || st.Workers[0].InGatewayProcess {
			return false
		}
		child = st.Workers[0].PID
		return true
	})
	if kids := childPIDs(t, mainPID); !slices.Contains(kids, child) {
		t.Fatalf("status lists worker pid %d, but the main process's children are %v", child, kids)
	}
	if out := e.must("status"); strings.Contains(out, "gateway's") {
		t.Fatalf("status after the move still says a worker runs in the gateway's process:\n%s", out)
	}
	sbtest.Eventually(t, 20*time.Second, "the log line of the move", func() bool {
		return strings.Contains(e.log(), "reload: the worker role moved to a child process")
	})
	// From now on the child handles every message: the main process's
	// count stays while each streamer gets more messages back.
	frozen := workerHandled(t, metricsURL)
	for _, s := range ss {
		mark := s.got.Load()
		sbtest.Eventually(t, 20*time.Second, s.id+"'s messages back after the move", func() bool { return s.got.Load() > mark+10 })
	}
	if now := workerHandled(t, metricsURL); now != frozen {
		t.Fatalf("the in-process worker handled %v events after it was replaced (was %v)", now, frozen)
	}
	sbtest.Eventually(t, 20*time.Second, "the child's heartbeat to count handled events", func() bool {
		st = e.status()
		return len(st.Workers) == 1 && st.Workers[0].PID == child && st.Workers[0].Handled > 0
	})

	for _, s := range ss {
		close(s.stop)
	}
	sent := 0
	for _, s := range ss {
		sent += s.finish() + 1 // and its "end"; finish fails on a disconnect or a lost message
	}
	var after map[string]float64
	for end := time.Now().Add(5 * time.Second); ; {
		after = gatewayCounters(t, metricsURL)
		if int(handedOn(after)-handedOn(before)) >= sent || time.Now().After(end) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Each message went to a worker once: published to NATS, or run by
	// the worker in the gateway's process (the in-process path, before
	// the move).
	if got := handedOn(after) - handedOn(before); got != float64(sent) {
		t.Errorf("across the reload: events published or run in-process grew by %v, want %v\n%s", got, sent, e.log())
	}
	for name, want := range map[string]float64{"events_redelivered_total": 0, "events_dropped_total": 0} {
		if got := after[name] - before[name]; got != want {
			t.Errorf("across the reload: %s grew by %v, want %v (%d messages sent)\n%s", name, got, want, sent, e.log())
		}
	}

	// A second reload replaces the child as with worker.processes 1.
	e.must("reload")
	sbtest.Eventually(t, 30*time.Second, "a second reload to replace the child", func() bool {
		st = e.status()
		return len(st.Workers) == 1 && st.Workers[0].PID != child && st.Workers[0].PID != mainPID && !alive(child)
	})
	second := st.Workers[0].PID

	e.must("stop")
	for _, pid := range []int{mainPID, second} {
		if alive(pid) {
			t.Fatalf("process %d still runs after stop", pid)
		}
	}
	log := e.log()
	for _, want := range []string{"msg=stopping process=supervisor", "msg=stopping process=worker-child"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log has no %q line:\n%s", want, log)
		}
	}
	if strings.Contains(log, "worker process died") {
		t.Errorf("a worker process was restarted (the one of the failed reload?):\n%s", log)
	}
}

// childPIDs lists the child processes of pid (Linux: /proc).
func childPIDs(t *testing.T, pid int) []int {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil || len(tasks) == 0 {
		t.Skipf("no /proc/%d/task/*/children: %v", pid, err)
	}
	var out []int
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // a thread that ended
		}
		for _, field := range strings.Fields(string(b)) {
			if p, err := strconv.Atoi(field); err == nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// workerHandled is the sum of switchboard_worker_events_total: the events
// the worker role of the scraped process handled.
func workerHandled(t *testing.T, url string) float64 {
	t.Helper()
	sum := 0.0
	for _, l := range strings.Split(sbtest.Scrape(t, url), "\n") {
		name, v, ok := strings.Cut(l, " ")
		if ok && strings.HasPrefix(name, "switchboard_worker_events_total") {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				sum += f
			}
		}
	}
	return sum
}

// handedOn is how many events the gateway handed to workers: published,
// or run by the worker in its process (the in-process path).
func handedOn(counters map[string]float64) float64 {
	return counters["events_published_total"] + counters["events_local_total"]
}
