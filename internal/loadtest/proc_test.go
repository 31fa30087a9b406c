//go:build linux

package loadtest

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// startChild starts a real child process (sh) that forks a grandchild
// (sleep) and returns the child's pid and the grandchild's, once the
// grandchild exists.
func startChild(t *testing.T) (child, grandchild int) {
	t.Helper()
	// "; :" keeps sh from exec'ing sleep, so sleep is sh's child.
	cmd := exec.Command("sh", "-c", "sleep 60; :")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	child = cmd.Process.Pid
	if err := waitFor(t.Context(), 10*time.Second, func() bool {
		kids, err := childrenOf(child)
		if err != nil || len(kids) == 0 {
			return false
		}
		grandchild = kids[0]
		return true
	}); err != nil {
		t.Fatalf("sh %d never started sleep: %v", child, err)
	}
	t.Cleanup(func() {
		if p, err := os.FindProcess(grandchild); err == nil {
			_ = p.Kill()
		}
	})
	return child, grandchild
}

// The worker child processes of "switchboard start" are descendants of the
// gateway's process: WithDescendants finds children and grandchildren, each
// once, the given pids first.
func TestWithDescendants(t *testing.T) {
	child, grandchild := startChild(t)
	self := os.Getpid()
	got, err := WithDescendants([]int{self, child})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != self || got[1] != child || !slices.Contains(got, grandchild) {
		t.Fatalf("WithDescendants(%d, %d) = %v, want them first and %d in it", self, child, got, grandchild)
	}
	seen := map[int]bool{}
	for _, p := range got {
		if seen[p] {
			t.Fatalf("pid %d twice in %v", p, got)
		}
		seen[p] = true
	}
	if _, err := WithDescendants([]int{1 << 30}); err == nil {
		t.Fatal("a pid that does not exist was accepted")
	}
}

// cpuOf reads another process's CPU clock at nanosecond resolution, within
// the clock ticks of /proc/PID/stat, and cpuOfAll sums the processes.
func TestCPUOfOtherProcess(t *testing.T) {
	// A child that burns about 200 ms of CPU, then waits on its stdin.
	cmd := exec.Command("sh", "-c", `i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; echo done; read x`)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	buf := make([]byte, 5)
	if _, err := out.Read(buf); err != nil || !strings.HasPrefix(string(buf), "done") {
		t.Fatalf("child: %q %v", buf, err)
	}
	pid := cmd.Process.Pid
	clock, err := cpuOf(pid)
	if err != nil {
		t.Fatal(err)
	}
	stat, err := cpuOfStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	if clock <= 0 {
		t.Fatalf("pid %d: CPU clock %v after its loop", pid, clock)
	}
	if d := clock - stat; d < -2*clockTick || d > 2*clockTick {
		t.Fatalf("pid %d: CPU clock %v, /proc stat %v: more than two ticks apart", pid, clock, stat)
	}
	self, err := cpuOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	sum, err := cpuOfAll([]int{pid, os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	if sum < clock+self {
		t.Fatalf("cpuOfAll = %v, less than %v + %v", sum, clock, self)
	}
	if _, err := cpuOf(1 << 30); err == nil {
		t.Fatal("CPU of a pid that does not exist: no error")
	}
}
